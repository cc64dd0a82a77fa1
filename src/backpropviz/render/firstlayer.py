"""What the first layer looks for: each unit's incoming weights drawn as an image, over epochs.

For image inputs (scikit-learn's 8 x 8 digits) row k of the first weight matrix has one weight
per pixel, so it is itself an image: the unit's pre-activation is that image's dot product with
the input. Columns are units (for a perceptron on digits, the ten classes: each class's
template), rows the epochs; one colour scale, symmetric around 0, holds for every thumbnail, so
the weights can be seen growing from their small start.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from .base import new_figure
from .fonts import use_language
from .probability import class_label, probability_cmap

MAX_UNITS = 16  # wider layers show their first units and say so
THUMB_INCH = 0.85


class FirstLayerDisplay:
    """Thumbnails ``images[e, k]`` (rows x cols) of unit k's weights after ``epochs[e]``.

    >>> d = FirstLayerDisplay.from_history(history)     # doctest: +SKIP
    >>> len(d.thumbnails_) == len(d.epochs) * min(d.images.shape[1], MAX_UNITS)   # doctest: +SKIP
    True
    """

    def __init__(self, images, epochs, *, unit_labels=None, total_units=None, title="", lang="en"):
        self.images = np.asarray(images, dtype=float)  # (E, units, rows, cols)
        self.epochs = [int(e) for e in epochs]
        units = self.images.shape[1]
        self.unit_labels = list(unit_labels) if unit_labels is not None else [str(k + 1) for k in range(units)]
        self.total_units = total_units or units
        self.title = title
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        E, K, r, c = self.images.shape
        return f"FirstLayerDisplay(epochs={self.epochs}, units={K}, image={r}x{c}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, epochs=None, *, lang=None, plot=True):
        """The first layer's weights after ``epochs`` (default: about six, from 0 to the end)."""
        from ..analysis.views import (check_epochs, final_epoch, first_layer_images, layers,
                                      snapshot_epochs)

        lang = resolve_lang(lang)
        n_epochs = final_epoch(history)
        epochs = snapshot_epochs(n_epochs) if epochs is None else check_epochs(epochs, n_epochs)
        images = first_layer_images(history, epochs)
        all_layers = layers(history.param_names)
        total = images.shape[1]
        per_class = len(all_layers) == 1 and total > 1  # no hidden layer: one output per class
        if per_class:
            labels = [class_label(name, lang) for name in (history.class_names or range(total))]
        else:
            labels = [t("hidden_unit", lang, unit=k + 1) for k in range(total)]
        rows, cols = images.shape[2:]
        title = t("firstlayer_title_classes" if per_class else "firstlayer_title_units", lang, rows=rows,
                  cols=cols, data=str(history.config.get("data", "")), model=str(history.config.get("model", "")))
        display = cls(images[:, :MAX_UNITS], epochs, unit_labels=labels[:MAX_UNITS], total_units=total,
                      title=title, lang=lang)
        return display.plot() if plot else display

    def plot(self):
        """Draw the grid; keeps ``figure_``, ``axes_`` (E x units), ``thumbnails_``, ``colorbar_``
        and ``suptitle_``."""
        E, K = self.images.shape[:2]
        top = float(np.max(np.abs(self.images))) or 1.0
        with use_language(self.lang):
            fig = new_figure((THUMB_INCH * K + 2.2, THUMB_INCH * E + 1.3), layout="constrained")
            grid = fig.subplots(E, K, squeeze=False)
            self.thumbnails_ = []
            for e, epoch in enumerate(self.epochs):
                for k in range(K):
                    ax = grid[e, k]
                    image = ax.imshow(self.images[e, k], cmap=probability_cmap(), vmin=-top, vmax=top,
                                      interpolation="nearest")
                    self.thumbnails_.append(image)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if e == 0:
                        ax.set_title(self.unit_labels[k], fontsize=8, pad=3)
                grid[e, 0].set_ylabel(t("net_epoch", self.lang, epoch=epoch), fontsize=8)
            self.axes_ = grid
            self.colorbar_ = fig.colorbar(self.thumbnails_[-1], ax=grid.ravel().tolist(), shrink=0.8, pad=0.01,
                                          aspect=max(10, 8 * E))
            self.colorbar_.ax.tick_params(labelsize=7)
            self.colorbar_.set_label(t("firstlayer_colorbar", self.lang), fontsize=8)
            title = self.title
            if self.total_units > K:
                title += "\n" + t("hidden_more", self.lang, shown=K, total=self.total_units)
            self.suptitle_ = fig.suptitle(title, fontsize=11)
        self.figure_ = fig
        return self
