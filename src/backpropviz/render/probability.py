"""The model's predicted probability over the input plane, as small multiples over the epochs.

Binary runs: a heat map of P(class 1) from blue (0) through white to orange (1), the 0.5
contour (the decision boundary) in black. Multi-class runs: each point of the plane takes the
colour of its predicted class, paler where the model is less sure, with the boundaries
between classes in black. The data are drawn on top: training points filled, test points
hollow.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang, t
from . import palette
from .base import new_figure
from .fonts import use_language

MARKERS = ["o", "^", "s", "D", "v", "P", "X", "*", "h", "<"]
PANEL_INCH = 3.3
ANIMATION_FIGSIZE = (8.0, 6.4)  # one panel, animated


def probability_cmap():
    """The palette's map for probabilities (and signed values): by default blue (probability 0)
    - white (0.5) - orange (1); cividis with ``--palette cvd``."""
    return palette.cmap("probability")


def class_color(k: int) -> str:
    """The colour of class ``k`` in the palette in use (the first two: the probability map's ends)."""
    colors = palette.colors("classes")
    return colors[k % len(colors)]


def class_label(name: str, lang: str) -> str:
    """A class's legend text: its own name, or 'class 0' for bare numbers."""
    return t("class_n", lang, name=name) if str(name).lstrip("-").isdigit() else str(name)


def class_phrase(name: str, lang: str) -> str:
    """A class named inside a sentence: 'class 1' for bare numbers, else its name in quotes."""
    return class_label(name, lang) if str(name).lstrip("-").isdigit() else t("class_quoted", lang, name=name)


def draw_points(ax, X, y, class_names, *, hollow=False, size=34, lang="en", label=True, suffix=True):
    """Scatter the points of each class in its colour and marker; returns the artists.

    ``hollow``: test points (white inside a ring of the class colour). ``suffix``: say
    "(train)" / "(test)" in the labels (only useful when both are drawn)."""
    artists = []
    for k, name in enumerate(class_names):
        mask = np.asarray(y) == k
        if not mask.any():
            continue
        color = class_color(k)
        text = class_label(name, lang)
        if suffix:
            text = t("test_suffix" if hollow else "train_suffix", lang, name=text)
        # Test points: white inside a coloured ring, visible on the dark and the pale ends alike.
        style = (dict(facecolors="white", edgecolors=color, linewidths=1.6) if hollow
                 else dict(c=color, edgecolors="black", linewidths=0.6))
        artists.append(ax.scatter(X[mask, 0], X[mask, 1], s=size, marker=MARKERS[k % len(MARKERS)],
                                  zorder=4, label=text if label else None, **style))
    return artists


def point_size(n: int) -> float:
    """Marker area for ``n`` points: large for a gate's four, smaller for hundreds."""
    return float(np.clip(900 / max(n, 1) ** 0.75, 14, 80))


def class_margins(probs: np.ndarray) -> np.ndarray:
    """For each class k, p_k minus the largest other probability: (K, ny, nx). It is > 0 exactly
    where k is predicted, so its zero contour is k's decision boundary."""
    K = probs.shape[-1]
    out = []
    for k in range(K):
        others = np.delete(probs, k, axis=-1).max(axis=-1)
        out.append(probs[..., k] - others)
    return np.stack(out)


def class_colors_image(probs: np.ndarray) -> np.ndarray:
    """RGB image: the predicted class's colour mixed with white by how sure the model is."""
    from matplotlib.colors import to_rgb

    K = probs.shape[-1]
    colors = np.array([to_rgb(class_color(k)) for k in range(K)])
    winner = probs.argmax(axis=-1)
    top = probs.max(axis=-1)
    sure = np.clip((top - 1.0 / K) / (1.0 - 1.0 / K), 0, 1)[..., None]
    strength = 0.15 + 0.6 * sure
    return (1 - strength) * 1.0 + strength * colors[winner]


class ProbabilityMapDisplay:
    """Small multiples of the predicted probability over the input plane, one per epoch.

    >>> d = ProbabilityMapDisplay.from_history(history, epochs=[0, 10, 1000])  # doctest: +SKIP
    >>> len(d.axes_), d.contours_[0].levels                                    # doctest: +SKIP
    (3, array([0.5]))
    """

    def __init__(self, xs, ys, maps, epochs, X, y, *, X_test=None, y_test=None, class_names=("0", "1"),
                 feature_names=("x1", "x2"), stats=None, title="", lang="en"):
        self.xs, self.ys = np.asarray(xs, float), np.asarray(ys, float)
        self.maps = np.asarray(maps, dtype=float)
        self.epochs = list(epochs)
        self.X, self.y = np.asarray(X), np.asarray(y)
        self.X_test = None if X_test is None else np.asarray(X_test)
        self.y_test = None if y_test is None else np.asarray(y_test)
        self.class_names = [str(c) for c in class_names]
        self.feature_names = list(feature_names)
        self.stats = stats  # per epoch (loss, accuracy) or None
        self.title = title
        self.lang = resolve_lang(lang)

    @property
    def is_binary(self) -> bool:
        return self.maps.ndim == 3

    def __repr__(self) -> str:
        return (f"ProbabilityMapDisplay(epochs={self.epochs}, grid={self.maps.shape[1:3]}, "
                f"classes={len(self.class_names)}, lang={self.lang!r})")

    @classmethod
    def from_history(cls, history, epochs=None, *, resolution=120, lang=None, axes=None, plot=True):
        """Maps after ``epochs`` completed epochs (default: about six, spread geometrically)."""
        from ..analysis.views import (check_epochs, final_epoch, input_plane, probability_maps,
                                      snapshot_epochs)
        from .base import title_fields

        lang = resolve_lang(lang)
        n_epochs = final_epoch(history)
        epochs = snapshot_epochs(n_epochs) if epochs is None else check_epochs(epochs, n_epochs)
        plane = input_plane(history, resolution)
        maps = probability_maps(history, epochs, plane)
        stats = None
        if history.epoch_train_loss is not None and len(history.epoch_train_loss) == n_epochs + 1:
            stats = [(float(history.epoch_train_loss[e]), float(history.epoch_train_acc[e])) for e in epochs]
        _, fields = title_fields(history.config)
        key = "prob_title" if maps.ndim == 3 else "prob_title_multi"
        class_names = history.class_names or ("0", "1")
        title = t(key, lang, data=fields.get("gate", fields.get("data", "")),
                  cls=class_phrase(class_names[-1], lang))
        display = cls(plane.xs, plane.ys, maps, epochs, history.X, history.y,
                      X_test=history.X_test if history.has_test else None,
                      y_test=history.y_test if history.has_test else None,
                      class_names=class_names,
                      feature_names=history.feature_names or ("x1", "x2"),
                      stats=stats, title=title, lang=lang)
        return display.plot(axes=axes) if plot else display

    def _grid(self):
        n = len(self.epochs)
        ncols = n if n <= 4 else 3 if n in (5, 6, 9) else 4
        nrows = -(-n // ncols)
        return nrows, ncols

    def plot(self, axes=None):
        """Draw one panel per epoch on ``axes`` (a list, one per epoch) or a new figure.

        Keeps ``axes_``, ``figure_``, ``images_``, ``contours_`` (per panel: the 0.5 contour of a
        binary run, or a list of each class's boundary contour), ``points_``,
        ``colorbar_`` (binary runs) and ``legend_``.
        """
        with use_language(self.lang):
            if axes is None:
                nrows, ncols = self._grid()
                fig = new_figure((PANEL_INCH * ncols + 1.2, PANEL_INCH * nrows + 1.3), layout="constrained")
                grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
                axes = list(grid.ravel())
                for ax in axes[len(self.epochs):]:
                    ax.set_visible(False)
                axes = axes[: len(self.epochs)]
            else:
                axes = list(axes)
                if len(axes) != len(self.epochs):
                    from ..errors import BackpropvizError

                    raise BackpropvizError(f"give one Axes per epoch ({len(self.epochs)}); got {len(axes)}")
                fig = axes[0].figure
            extent = (self.xs[0], self.xs[-1], self.ys[0], self.ys[-1])
            cmap = probability_cmap()
            self.images_, self.contours_, self.points_ = [], [], []
            for k, (ax, epoch) in enumerate(zip(axes, self.epochs)):
                m = self.maps[k]
                if self.is_binary:
                    image = ax.imshow(m, origin="lower", extent=extent, cmap=cmap, vmin=0, vmax=1,
                                      aspect="auto", interpolation="bilinear")
                    contour = ax.contour(self.xs, self.ys, m, levels=[0.5], colors="black", linewidths=1.6)
                else:
                    image = ax.imshow(class_colors_image(m), origin="lower", extent=extent, aspect="auto",
                                      interpolation="bilinear")
                    # A class's region ends where its margin crosses 0: one contour per class
                    # (a boundary between two classes is drawn by both, on the same line).
                    contour = [ax.contour(self.xs, self.ys, margin, levels=[0.0], colors="black",
                                          linewidths=1.3)
                               for margin in class_margins(m) if margin.min() < 0 < margin.max()]
                self.images_.append(image)
                self.contours_.append(contour)
                size = point_size(len(self.y))
                pts = draw_points(ax, self.X, self.y, self.class_names, lang=self.lang, size=size,
                                  suffix=self.X_test is not None)
                if self.X_test is not None:
                    pts += draw_points(ax, self.X_test, self.y_test, self.class_names, hollow=True,
                                       lang=self.lang, size=size)
                self.points_.append(pts)
                title = t("net_epoch", self.lang, epoch=epoch)
                if self.stats is not None:
                    loss, acc = self.stats[k]
                    title = t("net_epoch_stats", self.lang, epoch=epoch, loss=f"{loss:.3g}", acc=f"{acc:.0%}")
                ax.set_title(title, fontsize=10)
                ax.set_xlim(extent[0], extent[1])
                ax.set_ylim(extent[2], extent[3])
            nrows, ncols = self._grid() if len(axes) == len(self.epochs) else (1, len(axes))
            for k, ax in enumerate(axes):
                if k // ncols == (len(axes) - 1) // ncols or k + ncols >= len(axes):
                    # The lowest panel of its column (above an empty slot too): its x axis is
                    # the column's, so it shows the numbers that sharex hid.
                    ax.set_xlabel(t("input", self.lang, name=self.feature_names[0]))
                    ax.xaxis.set_tick_params(which="both", labelbottom=True)
                if k % ncols == 0:
                    ax.set_ylabel(t("input", self.lang, name=self.feature_names[1]))
            from matplotlib.lines import Line2D

            handles = list(self.points_[0])
            handles.append(Line2D([], [], color="black", linewidth=1.6,
                                  label=t("boundary_05" if self.is_binary else "decision_boundary", self.lang)))
            self.colorbar_ = None
            if self.is_binary:
                self.colorbar_ = fig.colorbar(self.images_[0], ax=axes, shrink=0.8, pad=0.02)
                self.colorbar_.set_label(t("prob_colorbar", self.lang,
                                           cls=class_phrase(self.class_names[-1], self.lang)))
                self.colorbar_.ax.axhline(0.5, color="black", linewidth=1.6)
            self.legend_ = fig.legend(handles=handles, loc="outside lower center",
                                      ncol=len(handles) if len(handles) <= 5 else -(-len(handles) // 2), fontsize=9, frameon=False)
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=13)
        self.axes_, self.figure_ = axes, fig
        return self

    @classmethod
    def for_animation(cls, history, rows, *, resolution=120, lang=None):
        """One panel on a figure of ``ANIMATION_FIGSIZE``, drawn at the finished run (the view
        at its last epoch), holding the maps at ``rows`` for ``update``."""
        from ..analysis.views import final_epoch, input_plane, probability_maps_at_rows
        from .base import epoch_axis

        with use_language(lang):  # an Axes' title takes its font when the Axes is made
            fig = new_figure(ANIMATION_FIGSIZE, layout="constrained")  # wide enough for the title and key
            ax = fig.add_subplot()
        display = cls.from_history(history, [final_epoch(history)], resolution=resolution, lang=lang,
                                   axes=[ax])
        plane = input_plane(history, resolution)
        display.row_maps = dict(zip((int(r) for r in rows), probability_maps_at_rows(history, rows, plane)))
        display.row_epochs = epoch_axis(history.epoch)
        display.epoch_stats = (None if display.stats is None else
                               list(zip(history.epoch_train_loss.tolist(), history.epoch_train_acc.tolist())))
        return display

    def update(self, row: int):
        """Show the single panel at params row ``row`` (one of ``for_animation``'s rows): the map,
        its boundary and its title move; at the last row it is the static view. Returns the
        artists changed (for blitting)."""
        from .base import fmt_epoch

        if len(self.axes_) != 1 or not hasattr(self, "row_maps"):
            raise BackpropvizError("ProbabilityMapDisplay.update needs one panel: build it with for_animation")
        ax, m = self.axes_[0], self.row_maps[int(row)]
        image = self.images_[0]
        for old in (self.contours_[0] if isinstance(self.contours_[0], list) else [self.contours_[0]]):
            old.remove()
        with use_language(self.lang):
            if self.is_binary:
                image.set_data(m)
                contour = ax.contour(self.xs, self.ys, m, levels=[0.5], colors="black", linewidths=1.6)
                drawn = [contour]
            else:
                image.set_data(class_colors_image(m))
                contour = [ax.contour(self.xs, self.ys, margin, levels=[0.0], colors="black", linewidths=1.3)
                           for margin in class_margins(m) if margin.min() < 0 < margin.max()]
                drawn = contour
        self.contours_[0] = contour
        epoch = float(self.row_epochs[row])
        title = t("net_epoch", self.lang, epoch=fmt_epoch(epoch))
        if self.epoch_stats is not None and epoch == round(epoch) and int(epoch) < len(self.epoch_stats):
            loss, acc = self.epoch_stats[int(epoch)]
            title = t("net_epoch_stats", self.lang, epoch=fmt_epoch(epoch), loss=f"{loss:.3g}", acc=f"{acc:.0%}")
        ax.title.set_text(title)
        # the frame lies under the map: drawn again over it, as a full draw has them
        return [image, *drawn, *self.points_[0], *ax.spines.values(), ax.title]
