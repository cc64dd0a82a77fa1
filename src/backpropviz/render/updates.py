"""Update vectors: the steps backpropagation produced, drawn where they act.

* ``UpdateArrowsDisplay``: on the foundation's loss contour (``LossContourDisplay``), an arrow
  for the recorded update of chosen steps; optionally each sample's share as smaller arrows
  laid head to tail (they add up to the step) and the field of -grad L over the slice.
* ``BoundaryPushDisplay``: on the data, the perceptron's boundary before a step and after it,
  and the boundary each sample's share alone would give: how each sample pushes the line.

Steps are tiny next to the view (the article's first step moves (w1, w2) by 0.04 on a
16-wide slice), so arrows are magnified by a round factor that the legend states.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang
from .fonts import font_family, use_language
from .graph import fmt_number, label

SAMPLE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
UPDATE_COLOR = "#c62828"


def nice_scale(target: float) -> float:
    """The largest of 1, 2, 5 x 10^k not above ``target`` (at least 1): a factor people can read."""
    if not math.isfinite(target) or target <= 1:
        return 1.0
    exp = math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * 10 ** exp <= target:
            return float(m * 10 ** exp)
    return float(10 ** exp)


def _fmt_scale(s: float) -> str:
    return f"{s:g}"


class UpdateArrowsDisplay:
    """Arrows of the recorded updates on the loss contour of two parameters.

    >>> d = UpdateArrowsDisplay.from_history(history, steps=[0, 100, 500])   # doctest: +SKIP
    >>> len(d.update_arrows_)                                                 # doctest: +SKIP
    3
    """

    def __init__(self, landscape, updates, *, field=None, fixed_path=None, scale=None, lang="en"):
        self.landscape, self.updates, self.field = landscape, updates, field
        self.fixed_path = fixed_path
        self.lang = resolve_lang(lang)
        names = list(updates.param_names)
        self.ix, self.iy = names.index(landscape.axis_names[0]), names.index(landscape.axis_names[1])
        self.scale = scale if scale is not None else self._auto_scale()

    def __repr__(self) -> str:
        return (f"UpdateArrowsDisplay(steps={self.updates.steps.tolist()}, axes={self.landscape.axis_names}, "
                f"scale={self.scale:g}, per_sample={self.updates.shares is not None}, lang={self.lang!r})")

    def _auto_scale(self) -> float:
        """Magnify so that a typical (median) arrow spans about 1/20 of the view, while the
        longest stays under about a third of it. Steps shrink as training converges, so
        scaling by the longest alone would hide every later one."""
        width = float(self.landscape.alpha[-1] - self.landscape.alpha[0])
        height = float(self.landscape.beta[-1] - self.landscape.beta[0])
        lengths = np.linalg.norm(self.updates.update[:, [self.ix, self.iy]], axis=1)
        lengths = lengths[lengths > 0]
        if not len(lengths):
            return 1.0
        view = min(width, height)
        return nice_scale(min(0.05 * view / float(np.median(lengths)), 0.35 * view / float(lengths.max())))

    @classmethod
    def from_history(cls, history, steps=None, *, x_param=None, y_param=None, n_steps: int = 8,
                     per_sample: bool = False, field: bool = False, zoom: bool | None = None,
                     span: float | None = None, resolution: int = 50, scale=None, lang=None, ax=None,
                     plot=True):
        """Arrows for ``steps`` (default: ``n_steps`` evenly spread) on a slice of ``history``.

        With one step (and ``zoom`` not False) the view is a close-up around that step at
        true scale, the slice taken at that step's parameters, so the contours, the field
        and the arrow are all about the same point. Otherwise the slice is the article's
        (other parameters at their final values) and the arrows are magnified.
        """
        from ..analysis.chain_rule import spread_steps, update_vectors
        from ..analysis.landscape import param_plane
        from .surface import fixed_path_from_history

        names = list(history.param_names)
        x_param = x_param or names[0]
        y_param = y_param or names[1]
        if steps is None:
            steps = spread_steps(history.n_steps, n_steps)
        updates = update_vectors(history, steps, per_sample=per_sample)
        single = len(updates.steps) == 1
        zoom = single if zoom is None else zoom
        ix, iy = history.index(x_param), history.index(y_param)
        if zoom:
            t = int(updates.steps[0])
            moves = [np.hypot(*updates.update[i, [ix, iy]]) for i in range(len(updates.steps))]
            half = span if span is not None else max(6.0 * max(moves), 1e-3)
            center = history.params[t]
            land = param_plane(history, x_param, y_param, center_step=t, resolution=resolution,
                               x_range=(center[ix] - half, center[ix] + half),
                               y_range=(center[iy] - half, center[iy] + half))
            scale = 1.0 if scale is None else scale
        else:
            land = param_plane(history, x_param, y_param, span=span or 8.0, resolution=resolution)
        grad_field = None
        if field:
            from ..analysis.chain_rule import gradient_field

            grad_field = gradient_field(history, land, resolution=15)
        display = cls(land, updates, field=grad_field, fixed_path=fixed_path_from_history(history, land),
                      scale=scale, lang=lang)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Draw the contour (``contour_display_``), then ``update_arrows_`` (one quiver per
        step), ``share_arrows_`` and ``field_`` when present. Keeps ``ax_`` and ``figure_``."""
        from matplotlib.lines import Line2D

        from .surface import LossContourDisplay

        u, s = self.updates, self.scale
        with use_language(self.lang):
            contour = LossContourDisplay.from_landscape(self.landscape, fixed_path=self.fixed_path,
                                                        lang=self.lang, ax=ax)
            ax = contour.ax_
            self.contour_display_ = contour
            self.field_ = None
            if self.field is not None:
                f = self.field
                norm = np.hypot(f.u, f.v)
                norm[norm == 0] = 1.0
                self.field_ = ax.quiver(*np.meshgrid(f.x, f.y), f.u / norm, f.v / norm, color="white",
                                        alpha=0.55, width=0.0025, pivot="mid", zorder=2,
                                        label=label("field_label", self.lang))
            self.share_arrows_ = []
            if u.shares is not None:
                for i in range(len(u.steps)):
                    tail = u.start[i, [self.ix, self.iy]].copy()
                    for k, share in enumerate(u.shares[i]):
                        d = share[[self.ix, self.iy]] * s
                        q = ax.quiver(tail[0], tail[1], d[0], d[1], angles="xy", scale_units="xy", scale=1,
                                      color=SAMPLE_COLORS[k % len(SAMPLE_COLORS)], width=0.004, zorder=5)
                        self.share_arrows_.append(q)
                        tail = tail + d
            self.update_arrows_ = []
            for i in range(len(u.steps)):
                x0, y0 = u.start[i, [self.ix, self.iy]]
                dx, dy = u.update[i, [self.ix, self.iy]] * s
                q = ax.quiver(x0, y0, dx, dy, angles="xy", scale_units="xy", scale=1, color=UPDATE_COLOR,
                              edgecolor="white", linewidth=0.6, width=0.007, zorder=6)
                self.update_arrows_.append(q)
            # name the steps whose arrows are far enough apart to read
            width = float(self.landscape.alpha[-1] - self.landscape.alpha[0])
            last = None
            for i in range(len(u.steps)):
                p0 = u.start[i, [self.ix, self.iy]]
                if last is None or np.linalg.norm(p0 - last) > 0.06 * width:
                    ax.annotate(f"t={int(u.steps[i])}", p0, textcoords="offset points", xytext=(-4, -11),
                                fontsize=7, color="white", ha="right", zorder=6)
                    last = p0
            handles, labels_ = ax.get_legend_handles_labels()
            if self.field_ is not None:  # the white field arrows would vanish on the legend's face
                i = handles.index(self.field_)
                handles[i] = Line2D([], [], color="0.55", lw=0, marker=r"$\rightarrow$", markersize=10)
            handles.append(Line2D([], [], color=UPDATE_COLOR, lw=2.5, marker=">", markersize=6))
            if len(u.steps) == 1:
                labels_.append(label("update_arrow_one", self.lang, step=int(u.steps[0]), scale=_fmt_scale(s)))
            else:
                labels_.append(label("update_arrow", self.lang, scale=_fmt_scale(s)))
            if u.shares is not None:
                n = max(len(sh) for sh in u.shares)
                rows = u.share_samples[0] if u.share_samples else np.arange(n)
                for k in range(min(n, len(SAMPLE_COLORS))):
                    handles.append(Line2D([], [], color=SAMPLE_COLORS[k], lw=2))
                    labels_.append(label("sample_arrow", self.lang, k=int(rows[k]) if k < len(rows) else k,
                                         scale=_fmt_scale(s)))
            contour.legend_.remove()
            if u.shares is not None and len(u.steps) > 1:
                handles, labels_ = handles[: len(handles) - min(n, len(SAMPLE_COLORS))], labels_
                labels_ = labels_[: len(handles)]
                handles.append(Line2D([], [], color=SAMPLE_COLORS[0], lw=2))
                labels_.append(label("sample_arrows", self.lang, scale=_fmt_scale(s)))
            self.legend_ = ax.legend(handles, labels_, loc="upper right", fontsize="x-small", framealpha=0.85)
            x_name, y_name = self.landscape.axis_names
            ax.set_title(label("updates_title", self.lang), fontfamily=font_family(self.lang), pad=16)
            self.note_ = ax.text(0.5, 1.0, label("updates_note", self.lang, x=x_name, y=y_name,
                                                 scale=_fmt_scale(s)),
                                 transform=ax.transAxes, fontsize=7, color="0.25", ha="center", va="bottom")
        self.ax_, self.figure_ = ax, ax.figure
        return self


# -- the boundary ---------------------------------------------------------------------------------


def _line_foot(w, b, p):
    """The point of the line w . x + b = 0 nearest to ``p``."""
    w = np.asarray(w, dtype=float)
    return p - (w @ p + b) / (w @ w) * w


def _foot_in_view(w, b, p, xlim, ylim, margin=0.06):
    """The point of the line nearest to ``p`` among those inside the view (None if the line
    misses the view): an arrow based there stays visible."""
    w = np.asarray(w, dtype=float)
    foot = _line_foot(w, b, p)
    d = np.array([-w[1], w[0]]) / np.linalg.norm(w)
    lo, hi = -np.inf, np.inf
    for axis, (a, c) in enumerate((xlim, ylim)):
        pad = margin * (c - a)
        a, c = a + pad, c - pad
        if abs(d[axis]) < 1e-12:
            if not a <= foot[axis] <= c:
                return None
            continue
        s1, s2 = sorted(((a - foot[axis]) / d[axis], (c - foot[axis]) / d[axis]))
        lo, hi = max(lo, s1), min(hi, s2)
    if lo > hi:
        return None
    return foot + float(np.clip(0.0, lo, hi)) * d


class BoundaryPushDisplay:
    """The perceptron's boundary before step ``step``, after it, and after each sample's share.

    Arrows start on the old line next to each sample and point to where that sample's share
    alone moves the line; all changes are magnified by ``scale`` (stated in the legend).
    """

    def __init__(self, X, y, params, update, shares, *, step: int, samples, scale=None, lang="en"):
        self.X, self.y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.params = np.asarray(params, dtype=float)
        self.update = np.asarray(update, dtype=float)
        self.shares = np.asarray(shares, dtype=float)
        self.step, self.samples = step, np.asarray(samples)
        self.lang = resolve_lang(lang)
        self.scale = scale if scale is not None else self._auto_scale()

    def __repr__(self) -> str:
        return f"BoundaryPushDisplay(step={self.step}, samples={len(self.shares)}, scale={self.scale:g})"

    def _auto_scale(self) -> float:
        """Magnify so that the biggest move of the line near a data point is about 0.3 of the data's span."""
        w, b = self.params[:2], self.params[2]
        if not np.any(w):
            return 1.0
        moves = []
        for k, share in enumerate(self.shares):
            for delta in (share, self.update):
                w2, b2 = w + delta[:2], b + delta[2]
                moves.append(abs(w2 @ self.X[k] + b2 - (w @ self.X[k] + b)) / np.linalg.norm(w))
        extent = float(np.ptp(self.X, axis=0).max()) or 1.0
        biggest = max(moves) if moves else 0.0
        return nice_scale(0.3 * extent / biggest) if biggest > 0 else 1.0

    @classmethod
    def from_history(cls, history, step: int, *, scale=None, lang=None, ax=None, plot=True):
        from ..analysis.chain_rule import chain_rule_table

        table = chain_rule_table(history, step)  # validates the model and the step
        if table.x.shape[1] != 2:
            raise BackpropvizError(f"the boundary view needs two inputs; got {table.x.shape[1]}")
        display = cls(history.X, history.y, table.params, table.recorded_change, -table.lr * table.contrib,
                      step=table.step, samples=table.sample_indices, scale=scale, lang=lang)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Draw on ``ax``: data (via ``BoundaryDisplay``), ``before_``, ``after_``, ``sample_lines_``,
        ``push_arrows_``. Keeps ``ax_`` and ``figure_``."""
        from .boundary import BoundaryDisplay, boundary_segment

        s = self.scale
        with use_language(self.lang):
            base = BoundaryDisplay(self.X, self.y, [], np.zeros((0, 3)), n_epochs=0, lang=self.lang).plot(ax=ax)
            ax = base.ax_
            self.base_display_ = base
            xlim, ylim = base.xlim, base.ylim
            w, b = self.params[:2], self.params[2]

            def draw(theta, **kw):
                seg = boundary_segment(theta[0], theta[1], theta[2], xlim, ylim)
                return None if seg is None else ax.plot(*seg, **kw)[0]

            self.before_ = draw(self.params, color="0.35", lw=2.2,
                                label=label("boundary_before", self.lang, step=self.step))
            self.after_ = draw(self.params + s * self.update, color=UPDATE_COLOR, lw=2.2,
                               label=label("boundary_after", self.lang, scale=_fmt_scale(s)))
            self.sample_lines_, self.push_arrows_ = [], []
            for k, share in enumerate(self.shares):
                color = SAMPLE_COLORS[k % len(SAMPLE_COLORS)]
                theta = self.params + s * share
                line = draw(theta, color=color, lw=1.2, ls="--",
                            label=label("boundary_sample", self.lang, k=int(self.samples[k]), scale=_fmt_scale(s)))
                self.sample_lines_.append(line)
                p = self.X[int(self.samples[k])]
                a = _foot_in_view(w, b, p, xlim, ylim) if np.any(w) else None
                if a is not None and np.any(theta[:2]):
                    # along the old line's normal, from the old line to this sample's line
                    n = w / np.linalg.norm(w)
                    denom = theta[:2] @ n
                    if abs(denom) < 1e-12:
                        continue
                    z = a - (theta[:2] @ a + theta[2]) / denom * n
                    if np.linalg.norm(z - a) > 1e-9:
                        arr = ax.annotate("", xy=z, xytext=a, arrowprops=dict(arrowstyle="-|>", color=color,
                                                                              lw=1.6, mutation_scale=12), zorder=5)
                        self.push_arrows_.append(arr)
                    ax.plot([p[0], a[0]], [p[1], a[1]], color=color, lw=0.6, ls=":", alpha=0.6, zorder=1)
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            base.legend_.remove()
            # outside the axes: inside, it would hide the lines it explains
            self.legend_ = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small",
                                     framealpha=0.9)
            ax.set_title(label("push_title", self.lang, step=self.step), fontfamily=font_family(self.lang),
                         fontsize="medium")
            self.note_ = ax.text(0.5, -0.14, label("push_note", self.lang, scale=_fmt_scale(s)),
                                 transform=ax.transAxes, ha="center", va="top", fontsize=7, color="0.3",
                                 wrap=True)
        self.ax_, self.figure_ = ax, ax.figure
        return self


def write_figure(display_plot, path, figsize, *, lang=None, fmt="png"):
    """Draw with ``display_plot(ax)`` on a new figure and write it to ``path`` atomically.

    The figure and its Axes are made inside ``use_language(lang)``: axis-label artists are
    created with the Axes and keep the font they were born with.
    """
    from pathlib import Path

    from ..history import atomic_write
    from .base import new_figure
    from .figures import check_format, figure_bytes

    fmt = check_format(fmt)
    with use_language(lang):
        fig = new_figure(figsize, layout="constrained")
        display = display_plot(fig.add_subplot())
        data = figure_bytes(fig, fmt)
    atomic_write(Path(path), lambda f: f.write(data))
    return display


__all__ = ["UpdateArrowsDisplay", "BoundaryPushDisplay", "nice_scale", "fmt_number", "write_figure"]
