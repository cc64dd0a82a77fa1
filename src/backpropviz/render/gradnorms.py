"""Per-layer gradient norms over training: where vanishing (or exploding) gradients show.

Each layer's line is the Euclidean norm of its recorded gradient (weights and bias together)
on a log scale, coloured from light (the layer nearest the input) to dark (the output layer).
With several steps per epoch, the line is each epoch's mean and the shade the range of its
steps. A note above the legend (both under the axes, where they hide no line) gives the ratio of
the first layer's norm to the last layer's (median over the run): far below 1 means the early
layers hardly learn.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from . import palette
from .base import axes_or_new, epoch_axis, epoch_xaxis, legend_below, new_figure
from .fonts import use_language


def layer_colors(n: int) -> list:
    """Light (input side) to dark (output side), along the palette's ``layers`` map."""
    ramp = palette.cmap("layers")
    return [ramp(0.15 + 0.8 * k / max(n - 1, 1)) for k in range(n)]


def per_epoch(epoch: np.ndarray, values: np.ndarray):
    """(epochs, mean, min, max) of ``values`` (T, L) over the steps of each epoch."""
    epochs, start = np.unique(epoch, return_index=True)
    mean = np.add.reduceat(values, start, axis=0) / np.diff(np.r_[start, len(epoch)])[:, None]
    return epochs, mean, np.minimum.reduceat(values, start, axis=0), np.maximum.reduceat(values, start, axis=0)


class GradientNormDisplay:
    """One line per layer of gradient norm against epochs, log scale.

    >>> d = GradientNormDisplay.from_history(history)   # doctest: +SKIP
    >>> len(d.lines_) == len(d.layer_labels)            # doctest: +SKIP
    True
    """

    def __init__(self, epoch, norms, layer_labels, *, title="", note_ratio=True, lang="en"):
        self.epoch = np.asarray(epoch)
        self.norms = np.asarray(norms, dtype=float)  # (T, L)
        self.layer_labels = list(layer_labels)
        self.title = title
        self.note_ratio = note_ratio
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"GradientNormDisplay(steps={len(self.norms)}, layers={len(self.layer_labels)}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, *, title=None, lang=None, ax=None, plot=True):
        from ..analysis.views import gradient_norms, layers
        from .base import title_fields

        lang = resolve_lang(lang)
        ls = layers(history.param_names)
        labels = []
        for k, layer in enumerate(ls):
            label = t("grad_layer", lang, layer=k + 1, n_in=layer.n_in, n_out=layer.n_out)
            if len(ls) > 1 and k == 0:
                label += t("grad_input_side", lang)
            elif len(ls) > 1 and k == len(ls) - 1:
                label += t("grad_output_side", lang)
            labels.append(label)
        if title is None:
            _, fields = title_fields(history.config)
            data = fields.get("gate", fields.get("data", ""))
            # The activation matters only between layers; a single layer has none.
            title = (t("grad_title", lang, data=data, activation=str(history.config.get("activation", "")))
                     if len(ls) > 1 else t("grad_title_plain", lang, data=data))
        display = cls(history.epoch, gradient_norms(history), labels, title=title, lang=lang)
        return display.plot(ax=ax) if plot else display

    @property
    def ratio(self) -> float:
        """Median norm of the first layer over the median norm of the last."""
        last = float(np.median(self.norms[:, -1])) if len(self.norms) else 0.0
        return float(np.median(self.norms[:, 0])) / last if last > 0 else float("nan")

    @property
    def start_ratio(self) -> float:
        """The first layer's norm over the last's at the first step (before training moved)."""
        last = float(self.norms[0, -1]) if len(self.norms) else 0.0
        return float(self.norms[0, 0]) / last if last > 0 else float("nan")

    def plot(self, ax=None):
        """Draw on ``ax`` (or a new figure); keeps ``ax_``, ``figure_``, ``lines_`` (one per
        layer), ``bands_`` (per-epoch ranges, when epochs have several steps), ``legend_`` (under the
        axes) and ``note_`` (the legend's title: the first/last ratio, or None)."""
        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=(8, 5))
            colors = layer_colors(len(self.layer_labels))
            # log scale: a zero gradient (a dead ReLU layer) has no place on it; leave a gap.
            norms = np.where(self.norms > 0, self.norms, np.nan)
            self.lines_, self.bands_ = [], []
            several = len(self.epoch) > 0 and len(np.unique(self.epoch)) < len(self.epoch)
            if several:
                epochs, mean, low, high = per_epoch(self.epoch, self.norms)
                x = epochs + 0.5
                mean = np.where(mean > 0, mean, np.nan)
                low = np.where(low > 0, low, np.nan)
                for k, (label, color) in enumerate(zip(self.layer_labels, colors)):
                    self.bands_.append(ax.fill_between(x, low[:, k], high[:, k], color=color, alpha=0.18,
                                                       linewidth=0))
                    self.lines_.append(ax.plot(x, mean[:, k], color=color, linewidth=1.8, label=label)[0])
            else:
                x = epoch_axis(self.epoch)[:-1]
                for k, (label, color) in enumerate(zip(self.layer_labels, colors)):
                    self.lines_.append(ax.plot(x, norms[:, k], color=color, linewidth=1.8, label=label)[0])
            ax.set_yscale("log")
            if not ax.get_xlabel():
                ax.set_xlabel(t("epochs", self.lang))
            epoch_xaxis(ax, float(np.max(self.epoch)) + 1 if len(self.epoch) else 0.0)
            if not ax.get_ylabel():
                ax.set_ylabel(t("grad_ylabel", self.lang))
            if self.title and not ax.get_title():
                ax.set_title(self.title, fontsize=11)
            ax.grid(True, which="major", alpha=0.5)
            notes = []
            if self.note_ratio and len(self.layer_labels) > 1 and np.isfinite(self.ratio):
                notes.append(t("grad_ratio", self.lang, start=f"{self.start_ratio:.3g}",
                               median=f"{self.ratio:.3g}"))
            if several:
                notes.append(t("grad_smoothed", self.lang))
            # Under the axes: lines of dead or vanishing layers run along the bottom and the
            # top alike, so no place inside the axes is free for sure.
            self.legend_ = legend_below(ax, self.lines_, ncol=2 if len(self.lines_) > 3 else 1,
                                        title="\n".join(notes) or None)
            self.note_ = self.legend_.get_title() if notes else None
        self.ax_, self.figure_ = ax, ax.figure
        return self


class GradientNormComparison:
    """The gradient-norm view of several runs side by side, on one shared log scale."""

    def __init__(self, displays, labels, *, title="", lang="en"):
        self.displays = list(displays)
        self.labels = list(labels)
        self.title = title
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"GradientNormComparison(runs={self.labels}, lang={self.lang!r})"

    @classmethod
    def from_histories(cls, histories, labels, *, title="", lang=None, plot=True):
        lang = resolve_lang(lang)
        displays = [GradientNormDisplay.from_history(h, title=label, lang=lang, plot=False)
                    for h, label in zip(histories, labels)]
        display = cls(displays, labels, title=title, lang=lang)
        return display.plot() if plot else display

    def plot(self, figure=None):
        """One panel per run, y shared; keeps ``figure_`` and ``axes_``."""
        n = len(self.displays)
        ncols = min(n, 3)
        nrows = -(-n // ncols)
        with use_language(self.lang):
            fig = figure or new_figure((5.6 * ncols, 4.2 * nrows + 0.6), layout="constrained")
            grid = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
            for ax in grid.ravel()[n:]:
                ax.set_visible(False)
            self.axes_ = list(grid.ravel()[:n])
            for k, (ax, display) in enumerate(zip(self.axes_, self.displays)):
                display.plot(ax=ax)
                if k % ncols:
                    ax.set_ylabel("")
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=12)
        self.figure_ = fig
        return self
