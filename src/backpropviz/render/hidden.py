"""What each hidden neuron computes: its output over the input plane, one thumbnail per unit.

Rows are hidden layers (a wide layer wraps onto a second row), columns their units. Bounded
activations (tanh, sigmoid) use the blue-white-orange scale over their whole range; ReLU-like
outputs run from white (off) to dark. A thin black line marks where the unit switches, i.e.
where its input (the pre-activation) crosses 0: in the first layer these are straight lines,
and later layers bend them into curves. A key under the thumbnails says so, names the classes
of the data points, and every layer's colour bar names its layer. A unit whose output is the
same over the whole plane (a ReLU that is 0 everywhere, a saturated tanh) is flagged "dead" in
its title.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang, t
from .base import new_figure
from .fonts import use_language
from . import palette
from .probability import MARKERS, class_label, point_size, probability_cmap

MAX_COLS = 8  # thumbnails per row
MAX_UNITS = 16  # per layer; wider layers show their first units and say so
THUMB_INCH = 1.5
DEAD_TOL = 1e-6  # output range over the plane, relative to its size, below which a unit is dead


def class_point_style(k: int) -> dict:
    """How class ``k``'s points are drawn on a thumbnail: its marker, in black and white (white
    inside black, or black inside white, by class), so that they stand out on every colour of
    the map, whose own colours (the probability map's, the classes' colours) would vanish in it."""
    face, edge = ("white", "black") if k % 2 == 0 else ("black", "white")
    return dict(marker=MARKERS[k % len(MARKERS)], facecolors=face, edgecolors=edge, linewidths=0.9)


def point_handle(k: int, label: str):
    """The key's entry for class ``k``: the thumbnails' marker."""
    from matplotlib.lines import Line2D

    style = class_point_style(k)
    return Line2D([], [], linestyle="none", marker=style["marker"], markersize=6, markerfacecolor=style["facecolors"],
                  markeredgecolor=style["edgecolors"] if k % 2 == 0 else "black", markeredgewidth=0.9, label=label)


def switch_level(activation: str) -> float:
    """The unit's output where its pre-activation is 0: 0.5 for sigmoid, else 0 (tanh, ReLU)."""
    return 0.5 if str(activation).lower() == "sigmoid" else 0.0


def is_dead(values: np.ndarray) -> bool:
    """True when a unit's output over the plane is constant (up to rounding)."""
    values = np.asarray(values, dtype=float)
    return bool(np.ptp(values) <= DEAD_TOL * max(1.0, float(np.max(np.abs(values)))))


class HiddenUnitsDisplay:
    """One thumbnail per hidden unit (up to ``MAX_UNITS`` per layer).

    >>> d = HiddenUnitsDisplay.from_history(history)      # doctest: +SKIP
    >>> len(d.thumbnails_)                                # doctest: +SKIP
    4
    """

    def __init__(self, xs, ys, activations, *, pre_activations=None, activation="tanh", epoch=0,
                 X=None, y=None, class_names=None, title="", lang="en"):
        self.xs, self.ys = np.asarray(xs, float), np.asarray(ys, float)
        self.activations = [np.asarray(a, dtype=float) for a in activations]
        self.pre_activations = (None if pre_activations is None
                                else [np.asarray(a, dtype=float) for a in pre_activations])
        self.activation = str(activation)
        self.epoch = epoch
        self.X = None if X is None else np.asarray(X)
        self.y = None if y is None else np.asarray(y)
        n_classes = int(self.y.max()) + 1 if self.y is not None and self.y.size else 2
        self.class_names = [str(c) for c in (class_names or range(n_classes))]
        self.title = title
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return (f"HiddenUnitsDisplay(units={[len(a) for a in self.activations]}, "
                f"activation={self.activation!r}, epoch={self.epoch}, lang={self.lang!r})")

    @classmethod
    def from_history(cls, history, epoch=None, *, resolution=80, lang=None, figure=None, plot=True):
        """Hidden outputs after ``epoch`` completed epochs (default: the end of the run)."""
        from ..analysis.views import check_epochs, epoch_row, final_epoch, hidden_activations, input_plane

        lang = resolve_lang(lang)
        n_epochs = final_epoch(history)
        epoch = n_epochs if epoch is None else check_epochs([epoch], n_epochs, "--hidden-epoch")[0]
        plane = input_plane(history, resolution)
        pairs = hidden_activations(history, epoch_row(history, epoch), plane, pre=True)
        if not pairs:
            raise BackpropvizError(
                f"the hidden view needs a model with hidden layers (e.g. --model mlp:4); "
                f"got model {history.config.get('model', '?')!r}")
        from ..train import is_regression

        activation = str(history.config.get("activation", "tanh"))
        title = t("hidden_title", lang, epoch=epoch, activation=activation)
        points = not is_regression(history)  # the points are drawn by class; a regression has none
        display = cls(plane.xs, plane.ys, [post for _, post in pairs],
                      pre_activations=[pre for pre, _ in pairs], activation=activation, epoch=epoch,
                      X=history.X if points else None, y=history.y if points else None,
                      class_names=history.class_names, title=title, lang=lang)
        return display.plot(figure=figure) if plot else display

    def _scale(self, values: np.ndarray):
        """(cmap, vmin, vmax) for one layer's outputs."""
        from ..analysis.views import activation_range

        lo, hi = activation_range(self.activation)
        if lo is not None and hi is not None:
            return probability_cmap(), lo, hi
        top = float(np.max(values))
        if "relu" in self.activation.lower():  # off is 0 (leaky: slightly below)
            return palette.cmap("positive"), min(0.0, float(np.min(values))), top if top > 0 else 1.0
        top = float(np.max(np.abs(values))) or 1.0
        return probability_cmap(), -top, top

    def _rows(self) -> list[tuple[int, int, int]]:
        """(layer, first unit, units in the row) for each row of thumbnails."""
        rows = []
        for layer, values in enumerate(self.activations):
            shown = min(len(values), MAX_UNITS)
            for start in range(0, shown, MAX_COLS):
                rows.append((layer, start, min(MAX_COLS, shown - start)))
        return rows

    def plot(self, figure=None):
        """Draw the thumbnails; keeps ``figure_``, ``axes_`` (per layer, its Axes), ``thumbnails_``
        (one image per unit shown), ``switches_`` (their zero lines), ``colorbars_`` (one per
        layer, each labelled), ``dead_`` ((layer, unit) of each dead unit shown) and ``legend_``
        (the key under the thumbnails)."""
        from matplotlib.lines import Line2D

        rows = self._rows()
        cols = max(n for _, _, n in rows)
        with use_language(self.lang):
            fig = figure or new_figure((THUMB_INCH * cols + 2.4, THUMB_INCH * len(rows) + 1.1),
                                       layout="constrained")
            grid = fig.subplots(len(rows), cols, squeeze=False)
            extent = (self.xs[0], self.xs[-1], self.ys[0], self.ys[-1])
            self.axes_ = [[] for _ in self.activations]
            self.thumbnails_, self.switches_, self.colorbars_, self.dead_ = [], [], [], []
            size = point_size(len(self.y)) / 3 if self.y is not None else 0
            for r, (layer, start, count) in enumerate(rows):
                values = self.activations[layer]
                cmap, vmin, vmax = self._scale(values[:MAX_UNITS])
                for c in range(cols):
                    ax = grid[r, c]
                    if c >= count:
                        ax.set_visible(False)
                        continue
                    unit = start + c
                    image = ax.imshow(values[unit], origin="lower", extent=extent, cmap=cmap, vmin=vmin,
                                      vmax=vmax, aspect="auto", interpolation="bilinear")
                    self.thumbnails_.append(image)
                    if self.pre_activations is not None:
                        pre = self.pre_activations[layer][unit]
                        if pre.min() < 0 < pre.max():
                            self.switches_.append(ax.contour(self.xs, self.ys, pre, levels=[0.0],
                                                             colors="black", linewidths=0.8))
                    if self.X is not None:
                        for k in np.unique(self.y).astype(int):
                            mask = self.y == k
                            ax.scatter(self.X[mask, 0], self.X[mask, 1], s=size, zorder=3,
                                       **class_point_style(k))
                    ax.set_xlim(extent[0], extent[1])
                    ax.set_ylim(extent[2], extent[3])
                    ax.set_xticks([])
                    ax.set_yticks([])
                    dead = is_dead(values[unit])
                    if dead:
                        self.dead_.append((layer, unit))
                    ax.set_title(t("hidden_unit_dead" if dead else "hidden_unit", self.lang, unit=unit + 1),
                                 fontsize=8, pad=2, color=palette.color("warning") if dead else "black")
                    self.axes_[layer].append(ax)
                if start == 0:
                    label = t("hidden_row", self.lang, layer=layer + 1)
                    if len(values) > MAX_UNITS:
                        label += "\n" + t("hidden_more", self.lang, shown=MAX_UNITS, total=len(values))
                    grid[r, 0].set_ylabel(label, fontsize=9)
                last_row_of_layer = r + 1 == len(rows) or rows[r + 1][0] != layer
                if last_row_of_layer:
                    layer_axes = [a for rr, (lay, _, _) in enumerate(rows) if lay == layer for a in grid[rr]]
                    colorbar = fig.colorbar(self.thumbnails_[-1], ax=layer_axes, shrink=0.9, pad=0.01,
                                            aspect=12 * sum(lay == layer for lay, _, _ in rows))
                    colorbar.ax.tick_params(labelsize=7)
                    colorbar.set_label(t("hidden_colorbar_layer", self.lang, layer=layer + 1), fontsize=8)
                    self.colorbars_.append(colorbar)
            level = switch_level(self.activation)
            handles = [Line2D([], [], color="black", linewidth=0.8,
                              label=t("hidden_switch", self.lang, level=f"{level:g}"))]
            if self.X is not None:
                handles += [point_handle(k, class_label(name, self.lang))
                            for k, name in enumerate(self.class_names) if (self.y == k).any()]
            if self.dead_:
                handles.append(Line2D([], [], linestyle="none", label=t("hidden_dead_key", self.lang)))
            self.legend_ = fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8,
                                      frameon=False, handlelength=1.6)
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=12)
        self.figure_ = fig
        return self

    @classmethod
    def for_animation(cls, history, *, resolution=80, lang=None):
        """The thumbnails drawn at the finished run (the view at its last epoch), on a figure wide
        enough for a corner label beside the title, with every row's outputs at hand for ``update``
        (computed per frame, by ``analysis.views.HiddenFrames``)."""
        from ..analysis.views import HiddenFrames, input_plane
        from .base import epoch_axis

        display = cls.from_history(history, resolution=resolution, lang=lang, plot=False)
        cols = max(n for _, _, n in display._rows())
        with use_language(display.lang):
            fig = new_figure((THUMB_INCH * cols + 2.4 + 3.0, THUMB_INCH * len(display._rows()) + 1.1),
                             layout="constrained")
        display.plot(figure=fig)
        display.row_outputs = HiddenFrames(history, input_plane(history, resolution))
        display.row_epochs = epoch_axis(history.epoch)
        return display

    def update(self, row: int):
        """Show every thumbnail at params row ``row``: the outputs, where each unit switches, the
        dead flags and the title's epoch move, on the last epoch's colour scales; at the last row
        it is the static view. Returns the artists changed (for blitting)."""
        from .base import fmt_epoch

        if not hasattr(self, "row_outputs"):
            raise BackpropvizError("HiddenUnitsDisplay.update needs the run's rows: build it with for_animation")
        pairs = self.row_outputs[row]
        if not hasattr(self, "_switch_at"):  # the first update: one switch line per thumbnail from now on
            for contour in self.switches_:
                contour.remove()
            self.switches_, self._switch_at = [], {}
        changed = []
        images = iter(self.thumbnails_)
        with use_language(self.lang):
            for layer, (pre_all, post_all) in enumerate(pairs):
                for unit, ax in enumerate(self.axes_[layer]):
                    image = next(images)
                    image.set_data(post_all[unit])
                    old = self._switch_at.pop((layer, unit), None)
                    if old is not None:
                        old.remove()
                    pre = pre_all[unit]
                    if pre.min() < 0 < pre.max():
                        self._switch_at[(layer, unit)] = ax.contour(self.xs, self.ys, pre, levels=[0.0],
                                                                    colors="black", linewidths=0.8)
                        changed.append(self._switch_at[(layer, unit)])
                    dead = is_dead(post_all[unit])
                    ax.title.set_text(t("hidden_unit_dead" if dead else "hidden_unit", self.lang, unit=unit + 1))
                    ax.title.set_color(palette.color("warning") if dead else "black")
                    # the points and the frame lie over the image: drawn again over it
                    points = [c for c in ax.collections if c not in self._switch_at.values()]
                    changed += [image, *points, *ax.spines.values(), ax.title]
            self.switches_ = list(self._switch_at.values())
            if self.title:
                epoch = fmt_epoch(self.row_epochs[row])
                self.suptitle_.set_text(t("hidden_title", self.lang, epoch=epoch, activation=self.activation))
                changed.append(self.suptitle_)
        return changed
