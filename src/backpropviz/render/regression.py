"""A regression's predicted value over the input plane, one panel per epoch (TensorFlow
playground's regression picture).

The heat map is the model's output at each point of the plane; the data points are drawn on the
same colour scale, filled with their target value, so a point that stands out from the map
around it is one the model gets wrong. The scale is the targets' range (symmetric around 0, at
the white middle, when the targets take both signs): predictions beyond it take the end colours
(the colour bar's pointed ends say so).
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from .base import new_figure
from .fonts import use_language
from .probability import PANEL_INCH, point_size, probability_cmap


class PredictionMapDisplay:
    """Small multiples of the predicted value over the input plane, one per epoch.

    >>> d = PredictionMapDisplay.from_history(history, epochs=[0, 100])   # doctest: +SKIP
    >>> len(d.images_), d.images_[0].get_clim() == (d.vmin, d.vmax)       # doctest: +SKIP
    (2, True)
    """

    def __init__(self, xs, ys, maps, epochs, X, y, *, X_test=None, y_test=None, feature_names=("x1", "x2"),
                 stats=None, title="", lang="en"):
        self.xs, self.ys = np.asarray(xs, float), np.asarray(ys, float)
        self.maps = np.asarray(maps, dtype=float)  # (E, ny, nx)
        self.epochs = list(epochs)
        self.X, self.y = np.asarray(X), np.asarray(y, dtype=float)
        self.X_test = None if X_test is None else np.asarray(X_test)
        self.y_test = None if y_test is None else np.asarray(y_test, dtype=float)
        self.feature_names = list(feature_names)
        self.stats = stats  # per epoch (loss, R^2) or None
        self.title = title
        self.lang = resolve_lang(lang)
        targets = self.y if self.y_test is None else np.concatenate([self.y, self.y_test])
        lo, hi = float(targets.min()), float(targets.max())
        if lo < 0 < hi:  # white (the scale's middle) at 0, blue below, orange above
            lo, hi = -max(-lo, hi), max(-lo, hi)
        self.vmin, self.vmax = (lo, hi) if hi > lo else (lo - 1.0, hi + 1.0)

    def __repr__(self) -> str:
        return (f"PredictionMapDisplay(epochs={self.epochs}, grid={self.maps.shape[1:3]}, "
                f"scale=[{self.vmin:.3g}, {self.vmax:.3g}], lang={self.lang!r})")

    @classmethod
    def from_history(cls, history, epochs=None, *, resolution=120, lang=None, plot=True):
        """Maps after ``epochs`` completed epochs (default: about six, spread geometrically)."""
        from ..analysis.views import check_epochs, final_epoch, input_plane, probability_maps, snapshot_epochs
        from .base import title_fields

        lang = resolve_lang(lang)
        n_epochs = final_epoch(history)
        epochs = snapshot_epochs(n_epochs) if epochs is None else check_epochs(epochs, n_epochs)
        plane = input_plane(history, resolution)
        maps = probability_maps(history, epochs, plane)  # a regression model's outputs: its values
        stats = None
        if history.epoch_train_loss is not None and len(history.epoch_train_loss) == n_epochs + 1:
            stats = [(float(history.epoch_train_loss[e]), float(history.epoch_train_acc[e])) for e in epochs]
        _, fields = title_fields(history.config)
        title = t("pred_title", lang, data=fields.get("gate", fields.get("data", "")))
        display = cls(plane.xs, plane.ys, maps, epochs, history.X, history.y,
                      X_test=history.X_test if history.has_test else None,
                      y_test=history.y_test if history.has_test else None,
                      feature_names=history.feature_names or ("x1", "x2"), stats=stats, title=title, lang=lang)
        return display.plot() if plot else display

    def _grid(self):
        n = len(self.epochs)
        ncols = n if n <= 4 else 3 if n in (5, 6, 9) else 4
        return -(-n // ncols), ncols

    def plot(self):
        """One panel per epoch; keeps ``figure_``, ``axes_``, ``images_``, ``points_`` (per panel:
        train, then test points), ``colorbar_`` and ``legend_``."""
        from matplotlib.lines import Line2D

        cmap = probability_cmap()
        with use_language(self.lang):
            nrows, ncols = self._grid()
            fig = new_figure((PANEL_INCH * ncols + 1.4, PANEL_INCH * nrows + 1.3), layout="constrained")
            grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
            axes = list(grid.ravel())
            for ax in axes[len(self.epochs):]:
                ax.set_visible(False)
            axes = axes[: len(self.epochs)]
            extent = (self.xs[0], self.xs[-1], self.ys[0], self.ys[-1])
            size = point_size(len(self.y))
            self.images_, self.points_ = [], []
            for k, (ax, epoch) in enumerate(zip(axes, self.epochs)):
                self.images_.append(ax.imshow(self.maps[k], origin="lower", extent=extent, cmap=cmap,
                                              vmin=self.vmin, vmax=self.vmax, aspect="auto",
                                              interpolation="bilinear"))
                points = [ax.scatter(self.X[:, 0], self.X[:, 1], c=self.y, cmap=cmap, vmin=self.vmin,
                                     vmax=self.vmax, s=size, edgecolors="black", linewidths=0.6, zorder=4)]
                if self.X_test is not None:
                    points.append(ax.scatter(self.X_test[:, 0], self.X_test[:, 1], c=self.y_test, cmap=cmap,
                                             vmin=self.vmin, vmax=self.vmax, s=size, marker="s",
                                             edgecolors="black", linewidths=1.2, zorder=4))
                self.points_.append(points)
                title = t("net_epoch", self.lang, epoch=epoch)
                if self.stats is not None:
                    loss, r2 = self.stats[k]
                    title = t("pred_epoch_stats", self.lang, epoch=epoch, loss=f"{loss:.3g}", r2=f"{r2:.2f}")
                ax.set_title(title, fontsize=10)
                ax.set_xlim(extent[0], extent[1])
                ax.set_ylim(extent[2], extent[3])
            for k, ax in enumerate(axes):
                if k + ncols >= len(axes):  # the lowest panel of its column shows the x numbers
                    ax.set_xlabel(t("input", self.lang, name=self.feature_names[0]))
                    ax.xaxis.set_tick_params(which="both", labelbottom=True)
                if k % ncols == 0:
                    ax.set_ylabel(t("input", self.lang, name=self.feature_names[1]))
            self.colorbar_ = fig.colorbar(self.images_[0], ax=axes, shrink=0.8, pad=0.02, extend="both")
            self.colorbar_.set_label(t("pred_colorbar", self.lang))
            handles = [Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                              markeredgecolor="black", label=t("pred_points", self.lang))]
            if self.X_test is not None:
                handles.append(Line2D([], [], linestyle="none", marker="s", markersize=7, markerfacecolor="white",
                                      markeredgecolor="black", markeredgewidth=1.2,
                                      label=t("pred_points_test", self.lang)))
            self.legend_ = fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9,
                                      frameon=False)
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=13)
        self.axes_, self.figure_ = axes, fig
        return self
