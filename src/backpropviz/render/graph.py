"""Draw a ``GraphTrace``: the computation graph of one step, forward values and gradients.

Layered layout, left to right: the main chain of operations runs along the middle row,
parameters sit above the operation that uses them, targets and constants below. Every box
shows the node's forward value (black) and the gradient of the loss with respect to it (red).
Forward edges are solid black arrows; backward edges, the way the gradient flows, are red
dashed arcs in the opposite direction. Only matplotlib is needed (no Graphviz);
``GraphTrace.to_dot`` writes DOT text for those who have it.

The labels of this module and of ``render.chain`` / ``render.updates`` live in the one
catalogue, ``backpropviz.i18n.CATALOGUE``, looked up with ``t(key, lang, **fields)``.
"""

from __future__ import annotations

import functools

import numpy as np

from ..i18n import CATALOGUE, resolve_lang, t
from . import palette
from .base import axes_or_new
from .fonts import font_family, use_language

# The old names, for render.chain, render.updates and callers that still import them.
LABELS = CATALOGUE
label = t


def fmt_number(v: float, digits: int = 4) -> str:
    """A number with ``digits`` significant figures, a real minus sign and no '-0'."""
    v = float(v)
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    return text.replace("-", "−")


def value_lines(a, digits: int = 4, max_rows: int = 4, max_cols: int = 3) -> list[str]:
    """A value as lines of text: a number, a short vector, a small matrix, else shape and norm."""
    if a is None:
        return []
    a = np.asarray(a, dtype=float)
    if a.size == 1:
        return [fmt_number(a.reshape(-1)[0], digits)]
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 1 and a.size <= 4:
        return ["[" + ", ".join(fmt_number(v, digits) for v in a) + "]"]
    if a.ndim == 2 and a.shape[0] <= max_rows and a.shape[1] <= max_cols:
        return ["[" + ", ".join(fmt_number(v, digits - 1) for v in row) + "]" for row in a]
    shape = "×".join(map(str, a.shape))
    return [f"({shape}) ‖·‖ = {fmt_number(np.linalg.norm(a), 3)}"]


def _sample_text(x) -> str:
    """One sample's input for a title: its numbers, or the shape of an image or a long row."""
    x = np.asarray(x)
    if x.size <= 6:
        return "(" + ", ".join(fmt_number(v, 3) for v in np.ravel(x)) + ")"
    return "(" + "×".join(map(str, x.shape)) + ")"


KIND_STYLE = {
    "input": dict(facecolor="#e8f1fb", edgecolor="#2c6fbb"),
    "target": dict(facecolor="#f2f2f2", edgecolor="#777777"),
    "param": dict(facecolor="#fff4dc", edgecolor="#c98a00"),
    "const": dict(facecolor="#f2f2f2", edgecolor="#777777"),
    "op": dict(facecolor="#ffffff", edgecolor="#333333"),
    "layer": dict(facecolor="#eef7ee", edgecolor="#2f7d32"),
}
FONT_SIZE = 8.0
LINE_INCH = FONT_SIZE * 1.45 / 72  # one text line, in inches
COL_INCH, ROW_INCH = 2.05, 1.25    # spacing of layers and rows, in inches
BOX_WIDTH = 0.86                   # in layer spacings
MAX_COLUMNS = 8                    # a longer graph is wrapped into bands of at most this many columns
BAND_GAP = 0.4                     # between bands, in rows (room for the edges routed between them)
BACK_BULGE_INCH = 0.36             # how far a backward arc bends away from its forward edge


def summary_line(a, digits: int = 3) -> str:
    """The mean and standard deviation of a value too large to show number by number."""
    a = np.asarray(a, dtype=float)
    return f"μ = {fmt_number(a.mean(), digits)}, σ = {fmt_number(a.std(), digits)}"


def layered_layout(trace, max_columns: int = MAX_COLUMNS) -> dict[str, tuple[float, float]]:
    """Positions ``{node id: (layer, row)}``: operations and inputs on the middle rows,
    parameters above the operation that uses them, targets and constants below. A graph of more
    than ``max_columns`` layers is wrapped, as lines of text are, into bands of equal width, each
    below the one before."""
    return wrap_bands(_columns(trace), max_columns)[0]


def wrap_bands(pos, max_columns: int = MAX_COLUMNS):
    """``(positions, band of each node)``: ``pos`` wrapped into bands of at most ``max_columns``."""
    n_cols = 1 + max(int(x) for x, _ in pos.values())
    if n_cols <= max_columns:
        return pos, dict.fromkeys(pos, 0)
    n_bands = -(-n_cols // max_columns)
    width = -(-n_cols // n_bands)
    band_of = {k: int(x) // width for k, (x, _) in pos.items()}
    offset, offsets, previous_low = 0.0, [], None
    for b in range(n_bands):  # each band just below the lowest row of the one before
        rows = [y for k, (_, y) in pos.items() if band_of[k] == b] or [0.0]
        if previous_low is not None:
            offset = previous_low - max(rows) - 1 - BAND_GAP
        offsets.append(offset)
        previous_low = offset + min(rows)
    return {k: (float(int(x) % width), y + offsets[band_of[k]]) for k, (x, y) in pos.items()}, band_of


def _columns(trace) -> dict[str, tuple[float, float]]:
    """The layout in one band: column = longest path from a source."""
    inputs_of: dict[str, list[str]] = {}
    consumers: dict[str, list[str]] = {}
    for e in trace.edges:
        inputs_of.setdefault(e.dst, []).append(e.src)
        consumers.setdefault(e.src, []).append(e.dst)
    layer: dict[str, int] = {}
    for node in trace.nodes:  # topological order: sources first
        preds = inputs_of.get(node.id, [])
        layer[node.id] = 1 + max((layer[p] for p in preds), default=-1)
    # A leaf that is not an input sits just left of its first consumer, not in column 0.
    for node in trace.nodes:
        if node.kind in ("param", "target", "const") and consumers.get(node.id):
            layer[node.id] = min(layer[c] for c in consumers[node.id]) - 1
    shift = -min(layer.values())
    pos: dict[str, tuple[float, float]] = {}
    main_count: dict[int, int] = {}
    up_count: dict[int, int] = {}
    down_count: dict[int, int] = {}
    for node in trace.nodes:
        col = layer[node.id] + shift
        if node.kind == "param":
            row = 1.0 + up_count.get(col, 0)
            up_count[col] = up_count.get(col, 0) + 1
        elif node.kind in ("target", "const"):
            row = -1.0 - down_count.get(col, 0)
            down_count[col] = down_count.get(col, 0) + 1
        else:
            row = -1.0 * main_count.get(col, 0)
            main_count[col] = main_count.get(col, 0) + 1
            if row < 0:  # a branch: make room below the main row
                row -= 0.2 * down_count.get(col, 0)
        pos[node.id] = (float(col), row)
    return pos


class ComputationGraphDisplay:
    """The graph of one step. ``sample=None`` shows the whole batch, ``sample=k`` sample k.

    >>> from backpropviz.analysis.graph_trace import trace_history_step   # doctest: +SKIP
    >>> d = ComputationGraphDisplay.from_trace(trace_history_step(h, 0), sample=3)  # doctest: +SKIP
    >>> len(d.boxes_), len(d.forward_arrows_), len(d.backward_arrows_)      # doctest: +SKIP
    (9, 8, 7)
    """

    def __init__(self, trace, *, sample: int | None = None, lang="en", digits: int = 4):
        trace.check_sample(sample)
        self.trace, self.sample = trace, sample
        self.lang = resolve_lang(lang)
        self.digits = digits
        self.positions, self.band_of = wrap_bands(_columns(trace))
        from .chain import text_width  # (render.chain imports this module)

        self.lines = {node.id: self.node_lines(node) for node in trace.nodes}
        longest = max(text_width(text) for title, vals, grads in self.lines.values()
                      for text in [title, *vals, *grads])
        # a column must hold the longest line (about 0.55 em per character, a Japanese one two)
        # plus a margin
        self.col_inch = max(COL_INCH, longest * 0.56 * FONT_SIZE / 72 / BOX_WIDTH + 0.1)
        most = max(2 + len(vals) + len(grads) for _, vals, grads in self.lines.values())
        self.row_inch = max(ROW_INCH, (most + 1) * LINE_INCH + 0.45)

    def __repr__(self) -> str:
        return (f"ComputationGraphDisplay(step={self.trace.step}, nodes={len(self.trace.nodes)}, "
                f"sample={self.sample}, lang={self.lang!r})")

    @classmethod
    def from_trace(cls, trace, *, sample=None, lang=None, digits=4, ax=None, plot=True):
        display = cls(trace, sample=sample, lang=lang, digits=digits)
        return display.plot(ax=ax) if plot else display

    @classmethod
    def from_history(cls, history, step: int, *, sample=None, collapse="auto", lang=None, ax=None,
                     plot=True):
        """Trace step ``step`` of ``history`` and draw it."""
        from ..analysis.graph_trace import trace_history_step

        trace = trace_history_step(history, step, collapse=collapse)
        return cls.from_trace(trace, sample=sample, lang=lang, ax=ax, plot=plot)

    # -- text ----------------------------------------------------------------------------------
    def node_lines(self, node) -> tuple[str, list[str], list[str]]:
        """(title, value lines, gradient lines) of ``node`` as shown in its box."""
        value, grad = self.trace.numbers(node, self.sample)
        title = node.name
        if node.kind == "layer":
            vals = value_lines(value, self.digits)
            if np.size(value) > 4:
                vals.append(summary_line(value))
            if node.mode:
                vals.append(self.mode_line(node))
            grads = [f"{t('grad', self.lang)}out: {value_lines(grad, self.digits)[0]}"] if grad is not None else []
            for pname in node.layer_params:
                _, pg = self.trace.layer_param_numbers(node, pname, self.sample)
                short = pname.rpartition(".")[2]
                grads.append(f"{t('grad', self.lang)}{short}: {value_lines(pg, self.digits)[0]}")
            return title, vals, grads
        vals = value_lines(value, self.digits)
        whole = np.asarray(value)
        if node.kind == "target" and whole.size > 4 and np.all(whole == np.round(whole)):
            # class indices: their range says more than their norm
            shape = "×".join(map(str, whole.shape))
            vals = [f"({shape}) " + t("graph_classes", self.lang, lo=int(whole.min()), hi=int(whole.max()))]
        if node.mode:
            vals.append(self.mode_line(node))
        if grad is None:
            grads = [t("no_grad", self.lang)] if node.kind in ("target", "const") else []
        else:
            grads = self._grad_lines(f"{t('grad', self.lang)}{node.name}", grad)
        # a custom autograd.Function: what its backward returned for each input
        by_id = {n.id: n for n in self.trace.nodes}
        for edge, g in zip([e for e in self.trace.edges if e.dst == node.id], node.input_grads):
            if g is not None:
                src = by_id[edge.src]
                if self.sample is not None and src.per_sample:
                    g = g[self.sample]
                grads += self._grad_lines(f"{t('backward_returned', self.lang)} {t('grad', self.lang)}{src.name}", g)
        return title, vals, grads

    def mode_line(self, node) -> str:
        """How a dropout or batch norm layer ran: training mode (random mask, the batch's
        statistics) or eval mode."""
        return t(f"graph_mode_{node.mode}_{node.mode_of}", self.lang)

    def _grad_lines(self, head: str, grad) -> list[str]:
        glines = value_lines(grad, self.digits)
        return [f"{head} = {glines[0]}"] if len(glines) == 1 and len(glines[0]) <= 9 else [head + " ="] + glines

    def title(self) -> str:
        tr = self.trace
        step = tr.step  # None: a trace_step of a model outside any history
        if self.sample is None:
            key = "graph_title_batch" if step is not None else "graph_title_batch_nostep"
            text = t(key, self.lang, step=step, n=tr.n_samples)
        else:
            x_node = next((n for n in tr.nodes if n.kind == "input"), None)
            y_node = next((n for n in tr.nodes if n.kind == "target"), None)
            row = self.sample if tr.sample_indices is None else int(tr.sample_indices[self.sample])
            x = "?" if x_node is None else _sample_text(x_node.value[self.sample])
            y = fmt_number(np.ravel(y_node.value[self.sample])[0], 3) if y_node is not None else "?"
            key = "graph_title_sample" if step is not None else "graph_title_sample_nostep"
            text = t(key, self.lang, step=step, sample=row, x=x, y=y)
        if tr.collapsed:
            text = t("graph_title_collapsed", self.lang, title=text)
        return text

    def note(self) -> str:
        tr = self.trace
        loss = fmt_number(tr.loss, 5)
        if self.sample is None:
            return t("graph_note_batch", self.lang, loss=loss, n=tr.n_samples)
        row = self.sample if tr.sample_indices is None else int(tr.sample_indices[self.sample])
        text = t("graph_note_sample", self.lang, loss=loss, n=tr.n_samples, sample=row)
        if tr.penalty_grads:
            text += " " + t("graph_note_penalty", self.lang)
        return text

    # -- drawing -------------------------------------------------------------------------------
    def figsize(self) -> tuple[float, float]:
        xs = [p[0] for p in self.positions.values()]
        low, high = self.y_extent()
        return (max(7.0, self.col_inch * (max(xs) - min(xs) + 1) + 0.3),
                max(3.8, self.row_inch * (high - low - 0.5) + 1.6))

    def plot(self, ax=None):
        """Draw on ``ax`` (or a new figure). Keeps ``ax_``, ``figure_``, ``boxes_`` (node id ->
        patch), ``texts_``, ``forward_arrows_``, ``backward_arrows_``, ``legend_``, ``note_``."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import FancyBboxPatch

        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=self.figsize())
            fig = ax.figure
            xs = [p[0] for p in self.positions.values()]
            ys = [p[1] for p in self.positions.values()]
            ax.set_xlim(min(xs) - 0.55, max(xs) + 0.55)
            ax.set_ylim(*self.y_extent())
            ax.set_axis_off()
            # data units per inch, to size boxes from their number of text lines
            fig.canvas.draw_idle()
            bbox = ax.get_window_extent().transformed(fig.dpi_scale_trans.inverted())
            low, high = self.y_extent()
            y_per_inch = (high - low) / max(bbox.height, 1e-3)
            line_h = LINE_INCH * y_per_inch

            self.boxes_, self.texts_ = {}, []
            for node in self.trace.nodes:
                x, y = self.positions[node.id]
                title, vals, grads = self.lines[node.id]
                # autograd's own name for the node, as the box's last (small, grey) line
                tag = node.autograd_node if node.autograd_node and node.kind in ("op", "layer") else ""
                n_lines = 1 + len(vals) + len(grads) + (0.8 if tag else 0)
                h = n_lines * line_h + 0.6 * line_h
                style = KIND_STYLE.get(node.kind, KIND_STYLE["op"])
                box = FancyBboxPatch((x - BOX_WIDTH / 2, y - h / 2), BOX_WIDTH, h,
                                     boxstyle="round,pad=0.0,rounding_size=0.05", linewidth=1.2,
                                     zorder=3, **style)
                ax.add_patch(box)
                self.boxes_[node.id] = box
                top = y + h / 2 - 0.3 * line_h
                # IPAexGothic has no bold face: keep titles regular in Japanese
                weight = "bold" if self.lang == "en" else "normal"
                lines = [(title, "black", weight)] + [(v, "black", "normal") for v in vals] \
                    + [(g, palette.color("gradient"), "normal") for g in grads]
                for i, (text, color, weight) in enumerate(lines):
                    self.texts_.append(ax.text(x, top - (i + 0.5) * line_h, text, ha="center",
                                               va="center", fontsize=FONT_SIZE, color=color,
                                               fontweight=weight, zorder=4, clip_on=False))
                if tag:
                    self.texts_.append(ax.text(x, top - (len(lines) + 0.35) * line_h, tag, ha="center",
                                               va="center", fontsize=FONT_SIZE - 1.5, color="0.5", zorder=4))

            self.forward_arrows_, self.backward_arrows_ = [], []
            lanes, back_lanes = {}, {}  # edges between the same two bands run along separate lanes
            for e in self.trace.edges:
                arrow = ax.annotate(
                    "", xy=self._anchor(e.dst), xytext=self._anchor(e.src),
                    arrowprops=dict(arrowstyle="-|>", color="black", lw=1.3, mutation_scale=12,
                                    connectionstyle=self._route(ax, e.src, e.dst, 0.0, lanes, y_per_inch)
                                    or "arc3,rad=0",
                                    patchA=self.boxes_[e.src], patchB=self.boxes_[e.dst],
                                    shrinkA=1, shrinkB=1), zorder=2)
                self.forward_arrows_.append(arrow)
                if e.label:
                    (x0, y0), (x1, y1) = self._anchor(e.src), self._anchor(e.dst)
                    text = t("transpose", self.lang) if e.label == "ᵀ" else e.label
                    ax.text(0.5 * (x0 + x1) + 0.04, 0.5 * (y0 + y1), text, fontsize=FONT_SIZE,
                            ha="left", va="bottom", color="black", zorder=4)
            for e in self.trace.backward_edges():
                bend = min(0.35, 2 * BACK_BULGE_INCH / self._inches(e.src, e.dst))  # an arc above its edge
                arrow = ax.annotate(
                    "", xy=self._anchor(e.dst), xytext=self._anchor(e.src),
                    arrowprops=dict(arrowstyle="-|>", color=palette.color("gradient"), lw=1.1, linestyle="--",
                                    mutation_scale=11,
                                    connectionstyle=self._route(ax, e.src, e.dst, -0.08, back_lanes, y_per_inch)
                                    or f"arc3,rad={bend:.4f}",
                                    patchA=self.boxes_[e.src], patchB=self.boxes_[e.dst],
                                    shrinkA=1, shrinkB=1), zorder=1)
                self.backward_arrows_.append(arrow)

            handles = [Line2D([], [], color="black", lw=1.3, marker=">", markersize=5,
                              label=t("forward_legend", self.lang)),
                       Line2D([], [], color=palette.color("gradient"), lw=1.1, linestyle="--", marker="<",
                              markersize=5, label=t("backward_legend", self.lang))]
            self.legend_ = ax.legend(handles=handles, loc="upper left", fontsize=FONT_SIZE,
                                     frameon=False, ncol=2, bbox_to_anchor=(0.0, 1.0))
            # The Axes' title artist predates this context: give it the language's font.
            ax.set_title(self.title(), fontsize=FONT_SIZE + 3, fontfamily=font_family(self.lang))
            self.note_ = ax.text(0.5, 0.0, self.note(), transform=ax.transAxes, ha="center",
                                 va="top", fontsize=FONT_SIZE, wrap=True, color="0.25")
        self.ax_, self.figure_ = ax, fig
        return self

    def _anchor(self, node_id):
        return self.positions[node_id]

    def _skips(self, src, dst) -> bool:
        """Whether the forward edge src -> dst jumps over columns of its row (a residual
        connection): it is then drawn just below the row, not through the boxes between."""
        (x0, y0), (x1, y1) = self.positions[src], self.positions[dst]
        return y0 == y1 and x1 - x0 > 1

    def _route(self, ax, src, dst, shift, lanes, y_per_inch):
        """For an edge from one band to another: out of the upper box to its right, down the
        gutter between two columns, along the gap between the bands (``shift`` rows lower, and
        lower again for each edge before it in ``lanes``), down the gutter left of the lower box
        and into it from the left; no box is crossed. None for an edge within a band."""
        if self._skips(src, dst) or self._skips(dst, src):
            return self._under_row(ax, src, dst, shift, y_per_inch)
        if self.band_of[src] == self.band_of[dst]:
            return None
        pair = frozenset((self.band_of[src], self.band_of[dst]))
        lanes[pair] = lanes.get(pair, -1) + 1
        upper, lower = (src, dst) if self.positions[src][1] > self.positions[dst][1] else (dst, src)
        rows = lambda b: [y for k, (_, y) in self.positions.items() if self.band_of[k] == b]  # noqa: E731
        gap = 0.5 * (min(rows(self.band_of[upper])) + max(rows(self.band_of[lower]))) + shift - 0.16 * lanes[pair]
        side = 0.5 - shift / 2  # the backward edge (shift < 0) runs a little beside the forward one
        (xu, yu), (xl, yl) = self.positions[upper], self.positions[lower]
        points = [(xu + side, yu), (xu + side, gap), (xl - side, gap), (xl - side, yl)]
        return _along_gap_class()(ax.transData, points if upper == src else points[::-1])

    def _under_row(self, ax, src, dst, shift, y_per_inch):
        """A residual edge (one that skips columns of its row): down out of one box, along just
        below the boxes it skips, up into the other; the backward edge a little lower."""
        (x0, y0), (x1, y1) = self.positions[src], self.positions[dst]
        lo, hi = min(x0, x1), max(x0, x1)
        bottom = min(self.boxes_[k].get_y() for k, (x, y) in self.positions.items() if y == y0 and lo <= x <= hi)
        level = bottom - (0.07 - 1.1 * shift) * y_per_inch  # shift < 0: the backward edge, 0.09 inch lower
        step = 0.12 if x1 > x0 else -0.12
        return _along_gap_class()(ax.transData, [(x0 + step, level), (x1 - step, level)])

    def _inches(self, src, dst) -> float:
        (x0, y0), (x1, y1) = self.positions[src], self.positions[dst]
        return max(float(np.hypot((x1 - x0) * self.col_inch, (y1 - y0) * self.row_inch)), 1e-3)

    def y_extent(self) -> tuple[float, float]:
        """The rows drawn, in data units (with room for the edges just below the lowest boxes)."""
        ys = [p[1] for p in self.positions.values()]
        return min(ys) - 0.75, max(ys) + 0.75


@functools.cache
def _along_gap_class():
    """matplotlib's connection style for edges between bands (made on first use: matplotlib is
    imported only where drawing happens)."""
    from matplotlib.patches import ConnectionStyle
    from matplotlib.path import Path

    class AlongGap(ConnectionStyle._Base):
        """From A through ``points`` (data coordinates, mapped by ``transform`` when drawn) to B."""

        def __init__(self, transform, points):
            self.transform, self.points = transform, points

        def connect(self, posA, posB):
            vertices = [posA, *self.transform.transform(self.points), posB]
            return Path(vertices, [Path.MOVETO] + [Path.LINETO] * (len(vertices) - 1))

    return AlongGap


def write_graph_figure(trace, path, *, sample=None, lang=None, fmt="png", history=None):
    """Render the graph into ``path`` (atomically); returns the Display. ``history``: the run
    traced, whose figure then says where it diverged, if it did."""
    from pathlib import Path

    from ..history import atomic_write
    from .base import new_figure, note_diverged
    from .figures import check_format, figure_bytes

    display = ComputationGraphDisplay(trace, sample=sample, lang=lang)
    with use_language(display.lang):  # axis artists keep the font they are created with
        fig = new_figure(display.figsize(), layout="constrained")
        display.plot(ax=fig.add_subplot())
        if history is not None:
            note_diverged(fig, history, display.lang)
        data = figure_bytes(fig, check_format(fmt))
    atomic_write(Path(path), lambda f: f.write(data))
    return display

