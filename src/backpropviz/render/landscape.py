"""Views of a ``Landscape`` (any method), a ``LossLine`` and a ``Curvature``.

Every landscape view says which plane it shows (the named parameters and what is fixed, the
random directions and their seed, the principal directions and the share of the path's
variance each explains), draws the path projected onto the plane, and sits beside a panel
that shows, step by step, the loss training saw, the loss of the projected point on the plane,
and the projection residual (how far the path lies from the plane). Where the residual is large
the picture misleads, and the figure says so.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from . import palette
from .base import axes_or_new, freeze_legend, integer_ticks, new_figure, note_diverged, param_label
from .fonts import use_language
from .surface import (aspect_note, check_aspect, equal_scale, label_contours, no_finite_loss_note, set_plane_aspect,
                      tidy_3d_axes)

KINDS = ("contour", "filled", "heatmap", "3d")



def tr(key: str, lang: str, **fmt) -> str:
    """This view's label ``key`` from the one catalogue (``i18n.CATALOGUE["landscape_" + key]``)."""
    return t("landscape_" + key, lang, **fmt)


def describe_plane(land, lang: str) -> tuple[str, str]:
    """(title, subtitle) saying which plane this is and what it holds fixed."""
    cfg = land.config
    step = int(cfg.get("center_step", len(land.path) - 1))
    if land.method == "params":
        x, y = land.axis_names
        if cfg.get("follow_path"):
            return tr("title_follow", lang, x=x, y=y), tr("follow_note", lang)
        fixed = land.fixed
        if not fixed:
            return tr("title_params", lang, x=x, y=y), tr("centre", lang, step=step)
        if len(fixed) <= 3:
            names = ", ".join(f"{n} = {v:.3g}" for n, v in fixed.items())
            return tr("title_params", lang, x=x, y=y), tr("fixed", lang, names=names, step=step)
        return tr("title_params", lang, x=x, y=y), tr("fixed_many", lang, count=len(fixed), step=step)
    subtitle = tr("centre_named", lang, name=centre_label(land)) if of_checkpoints(land) else tr("centre", lang, step=step)
    held = held_text(land, lang)
    if held:
        subtitle = f"{subtitle}; {held}"
    if land.config.get("buffers"):
        subtitle = f"{subtitle}\n{tr('buffers_fixed', lang, n=len(land.config['buffers']), name=centre_label(land))}"
    if land.method == "random":
        return tr("title_random", lang, seed=cfg.get("seed", 0)), subtitle
    if land.method == "pca":
        return tr("title_pca", lang), subtitle
    if land.method == "hessian":
        return tr("title_hessian", lang), subtitle
    return tr("title_custom", lang), subtitle


def of_checkpoints(land) -> bool:
    """Whether the path's rows are checkpoints (or snapshots) of a model of the user's, not the steps
    of a recorded run."""
    return land.config.get("path_kind") == "checkpoints"


def checkpoint_loss_key(land) -> str | None:
    """The label of the checkpoints' own losses (with their own BatchNorm statistics, where that
    is how they were taken); None for a recorded run."""
    if not of_checkpoints(land):
        return None
    return "ckpt_loss_own" if land.config.get("own_buffers") else "ckpt_loss"


def centre_label(land) -> str:
    """The centre's name: its checkpoint's label (a file name), else "row N"."""
    row = int(land.config.get("center_step", len(land.path) - 1))
    labels = land.config.get("path_labels") or []
    return str(labels[row]) if row < len(labels) else f"#{row}"


def held_text(land, lang: str) -> str:
    """For planes along directions (random, pca, custom): the parameters both directions leave
    at the centre's values, with those values ('' when every parameter moves)."""
    fixed = land.fixed
    if land.method == "params" or not fixed:
        return ""
    if len(fixed) <= 3:
        return tr("fix_held", lang, names=", ".join(f"{n} = {v:.3g}" for n, v in fixed.items()))
    if of_checkpoints(land):
        return tr("fix_held_many_named", lang, count=len(fixed), name=centre_label(land))
    return tr("fix_held_many", lang, count=len(fixed), step=int(land.config.get("center_step", len(land.path) - 1)))


def axis_labels(land, lang: str) -> tuple[str, str]:
    if land.method == "params":
        return tuple(param_label(n, lang) for n in land.axis_names)
    if land.method == "pca" and land.explained_variance is not None:
        return tuple(tr("pc_axis", lang, name=n, share=float(s))
                     for n, s in zip(land.axis_names, land.explained_variance))
    if land.method == "hessian" and "hessian_eigenvalues" in land.config:
        return tuple(tr("hessian_axis", lang, k=k, lam=float(v))
                     for k, v in enumerate(land.config["hessian_eigenvalues"], start=1))
    key = "random_dir" if land.method == "random" else "given_dir"
    return tuple(tr("dir_axis", lang, name=tr(key, lang, k=k)) for k in (1, 2))


def is_minibatch(land) -> bool:
    """Whether the run's steps saw batches (files from before ``minibatch`` was recorded: a
    ``batch_size`` in the run's configuration)."""
    if "minibatch" in land.config:
        return land.minibatch
    return land.config.get("run", {}).get("batch_size") is not None


def reference_name(land, lang: str) -> str:
    """What the loss under the path is compared with, in words: the loss training saw (full
    batch: the whole set's), or the whole training set's loss (mini-batch runs)."""
    if of_checkpoints(land):
        return tr("ref_ckpt", lang)
    return tr("ref_set" if is_minibatch(land) else "ref_train", lang)


def residual_note(land, lang: str, *, tolerance: float = 0.05) -> str:
    """Whether the colours under the path are the whole training set's losses at the path's rows
    (within ``tolerance`` of their range), with the projection residual relative to the path's extent."""
    verdict, off = land.fidelity(tolerance)
    key = {"faithful": "residual_note_ok", "mostly": "fix_note_mostly", "construction": "fix_note_construction"
           }.get(verdict, "fix_note_bad")
    lines = [tr(key, lang, rel=land.relative_residual, gap=land.loss_gap, off=off, rows=len(land.path),
                tol=tolerance, ref=reference_name(land, lang))]
    if land.config.get("own_buffers") and verdict != "faithful":
        lines.append(tr("buffers_differ", lang))
    held = held_text(land, lang)
    if held:
        lines.append(held)
    outside, start_out = path_outside(land)
    if outside:
        lines.append(tr("fix_outside", lang, n=outside, rows=len(land.path),
                        start=tr("fix_outside_start", lang) if start_out else ""))
    collapsed = collapsed_scale(land)
    if collapsed is not None:
        lines.append(tr("fix_collapsed", lang, scale=collapsed))
    return "\n".join(lines)


def path_outside(land) -> tuple[int, bool]:
    """(rows of the projected path outside the plotted window, whether the start is one of them)."""
    path = np.asarray(land.path, dtype=float)
    if path.size == 0:
        return 0, False
    x0, x1 = sorted((float(land.alpha[0]), float(land.alpha[-1])))
    y0, y1 = sorted((float(land.beta[0]), float(land.beta[-1])))
    out = ~((path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1))
    return int(out.sum()), bool(out[0])


def collapsed_scale(land) -> float | None:
    """The size of the centre's coordinates when the grid's window is below float precision
    there (every grid point the same number on an axis), else None."""
    for axis in (land.alpha, land.beta):
        axis = np.asarray(axis, dtype=float)
        if axis.size > 1 and float(axis.max()) <= float(axis.min()):
            return float(np.max(np.abs(axis)))
    return None


def _wide(land, ratio: float = 1.6) -> bool:
    """Whether the window is more than ``ratio`` times wider than tall."""
    dx = abs(float(land.alpha[-1]) - float(land.alpha[0]))
    dy = abs(float(land.beta[-1]) - float(land.beta[0]))
    return dy > 0 and dx / dy > ratio


def _limits(grid_axis, path_axis) -> tuple[float, float]:
    """Axis limits: the grid's window, or (when it collapsed to one value) the path's extent
    around it, or a small relative pad; never two equal numbers (matplotlib warns on those)."""
    lo, hi = float(grid_axis[0]), float(grid_axis[-1])
    if hi > lo:
        return lo, hi
    values = np.concatenate([np.asarray(grid_axis, float), np.asarray(path_axis, float)])
    values = values[np.isfinite(values)]
    lo, hi = (float(values.min()), float(values.max())) if values.size else (lo, hi)
    if not hi > lo:
        pad = max(abs(lo) * 1e-6, 1.0)
        lo, hi = lo - pad, hi + pad
    return lo, hi


class LandscapeDisplay:
    """One view of a landscape: ``kind`` is contour, filled, heatmap (log colour scale) or 3d.

    ``aspect="equal"`` (default) draws planes whose two axes share a unit (params, random, pca,
    hessian) to equal scale; ``"auto"`` fills the Axes whatever the window's proportions."""

    def __init__(self, landscape, *, kind: str = "filled", lang: str = "en", levels: int = 30,
                 aspect: str = "equal"):
        from ..errors import BackpropvizError

        if kind not in KINDS:
            raise BackpropvizError(f"unknown landscape view {kind!r}; choose one of: {', '.join(KINDS)}")
        self.landscape, self.kind, self.lang, self.levels = landscape, kind, resolve_lang(lang), levels
        self.aspect = check_aspect(aspect)

    def __repr__(self) -> str:
        return (f"LandscapeDisplay(method={self.landscape.method!r}, kind={self.kind!r}, "
                f"grid={self.landscape.loss.shape}, lang={self.lang!r})")

    @classmethod
    def from_landscape(cls, landscape, *, kind="filled", lang=None, ax=None, plot=True, levels=30, aspect="equal"):
        display = cls(landscape, kind=kind, lang=lang, levels=levels, aspect=aspect)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Draw; keeps ``ax_``, ``figure_``, ``surface_`` (the contour set, image or 3D surface),
        ``colorbar_`` (2D views), ``labels_`` (contour: the level labels), ``path_``, ``start_``, ``end_``.
        A grid with no finite loss (a diverged run's plane) draws no surface and no colour bar
        (both None) but says so (``empty_note_``)."""
        from matplotlib.colors import LogNorm

        land, lang = self.landscape, self.lang
        Z = np.asarray(land.loss, dtype=float)
        A, B = np.meshgrid(land.alpha, land.beta)
        path = np.asarray(land.path, dtype=float)
        title, subtitle = describe_plane(land, lang)
        not_to_scale = aspect_note(land, self.aspect, lang)
        if not_to_scale:
            subtitle = f"{subtitle}\n{not_to_scale}"
        xl, yl = axis_labels(land, lang)
        with use_language(lang):
            ax = axes_or_new(ax, projection="3d" if self.kind == "3d" else None, figsize=(7, 5.5))
            fig = ax.figure
            self.colorbar_, self.labels_, self.surface_, self.empty_note_ = None, [], None, None
            drawable = bool(np.isfinite(Z).any())
            if not drawable:
                self.empty_note_ = no_finite_loss_note(ax, lang)
            if self.kind == "3d":
                ax.computed_zorder = False
                if drawable:
                    self.surface_ = ax.plot_surface(A, B, Z, cmap=palette.cmap("sequential"), alpha=0.55,
                                                    linewidth=0, antialiased=False, rasterized=True, zorder=1)
                heights = land.path_loss if land.path_loss is not None else np.full(len(path), np.nan)
                heights = np.where(np.isfinite(heights), heights, np.nan)  # no point at an infinite height
                # The same styles as the fidelity panel beside it and the overview's Graph 4: the
                # loss on the plane under the path dashed red, the loss training saw solid black.
                (self.path_,) = ax.plot(path[:, 0], path[:, 1], heights, color=palette.color("path"), lw=2, ls="--",
                                        zorder=3, label=tr("plane_loss", lang))
                self.train_line_ = None
                reference = land.reference_loss
                if reference is not None:
                    key = checkpoint_loss_key(land) or ("set_loss" if is_minibatch(land) else "train_loss")
                    (self.train_line_,) = ax.plot(path[:, 0], path[:, 1], reference, color="black",
                                                  lw=2, ls="-", zorder=4, label=tr(key, lang))
                self.start_ = ax.scatter([path[0, 0]], [path[0, 1]], [heights[0]], color="white", marker="*",
                                         s=180, edgecolor="black", zorder=5, label=tr("start", lang))
                self.end_ = ax.scatter([path[-1, 0]], [path[-1, 1]], [heights[-1]], color="black", marker="X",
                                       s=120, edgecolor="white", zorder=5, label=tr("end", lang))
                ax.set_zlabel(tr("loss", lang))
                set_plane_aspect(ax, land, self.aspect)
                tidy_3d_axes(ax)
            else:
                if not drawable:
                    pass
                elif self.kind == "heatmap":
                    positive = Z[np.isfinite(Z) & (Z > 0)]
                    lo = float(positive.min()) if positive.size else 1e-12
                    hi = float(positive.max()) if positive.size and positive.max() > lo else lo * 10
                    self.surface_ = ax.pcolormesh(A, B, np.clip(Z, lo, None), cmap=palette.cmap("heatmap"),
                                                  norm=LogNorm(vmin=lo, vmax=hi), shading="auto", rasterized=True)
                    label = tr("log_loss", lang)
                elif self.kind == "filled":
                    self.surface_ = ax.contourf(A, B, Z, levels=self.levels, cmap=palette.cmap("sequential"))
                    label = tr("loss", lang)
                else:
                    self.surface_ = ax.contour(A, B, Z, levels=self.levels, cmap=palette.cmap("sequential"), linewidths=1)
                    label = tr("loss", lang)
                # In an inset, so that the bar keeps the height of a plot drawn to equal scale.
                if drawable:
                    self.colorbar_ = fig.colorbar(self.surface_, cax=ax.inset_axes([1.03, 0.0, 0.035, 1.0]),
                                                  label=label)
                if drawable and self.kind != "heatmap":  # a short bar holds few labels (the log bar places its own)
                    from matplotlib.ticker import MaxNLocator

                    self.colorbar_.locator = MaxNLocator(nbins=6)
                    self.colorbar_.update_ticks()
                (self.path_,) = ax.plot(path[:, 0], path[:, 1], "-", color=palette.color("path_2d"), lw=1.5, label=tr("path", lang))
                every = max(1, len(path) // 40)
                (self.dots_,) = ax.plot(path[::every, 0], path[::every, 1], ".", color=palette.color("path_2d"), ms=4)
                (self.start_,) = ax.plot(path[0, 0], path[0, 1], "w*", ms=15, mec="black", ls="none",
                                         label=tr("start", lang))
                (self.end_,) = ax.plot(path[-1, 0], path[-1, 1], "kX", ms=12, mec="white", ls="none",
                                       label=tr("end", lang))
                ax.set_xlim(*_limits(land.alpha, path[:, 0]))
                ax.set_ylim(*_limits(land.beta, path[:, 1]))
                set_plane_aspect(ax, land, self.aspect)
                # Labels clear of the path and its markers: 200 points along the drawn polyline.
                along = np.linspace(0, len(path) - 1, 200)
                line = np.stack([np.interp(along, np.arange(len(path)), path[:, k]) for k in range(2)], axis=1)
                self.labels_ = label_contours(ax, self.surface_, avoid=line) if drawable and self.kind == "contour" \
                    else []
            if not ax.get_xlabel():
                ax.set_xlabel(xl)
            if not ax.get_ylabel():
                if self.kind != "3d" and equal_scale(land, self.aspect) and _wide(land) and " (" in yl:
                    yl = yl.replace(" (", "\n(", 1)  # a flat panel drawn to scale: the label in two lines
                ax.set_ylabel(yl)
            if not ax.get_title():
                ax.set_title(f"{title}\n{subtitle}", fontsize="medium")
            self.legend_ = ax.legend(loc="upper right" if self.kind == "3d" else "best", fontsize="x-small",
                                     framealpha=0.85)
        self.ax_, self.figure_ = ax, fig
        self._frozen = False
        return self

    def update(self, row: int):
        """Draw the path up to row ``row`` only, the end marker there (the moving point); at the
        last row it is the figure ``plot`` drew. 2D views only. Returns the artists changed."""
        from ..errors import BackpropvizError

        if self.kind == "3d":
            raise BackpropvizError("the landscape animates in its 2D views (filled, contour, heatmap); got 3d")
        if not self._frozen:  # "best" follows the lines at every draw: keep it where plot put it
            freeze_legend(self.legend_, self.ax_)
            self._frozen = True
        path = np.asarray(self.landscape.path, dtype=float)
        every = max(1, len(path) // 40)
        self.path_.set_data(path[: row + 1, 0], path[: row + 1, 1])
        self.dots_.set_data(path[: row + 1 : every, 0], path[: row + 1 : every, 1])
        self.end_.set_data([path[row, 0]], [path[row, 1]])
        return [self.path_, self.dots_, self.start_, self.end_, self.legend_]


class PathFidelityDisplay:
    """Per step: the whole training set's loss at the path's rows (for full-batch training, the
    loss training saw), the loss of the projected point on the plane, and (right axis) the
    distance of the path from the plane. For a mini-batch run the batch loss each step saw is
    drawn too, thin and labelled as such: it is noisy and not what the verdict compares."""

    def __init__(self, landscape, *, lang: str = "en", batch_losses: bool | None = None):
        self.landscape, self.lang = landscape, resolve_lang(lang)
        self.batch_losses = is_minibatch(landscape) if batch_losses is None else bool(batch_losses)

    def __repr__(self) -> str:
        return f"PathFidelityDisplay(rows={len(self.landscape.path)}, lang={self.lang!r})"

    @classmethod
    def from_landscape(cls, landscape, *, lang=None, ax=None, plot=True, batch_losses=None):
        display = cls(landscape, lang=lang, batch_losses=batch_losses)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Keeps ``ax_``, ``residual_ax_``, ``train_line_`` (the loss the verdict compares with:
        ``land.reference_loss``), ``batch_line_`` (mini-batch runs: each step's batch loss, else
        None), ``plane_line_``, ``residual_line_``, ``note_``."""
        land, lang = self.landscape, self.lang
        steps = np.arange(len(land.path))
        # one row only (a run that diverged at its first step) would be invisible lines: mark it,
        # whole on the axis' edge
        lone = dict(marker="o", clip_on=False) if len(steps) == 1 else {}
        with use_language(lang):
            ax = axes_or_new(ax, figsize=(7, 4.5))
            self.train_line_ = self.plane_line_ = self.batch_line_ = None
            if self.batch_losses and land.train_loss is not None and land.set_loss is not None:
                (self.batch_line_,) = ax.plot(steps, land.train_loss, color=palette.color("batch_loss"), lw=0.8, alpha=0.45,
                                              label=tr("batch_loss", lang), zorder=1, **lone)
            reference = land.reference_loss
            if reference is not None:
                key = ("set_loss" if land.set_loss is not None else "train_loss_batch") if self.batch_losses \
                    else "train_loss"
                key = checkpoint_loss_key(land) or key
                (self.train_line_,) = ax.plot(steps, reference, color="black", lw=2, label=tr(key, lang), zorder=2,
                                              **lone)
            if land.path_loss is not None:
                (self.plane_line_,) = ax.plot(steps, land.path_loss, color=palette.color("path"), lw=1.5, ls="--",
                                              label=tr("plane_loss", lang), zorder=3, **lone)
            ax.set_xlabel(tr("ckpt_axis" if of_checkpoints(land) else "step", lang))
            integer_ticks(ax.xaxis)
            ax.set_xlim(0, max(len(steps) - 1, 1))  # the axis ends at the last row, not at a round tick
            ax.set_ylabel(tr("loss", lang))
            self.residual_ax_ = ax.twinx()
            self.residual_line_ = None
            if land.path_residual is not None:
                (self.residual_line_,) = self.residual_ax_.plot(steps, land.path_residual, color=palette.color("residual"),
                                                                lw=1, alpha=0.8, label=tr("residual", lang),
                                                                **lone)
                top = float(np.max(land.path_residual)) if len(land.path_residual) else 0.0
                self.residual_ax_.set_ylim(0, top * 1.1 if top > 0 else 1.0)
            self.residual_ax_.set_ylabel(tr("residual", lang), color=palette.color("residual"))
            handles = [h for h in (self.train_line_, self.batch_line_, self.plane_line_, self.residual_line_)
                       if h is not None]
            self.legend_ = ax.legend(handles=handles, loc="upper right", fontsize="x-small", framealpha=0.85)
            ax.set_title(tr("fidelity_title", lang), fontsize="medium")
            self.note_ = ax.text(0.5, -0.13, residual_note(land, lang), transform=ax.transAxes, ha="center",
                                 va="top", fontsize="small",
                                 bbox=dict(boxstyle="round,pad=0.3", facecolor="lightyellow", edgecolor="0.6"))
        self.ax_, self.figure_ = ax, ax.figure
        self.cursor_ = None
        return self

    def update(self, row: int):
        """A cursor at step ``row`` across the panel (none at the last row: the static figure)."""
        if self.cursor_ is None:  # made once, on the first update
            self.cursor_ = self.ax_.axvline(0, color="0.35", lw=1, ls=":", zorder=1.5)
        self.cursor_.set_xdata([row, row])
        self.cursor_.set_visible(row < len(self.landscape.path) - 1)
        return [self.cursor_]


class LandscapeFigure:
    """``landscape_figure`` as one scene: the plane and the fidelity panel move together."""

    def __init__(self, landscape, kind: str = "filled", *, lang=None, aspect: str = "equal"):
        self.figure_, self.view_, self.fidelity_ = landscape_figure(landscape, kind, lang=lang, aspect=aspect)

    def __repr__(self) -> str:
        return f"LandscapeFigure({self.view_!r})"

    def update(self, row: int):
        return [*self.view_.update(row), *self.fidelity_.update(row)]


def landscape_figure(landscape, kind: str = "filled", *, lang=None, aspect: str = "equal"):
    """A figure with the landscape view (left) and the path-fidelity panel (right)."""
    lang = resolve_lang(lang)
    with use_language(lang):
        fig = new_figure((14, 6), layout="constrained")
        left = fig.add_subplot(1, 2, 1, projection="3d" if kind == "3d" else None)
        right = fig.add_subplot(1, 2, 2)
        view = LandscapeDisplay.from_landscape(landscape, kind=kind, lang=lang, ax=left, aspect=aspect)
        fidelity = PathFidelityDisplay.from_landscape(landscape, lang=lang, ax=right)
        note_diverged(fig, landscape, lang)  # the landscape of a run that diverged says at which step
    return fig, view, fidelity


class LossLineDisplay:
    """The loss along a straight line between two parameter vectors, with both ends marked."""

    def __init__(self, line, *, lang: str = "en"):
        self.line, self.lang = line, resolve_lang(lang)

    def __repr__(self) -> str:
        return f"LossLineDisplay({self.line.labels[0]!r} -> {self.line.labels[1]!r}, lang={self.lang!r})"

    @classmethod
    def from_line(cls, line, *, lang=None, ax=None, plot=True):
        display = cls(line, lang=lang)
        return display.plot(ax=ax) if plot else display

    def end_labels(self) -> tuple[str, str]:
        """The two ends' names in the display's language: the steps (and runs) of the line's config,
        else the labels the line was given (its default "start" and "end" translated)."""
        config, lang = self.line.config or {}, self.lang
        steps = config.get("steps")
        if config.get("kind") == "steps" and steps:
            return tuple(tr("line_end_step", lang, step=s) for s in steps)
        if config.get("kind") == "runs" and steps:
            return tuple(tr("line_end_run", lang, run=r, step=s) for r, s in zip("AB", steps))
        named = {"start": tr("start", lang), "end": tr("end", lang)}
        return tuple(named.get(str(name), str(name)) for name in self.line.labels)

    def plot(self, ax=None):
        """Keeps ``ax_``, ``figure_``, ``line_``, ``ends_``, ``chord_`` (the straight line between the
        ends' losses) and ``barrier_`` (the arrow of the barrier height above it, None if undefined)."""
        line, lang = self.line, self.lang
        a, b = self.end_labels()
        with use_language(lang):
            ax = axes_or_new(ax, figsize=(7, 4.5))
            (self.line_,) = ax.plot(line.t, line.loss, color=palette.color("line"), lw=2)
            ends = [np.argmin(np.abs(line.t - v)) for v in (0.0, 1.0)]
            self.ends_ = ax.scatter(line.t[ends], line.loss[ends], color=["white", "black"], edgecolor="black",
                                    s=80, zorder=3)
            for k, name in zip(ends, (a, b)):
                ax.annotate(name, (line.t[k], line.loss[k]), textcoords="offset points", xytext=(6, 8),
                            fontsize="small")
            # The barrier is measured against the straight line between the ends' losses: draw it.
            (l0, l1), barrier = line.end_losses, line.barrier
            (self.chord_,) = ax.plot([0, 1], [l0, l1], color="0.35", lw=1, ls="--", label=tr("line_chord", lang))
            self.barrier_ = None
            if np.isfinite(barrier):
                bt = line.barrier_t
                self.barrier_ = ax.annotate("", xy=(bt, (1 - bt) * l0 + bt * l1 + barrier),
                                            xytext=(bt, (1 - bt) * l0 + bt * l1),
                                            arrowprops=dict(arrowstyle="<->", color=palette.color("line"), lw=1))
                said = tr("line_barrier", lang, b=barrier, t=bt) if barrier > 0 else tr("line_no_barrier", lang)
                self.chord_.set_label(f"{tr('line_chord', lang)}\n{said}")
            ax.legend(loc="best", fontsize="x-small", framealpha=0.85)
            ax.set_xlabel(tr("line_x", lang, a=a, b=b))
            ax.set_ylabel(tr("loss", lang))
            title = tr("line_title", lang, a=a, b=b)
            buffers = (line.config or {}).get("buffers")
            if buffers:
                key = "line_buffers_interp" if line.config.get("buffers_mode") == "interpolate" else "line_buffers"
                title = f"{title}\n{tr(key, lang, n=len(buffers), name=a)}"
            ax.set_title(title, fontsize="medium")
            ax.axvspan(0, 1, color="0.92", zorder=0)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class CurvatureDisplay:
    """lambda_max along the path against 2 / lr (plain gradient descent is unstable above that
    line), and lambda_min: below zero the loss curves down along some direction (a saddle)."""

    def __init__(self, steps, lambda_max, lr, *, lambda_min=None, point=None, lang: str = "en"):
        self.steps, self.lambda_max = np.asarray(steps), np.asarray(lambda_max, dtype=float)
        self.lambda_min = None if lambda_min is None else np.asarray(lambda_min, dtype=float)
        self.lr, self.point, self.lang = lr, point, resolve_lang(lang)

    def __repr__(self) -> str:
        return f"CurvatureDisplay(points={len(self.steps)}, lr={self.lr}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, *, step=-1, lang=None, ax=None, plot=True):
        from ..analysis.curvature import curvature_at, eigenvalues_along_path

        steps, eig = eigenvalues_along_path(history)
        point = curvature_at(history, step)
        display = cls(steps, eig[:, -1], point.lr_used, lambda_min=eig[:, 0], point=point, lang=lang)
        return display.plot(ax=ax) if plot else display

    def note(self) -> str:
        """The centre step's numbers: lambda_max and the bound, lambda_min, the top eigenvalues."""
        p, lang = self.point, self.lang
        flat = not (np.isfinite(p.lambda_max) and p.lambda_max > 0)
        lines = [tr("fix_curv_note_flat", lang, step=p.step, lam=p.lambda_max, lr=p.lr_used) if flat else
                 tr("fix_curv_note", lang, step=p.step, lam=p.lambda_max, lrmax=p.lr_max, lr=p.lr_used)]
        if np.isfinite(p.lambda_min):
            lines.append(tr("curv_note_min", lang, lam=p.lambda_min,
                            negative=tr("curv_negative", lang) if p.negative_curvature else ""))
        if len(p.top) > 1:
            lines.append(tr("curv_note_top", lang, k=len(p.top), values=", ".join(f"{v:.3g}" for v in p.top)))
        return "\n".join(lines)

    def plot(self, ax=None, *, min_ax=None):
        """Draw lambda_max on ``ax`` and lambda_min on ``min_ax`` (a new figure: two panels, one
        above the other; ``ax`` given alone: both on it). Keeps ``ax_``, ``min_ax_``, ``figure_``,
        ``lambda_line_`` (lambda_max), ``min_line_`` (lambda_min, or None), ``edge_line_``, ``note_``."""
        lang = self.lang
        # one step only (a run that diverged at its first step): a marker, whole on the axis' edge
        lone = dict(marker="o", clip_on=False) if len(self.steps) == 1 else {}
        with use_language(lang):
            if ax is None:
                fig = new_figure((8, 6.2), layout="constrained")
                if self.lambda_min is not None:
                    ax, min_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
                else:
                    ax = fig.add_subplot()
            min_ax = min_ax if min_ax is not None else ax
            (self.lambda_line_,) = ax.plot(self.steps, self.lambda_max, color=palette.color("lambda_max"), lw=2,
                                           label=tr("fix_lambda_max", lang), **lone)
            self.edge_line_ = None
            if self.lr:
                self.edge_line_ = ax.axhline(2 / self.lr, color=palette.color("edge"), ls="--",
                                             label=tr("edge", lang, edge=2 / self.lr))
            self.min_line_ = None
            if self.lambda_min is not None:
                (self.min_line_,) = min_ax.plot(self.steps, self.lambda_min, color=palette.color("lambda_min"), lw=1.5, ls="-.",
                                                label=tr("lambda_min", lang), **lone)
                min_ax.axhline(0.0, color="0.5", lw=0.8, zorder=0)
            values = self.lambda_max if min_ax is not ax or self.lambda_min is None else \
                np.concatenate([self.lambda_max, self.lambda_min])
            finite = values[np.isfinite(values)]
            if finite.size and finite.min() > 0:
                ax.set_yscale("log")
            else:
                big = float(np.max(np.abs(finite))) if finite.size else 1.0
                ax.set_yscale("symlog", linthresh=max(big * 1e-3, 1e-12))
            for a in {id(ax): ax, id(min_ax): min_ax}.values():
                a.set_ylabel(tr("eigenvalue", lang))
                a.legend(loc="best", fontsize="small", framealpha=0.85)
            min_ax.set_xlabel(tr("step", lang))
            integer_ticks(min_ax.xaxis)
            if lone:  # no made-up negative steps around the lone one
                min_ax.set_xlim(self.steps[0], self.steps[0] + 1)
            ax.set_title(tr("curv_title", lang), fontsize="medium")
            self.note_ = None
            if self.point is not None:
                # Below the x label, a fixed distance in points whatever the panel's height.
                self.note_ = min_ax.annotate(self.note(), xy=(0.5, 0.0), xycoords="axes fraction", xytext=(0, -36),
                                             textcoords="offset points", ha="center", va="top", fontsize="small",
                                             bbox=dict(boxstyle="round,pad=0.3", facecolor="lightyellow",
                                                       edgecolor="0.6"))
        self.ax_, self.min_ax_, self.figure_ = ax, min_ax, ax.figure
        return self
