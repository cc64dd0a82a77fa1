"""Graphs 3 and 4: the loss over a plane of two parameters, and the learning path on it.

A plane through parameter space holds every other parameter fixed (the article fixes b at its
final value). The recorded path is drawn in the plane's two coordinates, so where a fixed
parameter moved during training the colours (2D) or heights (3D) under the path are *not*
the losses training saw. Both displays say so on the figure; the 3D one also draws the loss
training actually saw along the same path.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from . import palette
from .base import axes_or_new, fmt_value, param_label
from .fonts import use_language

MAX_NAMED = 3  # name at most this many fixed parameters in a label, then count them
ASPECTS = ("equal", "auto")
# Planes whose two axes share a unit (parameter values, or multiples of unit or filter-normalised
# directions): drawn to equal scale by default, so that a path's bends are not exaggerated.
SHARED_UNIT = ("params", "pca", "random", "hessian")
MAX_EQUAL_RATIO = 10.0  # beyond this, equal scale would draw a sliver: not to scale, and said so


def check_aspect(aspect: str) -> str:
    from ..errors import BackpropvizError

    if aspect not in ASPECTS:
        raise BackpropvizError(f"aspect must be one of: {', '.join(ASPECTS)}; got {aspect!r}")
    return aspect


def window_ratio(landscape) -> float:
    """The longer side of the plotted window over the shorter (inf when one side is empty)."""
    dx = abs(float(landscape.alpha[-1]) - float(landscape.alpha[0]))
    dy = abs(float(landscape.beta[-1]) - float(landscape.beta[0]))
    small, big = sorted((dx, dy))
    return big / small if small > 0 else float("inf")


def equal_scale(landscape, aspect: str = "equal") -> bool:
    """Whether ``landscape`` is drawn with one unit as long on both axes: by default for planes
    whose axes share a unit (``SHARED_UNIT``), unless the window is more than
    ``MAX_EQUAL_RATIO`` times longer one way than the other; never with ``aspect="auto"``."""
    return (check_aspect(aspect) == "equal" and landscape.method in SHARED_UNIT
            and window_ratio(landscape) <= MAX_EQUAL_RATIO)


def aspect_note(landscape, aspect: str, lang: str) -> str | None:
    """The words owed when a plane that shares a unit is *not* drawn to scale by default."""
    if aspect == "equal" and landscape.method in SHARED_UNIT and not equal_scale(landscape, aspect):
        ratio = window_ratio(landscape)
        if np.isfinite(ratio):
            return t("aspect_not_to_scale", lang, ratio=f"{ratio:.0f}")
    return None


def set_plane_aspect(ax, landscape, aspect: str = "equal", *, zoom: float = 0.9) -> None:
    """Equal scale on a 2D ``ax`` (the box shrinks to fit), or for a 3D ``ax`` a box whose base
    has the window's proportions (matplotlib's default 4:4:3 box otherwise)."""
    equal = equal_scale(landscape, aspect)
    if getattr(ax, "name", "") == "3d":
        if equal:
            dx = abs(float(landscape.alpha[-1]) - float(landscape.alpha[0]))
            dy = abs(float(landscape.beta[-1]) - float(landscape.beta[0]))
            m = max(dx, dy)
            ax.set_box_aspect((4 * dx / m, 4 * dy / m, 3), zoom=zoom)
        else:
            ax.set_box_aspect(None, zoom=zoom)
    elif equal:
        ax.set_aspect("equal", adjustable="box")


def distinct_format(values, *, min_digits: int = 2, max_digits: int = 12):
    """A formatter with as few significant digits as tell ``values`` apart (at least
    ``min_digits``): on a nearly flat surface the labels differ in the 6th digit, and ``%.3g``
    would print the same number on every one."""
    values = [float(v) for v in values]
    for digits in range(min_digits, max_digits + 1):
        if len({f"{v:.{digits}g}" for v in values}) == len(set(values)):
            break
    return lambda v: f"{v:.{digits}g}"


def label_contours(ax, contours, *, max_labels: int = 6, fontsize: float = 7, margin: float = 0.07,
                   avoid=None):
    """Label at most ``max_labels`` of the drawn levels (evenly spread through them), one label
    each, placed where it is furthest from the axes' edges (at least ``margin`` of the axes away,
    so that it is not clipped), from the labels already placed and from the points ``avoid``
    (data coordinates, (K, 2): the path and its markers, at least ``margin`` away). Returns the
    label texts.

    Call it after the limits are set: positions are chosen in axes coordinates.
    """
    paths = contours.get_paths()
    levels = np.asarray(contours.levels, dtype=float)
    present = [k for k, p in enumerate(paths) if k < len(levels) and len(p.vertices)]
    if not present:
        return []
    pick = [present[i] for i in np.unique(np.linspace(0, len(present) - 1, min(len(present), max_labels))
                                             .round().astype(int))]
    to_axes = ax.transData + ax.transAxes.inverted()
    avoid = np.empty((0, 2)) if avoid is None else np.asarray(avoid, dtype=float).reshape(-1, 2)
    avoid = to_axes.transform(avoid[np.all(np.isfinite(avoid), axis=1)]) if len(avoid) else avoid
    placed, positions, chosen = [], [], []
    for k in pick:
        vertices = paths[k].vertices
        where = to_axes.transform(vertices)
        edge = np.min(np.stack([where[:, 0], 1 - where[:, 0], where[:, 1], 1 - where[:, 1]]), axis=0)
        score = edge.copy()
        if len(avoid):
            clear = np.min(np.linalg.norm(where[:, None, :] - avoid[None], axis=2), axis=1)
            score = np.where(clear >= margin, np.minimum(score, clear), -np.inf)
        if placed:
            apart = np.min(np.linalg.norm(where[:, None, :] - np.asarray(placed)[None], axis=2), axis=1)
            score = np.minimum(score, 0.5 * apart)
        score[~(edge >= margin)] = -np.inf
        j = int(np.argmax(score))
        if not np.isfinite(score[j]):
            continue
        placed.append(where[j])
        positions.append(tuple(vertices[j]))
        chosen.append(levels[k])
    if not chosen:
        return []
    return ax.clabel(contours, levels=chosen, manual=positions, inline=True, fontsize=fontsize,
                     fmt=distinct_format(chosen))


def tidy_3d_axes(ax, *, nbins: int = 4) -> None:
    """Few ticks on a 3D Axes' three axes, and axis labels clear of the tick labels: mplot3d's
    defaults crowd 8-10 tick labels into a foreshortened axis and set the label on top of them."""
    from matplotlib.ticker import MaxNLocator

    box = np.asarray(ax.get_box_aspect(), dtype=float)[:2]  # a short side (equal scale) gets fewer ticks
    sides = list(box / box.max()) + [1.0]
    for axis, side in zip((ax.xaxis, ax.yaxis, ax.zaxis), sides):
        axis.set_major_locator(MaxNLocator(nbins=max(2, int(round(nbins * side))), steps=[1, 2, 2.5, 5, 10]))
    ax.tick_params(axis="both", labelsize="small", pad=1)
    ax.xaxis.labelpad = ax.yaxis.labelpad = 14
    ax.zaxis.labelpad = 10


def describe_fixed(fixed: dict[str, float], center_step: int, final_step: int | None, lang: str) -> str:
    """'b fixed at its final value -9.20' (or the count of fixed parameters when many)."""
    if len(fixed) > MAX_NAMED:
        return t("fixed_many", lang, count=len(fixed), step=center_step)
    key = "fixed_final" if final_step is not None and center_step == final_step else "fixed_at_step"
    return ", ".join(t(key, lang, name=n, value=fmt_value(v), step=center_step) for n, v in fixed.items())


def describe_moved(fixed_path: dict[str, np.ndarray] | None, lang: str) -> str | None:
    """'b went 0.00 → -9.20' for the fixed parameters that changed; None if none did or unknown."""
    if not fixed_path:
        return None
    moved = {n: np.asarray(v) for n, v in fixed_path.items() if np.ptp(np.asarray(v)) > 0}
    if not moved:
        return None
    if len(moved) > MAX_NAMED:
        return t("moved_many", lang, count=len(moved))
    return ", ".join(t("moved", lang, name=n, start=fmt_value(v[0]), end=fmt_value(v[-1]))
                     for n, v in moved.items())


def fixed_path_from_history(history, landscape) -> dict[str, np.ndarray]:
    """The recorded values of each parameter that ``landscape`` holds fixed, row by row."""
    return {n: history.params[:, history.index(n)] for n in landscape.fixed}


def actual_path_loss(history, landscape) -> tuple[np.ndarray, str]:
    """The loss to draw along the path as trained, and the catalogue key of its legend label.

    For full-batch training that is the loss training saw (the whole set's). For a mini-batch
    or stochastic run each step saw only its batch, a noisy number that no surface of the whole
    set can match: the whole training set's loss at each row is drawn instead, and labelled so.
    """
    key = "path_actual" if history.batches is None else "path_actual_full"
    if history.batches is None and getattr(landscape, "train_loss", None) is not None:
        return np.asarray(landscape.train_loss, dtype=float), key
    if getattr(landscape, "set_loss", None) is not None:
        return np.asarray(landscape.set_loss, dtype=float), key
    from ..analysis.landscape import losses_along_path

    return losses_along_path(history), key


class _PlaneDisplay:
    """What the 2D and 3D views share: the grid, the path and the words about the slice."""

    def __init__(self, landscape, *, fixed_path=None, lang="en", aspect="equal"):
        self.landscape = landscape
        self.lang = resolve_lang(lang)
        self.aspect = check_aspect(aspect)  # "equal": to scale on both axes (see ``equal_scale``)
        self.fixed_path = fixed_path
        self.x_name, self.y_name = landscape.axis_names
        center = int(landscape.config.get("center_step", -1))
        final = len(landscape.path) - 1
        self.fixed_text = (describe_fixed(landscape.fixed, center, final, self.lang)
                           if landscape.fixed else "")
        self.moved_text = describe_moved(fixed_path, self.lang)
        if self.moved_text is None and not landscape.fixed:
            self.moved_text = self._off_plane_text()

    def _off_plane_text(self) -> str | None:
        """For planes that fix nothing by name (random, PCA, ...): how far the path leaves them."""
        residual = getattr(self.landscape, "path_residual", None)
        if residual is None or len(residual) == 0:
            return None
        extent = float(self.landscape.config.get("path_extent", 0.0)) or 1.0
        dist = float(np.max(residual))
        return t("off_plane", self.lang, dist=f"{dist:.3g}") if dist > 1e-6 * extent else None

    def fixed_names(self) -> str:
        names = list(self.landscape.fixed)
        return ", ".join(names) if len(names) <= MAX_NAMED else f"{len(names)}"

    def colorbar_label(self) -> str:
        if self.fixed_text:
            return t("colorbar_fixed", self.lang, fixed=self.fixed_text)
        return t("loss_value", self.lang)

    def path_on_surface(self) -> bool:
        """True when the path's heights on the surface are the losses training saw."""
        return self.moved_text is None

    def _plane_note(self) -> str | None:
        """The note for planes that fix nothing by name; None for the named-parameter slice."""
        if self.landscape.fixed:
            return None
        if self.landscape.config.get("follow_path"):
            return t("follow_note", self.lang)
        if self.moved_text is not None:
            return t("plane_note_projected", self.lang, off=self.moved_text)
        return t("plane_note_on", self.lang)

    def _label_axes(self, ax):
        if not ax.get_xlabel():
            ax.set_xlabel(param_label(self.x_name, self.lang))
        if not ax.get_ylabel():
            ax.set_ylabel(param_label(self.y_name, self.lang))


class LossContourDisplay(_PlaneDisplay):
    """Filled contours of the slice, a colourbar saying what is fixed, the path and its ends."""

    def __init__(self, landscape, *, fixed_path=None, levels=30, lang="en", aspect="equal"):
        super().__init__(landscape, fixed_path=fixed_path, lang=lang, aspect=aspect)
        self.levels = levels

    def __repr__(self) -> str:
        return (f"LossContourDisplay(axes={self.landscape.axis_names}, grid={self.landscape.loss.shape}, "
                f"fixed={self.landscape.fixed}, lang={self.lang!r})")

    @classmethod
    def from_landscape(cls, landscape, *, fixed_path=None, levels=30, lang=None, ax=None, plot=True,
                       aspect="equal"):
        """Draw ``landscape``; ``fixed_path`` (name -> values per row) lets the note say how far
        the fixed parameters moved during training."""
        display = cls(landscape, fixed_path=fixed_path, levels=levels, lang=lang, aspect=aspect)
        return display.plot(ax=ax) if plot else display

    @classmethod
    def from_history(cls, history, x_param="w1", y_param="w2", *, span=8.0, resolution=50,
                     x_range=None, y_range=None, lang=None, ax=None, plot=True):
        """The article's slice of ``history`` (other parameters at their final values)."""
        from ..analysis.landscape import param_plane

        land = param_plane(history, x_param, y_param, span=span, resolution=resolution,
                           x_range=x_range, y_range=y_range)
        return cls.from_landscape(land, fixed_path=fixed_path_from_history(history, land),
                                  lang=lang, ax=ax, plot=plot)

    def note(self) -> str:
        plane_note = self._plane_note()
        if plane_note is not None:
            return plane_note
        if self.moved_text is None:
            return t("slice_note_still", self.lang, fixed=self.fixed_names())
        return t("slice_note_moved", self.lang, fixed=self.fixed_text, moved=self.moved_text)

    def plot(self, ax=None, *, note=True):
        """Draw on ``ax``; keeps ``ax_``, ``figure_``, ``contour_``, ``colorbar_`` (both None when no
        loss on the slice is finite, which ``empty_note_`` then says), ``path_``, ``start_``, ``end_``
        and ``note_`` (the text about the slice)."""
        land = self.landscape
        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=(7, 5.5))
            fig = ax.figure
            levels, flat_value = self.levels, _flat_value(land.loss)
            if flat_value is not None:
                # A saturated run can leave the loss constant over the whole window: one band,
                # one tick, instead of 30 levels that differ only in rounding noise.
                pad = max(abs(flat_value) * 1e-3, 1e-6)
                levels = [flat_value - pad, flat_value + pad]
            self.contour_ = self.colorbar_ = self.empty_note_ = None
            if not np.isfinite(land.loss).any():
                # a run that blew up, sliced where its parameters are too large: no contour and
                # no colour bar of made-up losses, but a word saying why
                self.empty_note_ = no_finite_loss_note(ax, self.lang)
            else:
                self.contour_ = ax.contourf(land.alpha, land.beta, land.loss, levels=levels,
                                            cmap=palette.cmap("sequential"), alpha=0.8)
                self.colorbar_ = fig.colorbar(
                    self.contour_, ax=ax, label=self.colorbar_label())
                if flat_value is not None:
                    self.colorbar_.set_ticks([flat_value], labels=[f"{flat_value:.4g}"])
            path = land.path
            (self.path_,) = ax.plot(path[:, 0], path[:, 1], "-o", color=palette.color("path_2d"), markersize=3,
                                    linewidth=1,
                                    markevery=_markevery(len(path)), label=t("path", self.lang))
            (self.start_,) = ax.plot(path[0, 0], path[0, 1], color="white", marker="*",
                                     markersize=15, markeredgecolor="black", linestyle="none",
                                     label=t("start", self.lang))
            (self.end_,) = ax.plot(path[-1, 0], path[-1, 1], color="black", marker="X",
                                   markersize=13, markeredgecolor="white", linestyle="none",
                                   label=t("end", self.lang))
            # A window too narrow for float32 at a blown-up run's scale collapses to one value:
            # then matplotlib's own limits around the path.
            if land.alpha[-1] > land.alpha[0]:
                ax.set_xlim(land.alpha[0], land.alpha[-1])
            if land.beta[-1] > land.beta[0]:
                ax.set_ylim(land.beta[0], land.beta[-1])
            set_plane_aspect(ax, land, self.aspect)
            self._label_axes(ax)
            self.legend_ = ax.legend(loc="upper right", fontsize="small")
            self.note_ = None
            if note:
                self.note_ = _note(ax, self.note())
        self.ax_, self.figure_ = ax, fig
        return self

    def update(self, row: int):
        """Draw the path up to row ``row`` only, the end marker there (the moving point); at the
        last row the figure is the one ``plot`` drew. Returns the artists changed (for blitting)."""
        path = self.landscape.path
        self.path_.set_data(path[:row + 1, 0], path[:row + 1, 1])
        self.end_.set_data([path[row, 0]], [path[row, 1]])
        return [self.path_, self.start_, self.end_, self.legend_]


def _flat_value(loss: np.ndarray) -> float | None:
    """The loss's value when it is the same everywhere on the grid (up to float32 noise), else None."""
    finite = loss[np.isfinite(loss)]
    if finite.size == 0:
        return None
    low, high = float(finite.min()), float(finite.max())
    return (low + high) / 2 if high - low <= 1e-6 * max(1.0, abs(high)) else None


class LossSurface3DDisplay(_PlaneDisplay):
    """The slice as a 3D surface with two curves over the path:

    * dashed red: the path's heights *on the slice* (the article's way, a projection);
    * solid: the loss training actually saw at each step (faithful wherever the fixed
      parameters moved).
    """

    def __init__(self, landscape, *, actual_loss=None, actual_label=None, fixed_path=None,
                 lang="en", elev=35.0, azim=130.0, aspect="equal"):
        super().__init__(landscape, fixed_path=fixed_path, lang=lang, aspect=aspect)
        self.actual_loss = None if actual_loss is None else np.asarray(actual_loss, dtype=float)
        self.actual_label = actual_label or t("path_actual", self.lang)
        self.elev, self.azim = elev, azim

    def __repr__(self) -> str:
        return (f"LossSurface3DDisplay(axes={self.landscape.axis_names}, grid={self.landscape.loss.shape}, "
                f"actual_loss={'yes' if self.actual_loss is not None else 'no'}, lang={self.lang!r})")

    @classmethod
    def from_landscape(cls, landscape, *, actual_loss=None, actual_label=None, fixed_path=None,
                       lang=None, ax=None, plot=True, aspect="equal"):
        """``actual_loss`` (one value per path row) is the loss to draw along the path as trained."""
        display = cls(landscape, actual_loss=actual_loss, actual_label=actual_label,
                      fixed_path=fixed_path, lang=lang, aspect=aspect)
        return display.plot(ax=ax) if plot else display

    @classmethod
    def from_history(cls, history, x_param="w1", y_param="w2", *, span=8.0, resolution=50,
                     x_range=None, y_range=None, landscape=None, lang=None, ax=None, plot=True):
        """The article's slice plus the loss along the path as trained.

        With full-batch training the full-data loss at ``params[t]`` is exactly the loss that
        step t saw; with mini-batches it is labelled as the full-data loss instead.
        """
        from ..analysis.landscape import param_plane

        land = landscape if landscape is not None else param_plane(
            history, x_param, y_param, span=span, resolution=resolution,
            x_range=x_range, y_range=y_range)
        actual, label_key = actual_path_loss(history, land)
        return cls.from_landscape(land, actual_loss=actual, actual_label=t(label_key, resolve_lang(lang)),
                                  fixed_path=fixed_path_from_history(history, land), lang=lang,
                                  ax=ax, plot=plot)

    def projected_loss(self) -> np.ndarray | None:
        """Heights of the path on the slice (the article's curve); None if the landscape has none."""
        land = self.landscape
        return None if land.path_loss is None else np.asarray(land.path_loss, dtype=float)

    def note(self) -> str:
        # A mini-batch run's solid curve is the whole set's loss, not what each step saw: say so.
        batch = "_batch" if getattr(self.landscape, "minibatch", False) else ""
        if self.moved_text is not None:
            return t("surface_note_moved" + batch, self.lang, moved=self.moved_text)
        plane_note = self._plane_note()
        if plane_note is not None:
            return plane_note
        return t("surface_note_still" + batch, self.lang, fixed=self.fixed_names())

    def plot(self, ax=None, *, note=True):
        """Draw on a 3D ``ax`` (or a new one); keeps ``ax_``, ``figure_``, ``surface_``,
        ``projected_line_`` (None when the landscape has no ``path_loss``), ``actual_line_``
        (None without ``actual_loss``) and ``note_``."""
        land = self.landscape
        with use_language(self.lang):
            ax = axes_or_new(ax, projection="3d", figsize=(7, 6))
            # mplot3d sorts artists by depth, which hides a path behind the surface; draw the
            # curves on top instead (zorder below), as a reader expects to see them.
            ax.computed_zorder = False
            A, B = np.meshgrid(land.alpha, land.beta)
            # Rasterised: thousands of little polygons make vector files large and slow.
            self.surface_ = ax.plot_surface(A, B, land.loss, cmap=palette.cmap("sequential"), alpha=0.5,
                                            rstride=1, cstride=1, linewidth=0, antialiased=False,
                                            rasterized=True, zorder=1)
            path = land.path
            self.projected_line_ = None
            if self.projected_loss() is not None:
                (self.projected_line_,) = ax.plot(
                    path[:, 0], path[:, 1], self.projected_loss(), color=palette.color("path"), linestyle="--",
                    linewidth=2, zorder=3,
                    label=(t("path_projected", self.lang, fixed=self.fixed_names()) if land.fixed
                           else t("path_projected_plane", self.lang)))
            self.actual_line_ = None
            if self.actual_loss is not None:
                (self.actual_line_,) = ax.plot(path[:, 0], path[:, 1], self.actual_loss, color="black",
                                               linewidth=2, label=self.actual_label, zorder=4)
            self._label_axes(ax)
            ax.zaxis.set_rotate_label(False)  # upright text reads better than mplot3d's default
            ax.set_zlabel(t("loss_value", self.lang), rotation=90, labelpad=8)
            ax.view_init(elev=self.elev, azim=self.azim)
            # A little smaller than the Axes, so the z label is not cut at the figure's edge.
            set_plane_aspect(ax, land, self.aspect, zoom=0.95)
            tidy_3d_axes(ax)
            self.legend_ = ax.legend(loc="upper left", fontsize="small")
            self.note_ = None
            if note:
                self.note_ = _note(ax, self.note(), y=-0.03)
        self.ax_, self.figure_ = ax, ax.figure
        self.current_ = None
        return self

    def update(self, row: int):
        """Draw both curves up to row ``row`` only, with a dot where the run is on the loss it saw
        (or, without that curve, on the slice); at the last row the figure is the one ``plot``
        drew (no dot). Returns the artists changed (for blitting)."""
        path, n = self.landscape.path, row + 1
        changed = []
        for line, z in ((self.projected_line_, self.projected_loss()), (self.actual_line_, self.actual_loss)):
            if line is not None:
                line.set_data_3d(path[:n, 0], path[:n, 1], z[:n])
                changed.append(line)
        z = self.actual_loss if self.actual_loss is not None else self.projected_loss()
        if z is None:
            return changed
        if self.current_ is None:  # made once, on the first update
            (self.current_,) = self.ax_.plot([], [], [], "o", color="black", markersize=6, zorder=5)
        self.current_.set_data_3d([path[row, 0]], [path[row, 1]], [z[row]])
        self.current_.set_visible(row < len(path) - 1)
        return [*changed, self.current_, self.legend_]


def _markevery(n: int) -> int:
    """Mark about 60 points of a long path: 1000 dots on top of each other only hide the line."""
    return max(1, n // 60)


def no_finite_loss_note(ax, lang: str):
    """Say, in the top left corner of ``ax`` (under a 3D one, whose legend takes its top), that no
    loss on its slice is finite (drawn instead of an empty contour and a colour bar of made-up losses)."""
    style = dict(transform=ax.transAxes, fontsize="small", zorder=10,
                 bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="0.6", alpha=0.9))
    if hasattr(ax, "text2D"):
        return ax.text2D(0.5, -0.03, t("slice_no_finite", lang), ha="center", va="top", **style)
    return ax.text(0.02, 0.98, t("slice_no_finite", lang), ha="left", va="top", **style)


def _note(ax, text: str, *, y: float = -0.13):
    """A boxed note under the plot area, in axes coordinates so that it moves with the axes."""
    place = ax.text2D if hasattr(ax, "text2D") else ax.text
    return place(0.5, y, text, transform=ax.transAxes, ha="center", va="top", fontsize="small",
                 bbox=dict(boxstyle="round,pad=0.4", facecolor="lightyellow",
                                      edgecolor="0.6", alpha=0.95))
