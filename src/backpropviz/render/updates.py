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
from . import palette
from .base import fmt_value
from .fonts import font_family, use_language
from .graph import fmt_number, label

# Per-sample shares are drawn (and listed) only for batches up to this size: beyond it the
# colours (eight in either palette) repeat and the arrows are too short and too many to tell apart.
MAX_SHARE_SAMPLES = 8


def sample_color(k: int) -> str:
    """The colour of sample ``k``'s share in the palette in use."""
    colors = palette.colors("samples")
    return colors[k % len(colors)]


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


def _auto_scale(update_xy: np.ndarray, width: float, height: float) -> float:
    """Magnify so that a typical (median) arrow spans about 1/20 of the view, while the
    longest stays under about a third of it. Steps shrink as training converges, so
    scaling by the longest alone would hide every later one."""
    lengths = np.linalg.norm(update_xy, axis=1)
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    view = min(width, height)
    if not len(lengths) or not (math.isfinite(view) and view > 0):
        return 1.0
    return nice_scale(min(0.05 * view / float(np.median(lengths)), 0.35 * view / float(lengths.max())))


def arrow_points(updates, ix: int, iy: int, scale: float) -> np.ndarray:
    """Every point the arrows of ``updates`` reach in the (ix, iy) plane at ``scale``: tails,
    heads and the heads of the per-sample shares laid head to tail (finite points only)."""
    pts = []
    for i in range(len(updates.steps)):
        tail = updates.start[i, [ix, iy]]
        pts += [tail, tail + scale * updates.update[i, [ix, iy]]]
        if shares_drawn(updates, i):
            pts += list(tail + scale * np.cumsum(updates.shares[i][:, [ix, iy]], axis=0))
    pts = np.array(pts, dtype=float).reshape(-1, 2)
    return pts[np.isfinite(pts).all(axis=1)]


def shares_drawn(updates, i: int) -> bool:
    """Whether step i's per-sample shares are drawn: known, and a batch small enough to read."""
    return updates.shares is not None and len(updates.shares[i]) <= MAX_SHARE_SAMPLES


def _min_half(center) -> float:
    """The smallest half-width of a view around ``center`` that float32 still resolves."""
    c = np.asarray(center, dtype=float)
    c = c[np.isfinite(c)]
    return max(1e-3, 1e-4 * float(np.abs(c).max()) if c.size else 0.0)


class UpdateArrowsDisplay:
    """Arrows of the recorded updates on the loss contour of two parameters.

    >>> d = UpdateArrowsDisplay.from_history(history, steps=[0, 100, 500])   # doctest: +SKIP
    >>> len(d.update_arrows_)                                                 # doctest: +SKIP
    3
    """

    def __init__(self, landscape, updates, *, field=None, fixed_path=None, scale=None, batch_sizes=None,
                 n_samples=None, lang="en"):
        self.landscape, self.updates, self.field = landscape, updates, field
        # samples in each drawn step's batch (None: every step saw the whole training set)
        self.batch_sizes = None if batch_sizes is None else np.asarray(batch_sizes, dtype=int)
        self.n_samples = n_samples
        self.fixed_path = fixed_path
        self.lang = resolve_lang(lang)
        names = list(updates.param_names)
        self.ix, self.iy = names.index(landscape.axis_names[0]), names.index(landscape.axis_names[1])
        self.scale = scale if scale is not None else self._auto_scale()

    def __repr__(self) -> str:
        return (f"UpdateArrowsDisplay(steps={self.updates.steps.tolist()}, axes={self.landscape.axis_names}, "
                f"scale={self.scale:g}, per_sample={self.updates.shares is not None}, lang={self.lang!r})")

    def _auto_scale(self) -> float:
        """See ``_auto_scale``: a round factor that makes the arrows readable on this view."""
        return _auto_scale(self.updates.update[:, [self.ix, self.iy]],
                           float(self.landscape.alpha[-1] - self.landscape.alpha[0]),
                           float(self.landscape.beta[-1] - self.landscape.beta[0]))

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
            scale = 1.0 if scale is None else scale
            center = history.params[t].astype(np.float64)[[ix, iy]]
            moves = [np.hypot(*updates.update[i, [ix, iy]]) for i in range(len(updates.steps))]
            moves = [m for m in moves if np.isfinite(m)] or [0.0]
            # every arrow head stays inside the view, which float32 can still resolve
            reach = np.abs(arrow_points(updates, ix, iy, scale) - center).max(initial=0.0)
            half = span if span is not None else max(6.0 * max(moves), 1.15 * reach, _min_half(center))
            land = param_plane(history, x_param, y_param, center_step=t, resolution=resolution,
                               x_range=(center[0] - half, center[0] + half),
                               y_range=(center[1] - half, center[1] + half))
        else:
            # the article's slice (final values +- span), widened so that every arrow head is inside
            half = span or 8.0
            center = history.params[-1].astype(np.float64)[[ix, iy]]
            half = max(half, _min_half(center))
            if scale is None:
                scale = _auto_scale(updates.update[:, [ix, iy]], 2 * half, 2 * half)
            pts = arrow_points(updates, ix, iy, scale)
            lo, hi = center - half, center + half
            if len(pts):
                # room beyond the tips for the arrow heads, which are drawn wider than their tip
                pad = 0.05 * np.maximum(hi - lo, pts.max(axis=0) - pts.min(axis=0))
                lo, hi = np.minimum(lo, pts.min(axis=0) - pad), np.maximum(hi, pts.max(axis=0) + pad)
            land = param_plane(history, x_param, y_param, resolution=resolution,
                               x_range=(lo[0], hi[0]), y_range=(lo[1], hi[1]))
        grad_field = None
        if field:
            from ..analysis.chain_rule import gradient_field

            grad_field = gradient_field(history, land, resolution=15)
        sizes = None
        if history.batches is not None:
            sizes = (np.asarray(history.batches)[updates.steps] >= 0).sum(axis=1)
        display = cls(land, updates, field=grad_field, fixed_path=fixed_path_from_history(history, land),
                      scale=scale, batch_sizes=sizes, n_samples=len(history.X), lang=lang)
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
                # directions exist only where the gradient is finite and not zero (a saturated
                # model has none): draw those points, and nothing when there are none
                ok = np.isfinite(norm) & (norm > 0)
                if ok.any():
                    XX, YY = np.meshgrid(f.x, f.y)
                    self.field_ = ax.quiver(XX[ok], YY[ok], f.u[ok] / norm[ok], f.v[ok] / norm[ok],
                                            color="white", alpha=0.55, width=0.0025, pivot="mid", zorder=2,
                                            label=label("field_label", self.lang))
            self.share_arrows_ = []
            for i in range(len(u.steps)):
                if not shares_drawn(u, i):
                    continue
                tail = u.start[i, [self.ix, self.iy]].copy()
                for k, share in enumerate(u.shares[i]):
                    d = share[[self.ix, self.iy]] * s
                    if _drawable(tail, d):
                        q = ax.quiver(tail[0], tail[1], d[0], d[1], angles="xy", scale_units="xy", scale=1,
                                      color=sample_color(k), width=0.004, zorder=5)
                        self.share_arrows_.append(q)
                    tail = tail + d
            self.update_arrows_ = []
            for i in range(len(u.steps)):
                x0, y0 = u.start[i, [self.ix, self.iy]]
                dx, dy = u.update[i, [self.ix, self.iy]] * s
                if not _drawable((x0, y0), (dx, dy)):  # a diverged step
                    continue
                q = ax.quiver(x0, y0, dx, dy, angles="xy", scale_units="xy", scale=1, color=palette.color("update"),
                              edgecolor="white", linewidth=0.6, width=0.007, zorder=6)
                self.update_arrows_.append(q)
            self._include_arrows(ax)
            handles, labels_ = ax.get_legend_handles_labels()
            if self.field_ is not None:  # the white field arrows would vanish on the legend's face
                i = handles.index(self.field_)
                handles[i] = Line2D([], [], color="0.55", lw=0, marker=r"$\rightarrow$", markersize=10)
            handles.append(Line2D([], [], color=palette.color("update"), lw=2.5, marker=">", markersize=6))
            if len(u.steps) == 1:
                labels_.append(label("update_arrow_one", self.lang, step=int(u.steps[0]), scale=_fmt_scale(s)))
            else:
                labels_.append(label("update_arrow", self.lang, scale=_fmt_scale(s)))
            contour.legend_.remove()
            if u.shares is not None:
                drawn = [i for i in range(len(u.steps)) if shares_drawn(u, i)]
                if len(u.steps) == 1 and drawn:
                    n = len(u.shares[0])
                    rows = u.share_samples[0] if u.share_samples else np.arange(n)
                    for k in range(n):
                        handles.append(Line2D([], [], color=sample_color(k), lw=2))
                        labels_.append(label("sample_arrow", self.lang, k=int(rows[k]), scale=_fmt_scale(s)))
                elif drawn:
                    handles.append(Line2D([], [], color=sample_color(0), lw=2))
                    labels_.append(label("sample_arrows", self.lang, scale=_fmt_scale(s)))
                if len(drawn) < len(u.steps):
                    handles.append(Line2D([], [], lw=0))
                    labels_.append(label("explain_fix_shares_hidden", self.lang, limit=MAX_SHARE_SAMPLES,
                                         n=max(len(sh) for sh in u.shares)))
            self.legend_ = ax.legend(handles, labels_, loc="best", fontsize="x-small", framealpha=0.85)
            x_name, y_name = self.landscape.axis_names
            lines = [label("updates_note", self.lang, x=x_name, y=y_name, scale=_fmt_scale(s))]
            lines += [text for text in (self.slice_note(), self.batch_note()) if text]
            lines = [wrapped for line in lines for wrapped in _wrap(line, self.lang)]
            ax.set_title(label("updates_title", self.lang), fontfamily=font_family(self.lang),
                         pad=8 + 9 * len(lines))
            self.note_ = ax.text(0.5, 1.0, "\n".join(lines), transform=ax.transAxes, fontsize=7, color="0.25",
                                 ha="center", va="bottom", linespacing=1.3)
            # last, once the layout is settled: name the steps whose arrows are far enough apart to
            # read, where no arrow covers the name
            if ax.figure.get_layout_engine() is not None:
                ax.figure.get_layout_engine().execute(ax.figure)
            width = float(self.landscape.alpha[-1] - self.landscape.alpha[0])
            last = None
            self.step_labels_ = []
            for i in range(len(u.steps)):
                p0 = u.start[i, [self.ix, self.iy]]
                if last is None or np.linalg.norm(p0 - last) > 0.06 * width:
                    self.step_labels_.append(self._step_label(ax, f"t={int(u.steps[i])}", p0))
                    last = p0
        self.ax_, self.figure_ = ax, ax.figure
        return self


    def slice_note(self) -> str | None:
        """What the figure must say when some arrow was computed where the parameters held fixed on
        this slice had other values (the article's slice fixes b at its final value, while step 0
        ran at b = 0): there, the contours and the field are not those the step descended."""
        names = list(self.updates.param_names)
        others = [k for k in range(len(names)) if k not in (self.ix, self.iy)]
        if not others:
            return None
        fixed = np.asarray(self.landscape.origin, dtype=float)[others]
        starts = self.updates.start[:, others]
        differ = [i for i in range(len(self.updates.steps))
                  if any(fmt_value(a) != fmt_value(b) for a, b in zip(starts[i], fixed))]
        if not differ:
            return None
        if len(others) > 3:
            return label("updates_fix_slice_many", self.lang, count=len(others))
        shown = ", ".join(names[k] for k in others)

        def values(row):
            return ", ".join(fmt_value(v) for v in row)

        first, last = differ[0], differ[-1]
        steps = label("updates_fix_slice_step", self.lang, step=int(self.updates.steps[first]), values=values(starts[first]))
        if last != first:
            steps += " … " + label("updates_fix_slice_step", self.lang, step=int(self.updates.steps[last]),
                                   values=values(starts[last]))
        return label("updates_fix_slice", self.lang, names=shown, steps=steps, values=values(fixed))

    def batch_note(self) -> str | None:
        """Say that the field (and the contours) are the whole training set's when a drawn step
        used only a batch of it."""
        sizes = self.batch_sizes
        if sizes is None or self.n_samples is None or not (sizes < self.n_samples).any():
            return None
        shown = ", ".join(str(int(b)) for b in sorted(set(sizes.tolist())))
        key = "updates_fix_batch_field" if self.field is not None else "updates_fix_batch"
        return label(key, self.lang, batch=shown, n=int(self.n_samples))

    def _step_label(self, ax, text, point):
        """A step's name beside its arrow's tail, at the first of a few places around it where
        no update arrow (nor the path's start or end) covers it."""
        from matplotlib import patheffects

        fig = ax.figure
        renderer = fig.canvas.get_renderer()
        ax.apply_aspect()
        segments = []
        for i in range(len(self.updates.steps)):
            tail = self.updates.start[i, [self.ix, self.iy]]
            head = tail + self.scale * self.updates.update[i, [self.ix, self.iy]]
            if np.isfinite(tail).all() and np.isfinite(head).all():
                segments.append(ax.transData.transform(np.array([tail, head])))
        pad = 3.0 * fig.dpi / 72  # the arrows' half width, and a little air
        # the path and its start and end markers too, where a place clear of them exists
        contour = self.contour_display_
        path = ax.transData.transform(contour.path_.get_xydata())
        markers = [ax.transData.transform(m.get_xydata()[:1])[0] for m in (contour.start_, contour.end_)]
        radius = max(contour.start_.get_markersize(), contour.end_.get_markersize()) / 2 * fig.dpi / 72
        inside = ax.get_window_extent(renderer)
        style = dict(textcoords="offset points", fontsize=7, color="white", zorder=7,
                     path_effects=[patheffects.withStroke(linewidth=2, foreground="0.15")])

        def clear(box, strict):
            if any(_segment_hits_box(seg, box) for seg in segments):
                return False
            if not strict:
                return True
            near = any(box.x0 - radius < x < box.x1 + radius and box.y0 - radius < y < box.y1 + radius
                       for x, y in markers)
            return not near and not (len(path) > 1 and _segment_hits_box(path, box))

        for strict in (True, False):
            for dx, dy, ha, va in LABEL_PLACES:
                note = ax.annotate(text, point, xytext=(dx, dy), ha=ha, va=va, **style)
                box = note.get_window_extent(renderer)
                within = inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
                box = type(box).from_extents(box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad)
                if within and clear(box, strict):
                    return note
                note.remove()
        dx, dy, ha, va = LABEL_PLACES[0]
        return ax.annotate(text, point, xytext=(dx, dy), ha=ha, va=va, **style)

    def _include_arrows(self, ax) -> None:
        """Widen the limits (never narrow them) so that every arrow head drawn is inside the axes."""
        pts = arrow_points(self.updates, self.ix, self.iy, self.scale)
        if not len(pts):
            return
        for (lo, hi), v, setter in ((ax.get_xlim(), pts[:, 0], ax.set_xlim), (ax.get_ylim(), pts[:, 1], ax.set_ylim)):
            pad = 0.04 * (max(hi, v.max()) - min(lo, v.min()))  # the heads are wider than their tips
            new_lo, new_hi = min(lo, v.min() - pad), max(hi, v.max() + pad)
            if (new_lo, new_hi) != (lo, hi):
                setter(new_lo, new_hi)


# Where a step's name may go around its arrow's tail (offset in points, alignment), in order.
LABEL_PLACES = [(dx * r, dy * r, ha, va) for r in (1, 2)
                for dx, dy, ha, va in ((-5, -5, "right", "top"), (5, -5, "left", "top"), (-5, 5, "right", "bottom"),
                                       (5, 5, "left", "bottom"), (-8, 0, "right", "center"), (8, 0, "left", "center"),
                                       (0, -9, "center", "top"), (0, 9, "center", "bottom"))]


def _wrap(text: str, lang: str, width: int = 118) -> list[str]:
    """A note's lines, at most ``width`` columns wide (a Japanese character takes two): English
    breaks at spaces; Japanese after 、 or 。 where it can, else between any two characters."""
    import textwrap

    from .chain import text_width

    if lang != "ja":
        return textwrap.wrap(text, width) or [text]
    lines, line = [], ""
    for ch in text:
        if text_width(line + ch) > width:
            cut = max(line.rfind("、"), line.rfind("。"), line.rfind(" "))
            head, line = (line[:cut + 1], line[cut + 1:]) if cut > len(line) // 2 else (line, "")
            lines.append(head.rstrip())
        line += ch
    return lines + ([line] if line.strip() else [])


def _segment_hits_box(segment, box) -> bool:
    """Whether the straight segment (two display points) passes through ``box`` (a Bbox)."""
    from matplotlib.path import Path

    return Path(segment).intersects_bbox(box, filled=False) or box.contains(*segment[0]) or box.contains(*segment[1])


def _drawable(tail, d) -> bool:
    """An arrow matplotlib can place: finite tail and length (a diverged step has neither)."""
    return bool(np.isfinite(np.asarray(tail, dtype=float)).all() and np.isfinite(np.asarray(d, dtype=float)).all())


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
        from matplotlib.lines import Line2D

        from .boundary import BoundaryDisplay, boundary_segment

        s = self.scale
        self.foot_lines_ = 0
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
            self.after_ = draw(self.params + s * self.update, color=palette.color("update"), lw=2.2,
                               label=label("boundary_after", self.lang, scale=_fmt_scale(s)))
            self.sample_lines_, self.push_arrows_ = [], []
            for k, share in enumerate(self.shares):
                color = sample_color(k)
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
                    self.foot_lines_ += 1
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            base.legend_.remove()
            handles, labels_ = ax.get_legend_handles_labels()
            if self.foot_lines_:
                handles.append(Line2D([], [], color="0.4", lw=1.0, ls=":"))
                labels_.append(label("explain_fix_push_foot", self.lang))
            # outside the axes: inside, it would hide the lines it explains
            self.legend_ = ax.legend(handles, labels_, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small",
                                     framealpha=0.9)
            ax.set_title(label("push_title", self.lang, step=self.step), fontfamily=font_family(self.lang),
                         fontsize="medium")
            self.note_ = ax.text(0.5, -0.14, label("push_note", self.lang, scale=_fmt_scale(s)),
                                 transform=ax.transAxes, ha="center", va="top", fontsize=7, color="0.3",
                                 wrap=True)
        self.ax_, self.figure_ = ax, ax.figure
        return self


def write_figure(display_plot, path, figsize, *, lang=None, fmt="png", history=None):
    """Draw with ``display_plot(ax)`` on a new figure and write it to ``path`` atomically.

    The figure and its Axes are made inside ``use_language(lang)``: axis-label artists are
    created with the Axes and keep the font they were born with. ``history``: the run drawn,
    whose figure then says where it diverged, if it did.
    """
    from pathlib import Path

    from ..history import atomic_write
    from .base import new_figure, note_diverged
    from .figures import check_format, figure_bytes

    fmt = check_format(fmt)
    with use_language(lang):
        fig = new_figure(figsize, layout="constrained")
        display = display_plot(fig.add_subplot())
        if history is not None:
            note_diverged(fig, history, resolve_lang(lang))
        data = figure_bytes(fig, fmt)
    atomic_write(Path(path), lambda f: f.write(data))
    return display


__all__ = ["UpdateArrowsDisplay", "BoundaryPushDisplay", "nice_scale", "fmt_number", "write_figure"]
