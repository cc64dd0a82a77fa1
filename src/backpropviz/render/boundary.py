"""Graph 1: the data and the perceptron's decision boundary at chosen epochs."""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang, t
from . import palette
from .base import axes_or_new, epoch_axis, fmt_epoch, require_perceptron, row_after_epochs
from .fonts import use_language

# The first line is dash-dotted, the last solid, those between dashed: the first and last are
# told apart without their colours (the article's green and red, which many readers cannot).
FIRST_STYLE, LAST_STYLE, BETWEEN_STYLE = "-.", "-", "--"
# Probabilities over the view that differ by less than this are a flat output: no line is
# drawn (weights of ~1e-7 still define one, somewhere, but the model predicts nothing there).
FLAT_TOL = 1e-3


def flat_output(w1: float, w2: float, b: float, xlim, ylim) -> float | None:
    """The perceptron's output probability when it is the same over the whole view (within
    ``FLAT_TOL``), else None. The output is monotone along any line, so the view's corners
    hold its extremes.

    >>> flat_output(1e-7, -1e-7, 0.0, (-0.2, 1.2), (-0.2, 1.2))
    0.5
    """
    corners = np.array([[x, y] for x in xlim for y in ylim], dtype=float)
    with np.errstate(over="ignore"):
        p = 1.0 / (1.0 + np.exp(-(corners @ np.array([w1, w2], dtype=float) + b)))
    if not np.isfinite(p).all() or p.max() - p.min() >= FLAT_TOL:
        return None
    return float(np.round(p.mean(), 6))


def boundary_segment(w1: float, w2: float, b: float, xlim, ylim):
    """End points of the line w1*x1 + w2*x2 + b = 0 across the view, or None if w1 = w2 = 0.

    The usual form x2 = -(w1*x1 + b) / w2 divides by zero when w2 is 0; the line is then
    vertical, at x1 = -b / w1.
    """
    scale = max(abs(w1), abs(w2), abs(b), 1e-300)
    if abs(w2) <= 1e-12 * scale:
        if abs(w1) <= 1e-12 * scale:
            return None
        x = -b / w1
        return np.array([x, x]), np.array(ylim, dtype=float)
    xs = np.array(xlim, dtype=float)
    return xs, -(w1 * xs + b) / w2


class BoundaryDisplay:
    """Data points (class 0 'o', class 1 'x') and one boundary line per requested epoch.

    >>> d = BoundaryDisplay.from_history(history, epochs=[0, 100, 1000])   # doctest: +SKIP
    >>> len(d.lines_)                                                       # doctest: +SKIP
    3
    """

    def __init__(self, X, y, epochs, params, *, n_epochs, lang="en", xlim=None, ylim=None,
                 feature_names=("x1", "x2"), truth_labels=True):
        self.X, self.y = np.asarray(X), np.asarray(y)
        self.epochs = list(epochs)
        self.params = np.asarray(params, dtype=float)  # (len(epochs), 3): w1, w2, b
        self.n_epochs = n_epochs
        self.lang = resolve_lang(lang)
        self.xlim, self.ylim = xlim or _limits(self.X[:, 0]), ylim or _limits(self.X[:, 1])
        self.feature_names = feature_names
        self.truth_labels = truth_labels  # a logic gate's classes read "0 (False)", "1 (True)"
        # every params row and its epochs completed, for ``update`` (set by ``from_history``)
        self.path, self.path_epochs = None, None

    def __repr__(self) -> str:
        return f"BoundaryDisplay(epochs={self.epochs}, n_points={len(self.y)}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, epochs=None, *, lang=None, ax=None, plot=True):
        """Boundaries after the given numbers of completed epochs (default: first and last).

        ``0`` is the initial state and the run's epoch count its final state.
        """
        require_perceptron(history, "decision boundary")
        n_epochs = int(history.epoch[-1]) + 1 if history.n_steps else 0
        if epochs is None:
            epochs = [0, n_epochs] if n_epochs else [0]
        epochs = sorted({_check_epoch(e, n_epochs) for e in epochs})
        if not epochs:
            raise BackpropvizError("boundary epochs: give at least one epoch; got an empty list")
        rows = [row_after_epochs(history.epoch, e) for e in epochs]
        from ..data.gates import GATES

        is_gate = str(history.config.get("data", "")).lower() in GATES
        display = cls(history.X, history.y, epochs, history.params[rows], n_epochs=n_epochs,
                      lang=lang, truth_labels=is_gate)
        display.path, display.path_epochs = np.asarray(history.params, dtype=float), epoch_axis(history.epoch)
        return display.plot(ax=ax) if plot else display

    def label_for(self, epoch: int) -> str:
        if epoch == 0:
            return t("boundary_initial", self.lang)
        if epoch == self.n_epochs:
            return t("boundary_final", self.lang)
        return t("boundary_epoch", self.lang, epoch=epoch)

    def when(self, epoch: int) -> str:
        """'initially', 'after training' or 'at epoch N', for the legend's notes."""
        if epoch == 0:
            return t("flat_when_initial", self.lang)
        if epoch == self.n_epochs:
            return t("flat_when_final", self.lang)
        return t("flat_when_epoch", self.lang, epoch=epoch)

    def colors(self) -> list:
        """First line green, last red (as in the article; the palette's ``boundary_first`` and
        ``boundary_last``); those between light to dark along the palette's ``between`` map."""
        ramp = palette.cmap("between")
        between = [e for e in self.epochs if e not in (0, self.n_epochs)]
        shade = {e: ramp(0.4 + 0.55 * k / max(len(between) - 1, 1)) for k, e in enumerate(between)}
        return [palette.color("boundary_first") if e == 0 else palette.color("boundary_last")
                if e == self.n_epochs else shade[e] for e in self.epochs]

    def plot(self, ax=None):
        """Draw on ``ax`` (or a new figure); keeps ``ax_``, ``figure_``, ``points_``, ``lines_``
        (one per drawn boundary, labelled with its epoch), ``missing_`` (epochs without a line)
        and ``legend_``."""
        from matplotlib.lines import Line2D

        with use_language(self.lang):
            ax = axes_or_new(ax)
            self.points_ = []
            classes = np.unique(self.y)
            binary = set(classes.tolist()) <= {0.0, 1.0}
            styles = {0: dict(marker="o", color=palette.color("class0"), markersize=8),
                      1: dict(marker="x", color=palette.color("class1"), markersize=10, mew=2)}
            for k, c in enumerate(classes):
                mask = self.y == c
                label = (t("class_true" if c == 1 else "class_false", self.lang)
                         if binary and self.truth_labels else t("class_n", self.lang, name=f"{c:g}"))
                style = styles.get(int(c) if binary else k % 2)
                (pts,) = ax.plot(self.X[mask, 0], self.X[mask, 1], linestyle="none", label=label,
                                 zorder=4, **style)
                self.points_.append(pts)
            self.lines_, self.missing_ = [], []
            first, between, last, none = [], [], [], []
            for e, (w1, w2, b), color in zip(self.epochs, self.params, self.colors()):
                seg = boundary_segment(w1, w2, b, self.xlim, self.ylim)
                flat = flat_output(w1, w2, b, self.xlim, self.ylim)
                if flat is not None or seg is None:  # no line where the output does not change
                    self.missing_.append(e)
                    if flat is not None:  # (all weights zero is the flattest case)
                        none.append(Line2D([], [], linestyle="none",
                                           label=t("no_boundary_flat", self.lang, when=self.when(e), p=flat)))
                    continue
                emphasised = e in (0, self.n_epochs)
                label = self.label_for(e)
                if not crosses_view(w1, w2, b, self.xlim, self.ylim):
                    label += t("outside_view", self.lang)
                (line,) = ax.plot(*seg, color=color, linewidth=2.2 if emphasised else 1.3,
                                  linestyle=FIRST_STYLE if e == 0 else LAST_STYLE if emphasised
                                  else BETWEEN_STYLE, label=label,
                                  zorder=3 if emphasised else 2)
                self.lines_.append(line)
                (first if e == 0 else last if e == self.n_epochs else between).append(line)
            if len(between) > 2:  # one legend entry names them all, so the legend stays small
                epochs = ", ".join(str(e) for e in self.epochs if e not in (0, self.n_epochs)
                                   and e not in self.missing_)
                between = [Line2D([], [], color=between[-1].get_color(), linestyle=BETWEEN_STYLE,
                                  linewidth=1.3, label=t("boundary_epochs", self.lang, epochs=epochs))]
            handles = [*self.points_, *first, *between, *last, *none]
            self.handles_ = handles
            ax.set_xlim(*self.xlim)
            ax.set_ylim(*self.ylim)
            if not ax.get_xlabel():
                ax.set_xlabel(t("input", self.lang, name=self.feature_names[0]))
            if not ax.get_ylabel():
                ax.set_ylabel(t("input", self.lang, name=self.feature_names[1]))
            self.legend_ = place_legend(ax, handles, self.points_, self.lines_)
            ax.grid(True)
        self.ax_, self.figure_ = ax, ax.figure
        return self

    def moving_line(self):
        """The line that ``update`` moves: the last epoch's (the state after training), if drawn."""
        if self.n_epochs not in self.epochs or self.n_epochs in self.missing_ or not self.lines_:
            return None
        return self.lines_[-1]

    def update(self, row: int):
        """Move the last boundary to params row ``row`` of the run (0: initial state), its legend
        entry saying when; at the last row it is the line ``plot`` drew. Needs ``from_history``.
        Returns the artists changed (for blitting)."""
        if self.path is None:
            raise BackpropvizError("BoundaryDisplay.update needs the run's rows: build it with from_history")
        line = self.moving_line()
        if line is None:
            return []
        w1, w2, b = self.path[row]
        seg = boundary_segment(w1, w2, b, self.xlim, self.ylim)
        shown = seg is not None and flat_output(w1, w2, b, self.xlim, self.ylim) is None
        if shown:
            line.set_data(*seg)
        line.set_visible(shown)
        last = row == len(self.path) - 1
        label = (self.label_for(self.n_epochs) if last
                 else t("boundary_epoch", self.lang, epoch=fmt_epoch(self.path_epochs[row])))
        if shown and not crosses_view(w1, w2, b, self.xlim, self.ylim):
            label += t("outside_view", self.lang)
        line.set_label(label)
        if line in self.handles_:
            self.legend_.get_texts()[self.handles_.index(line)].set_text(label)
        return [line, self.legend_]


LEGEND_PLACES = ("upper right", "upper left", "lower left", "lower right", "center right",
                 "center left", "upper center", "lower center", "center")


def place_legend(ax, handles, points, lines, *, pad_points: float = 0.0, **kwargs):
    """A legend that covers no data point, and as few boundary lines as it can.

    matplotlib's "best" counts a crossed line as much as a hidden point; with several
    boundaries crossing the view it can settle on top of a data point. ``pad_points``: how far
    (in points) the legend must also stay from each point (a marker's radius); ``kwargs`` go to
    ``ax.legend``.
    """
    renderer = getattr(ax.figure.canvas, "get_renderer", lambda: None)()
    if renderer is None:
        return ax.legend(handles=handles, loc="best", **kwargs)
    xy = np.concatenate([p.get_xydata() for p in points]) if points else np.empty((0, 2))
    pts = ax.transData.transform(xy)
    paths = [line.get_transform().transform_path(line.get_path()) for line in lines]
    pad = pad_points * ax.figure.dpi / 72
    best, best_score = None, None
    for loc in LEGEND_PLACES:
        legend = ax.legend(handles=handles, loc=loc, **kwargs)
        box = legend.get_window_extent(renderer)
        box = type(box).from_extents(box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad)
        score = (int(box.count_contains(pts)) if len(pts) else 0,
                 sum(path.intersects_bbox(box, filled=False) for path in paths))
        if best_score is None or score < best_score:
            best, best_score = loc, score
        if score == (0, 0):
            break
    return ax.legend(handles=handles, loc=best, **kwargs)


def crosses_view(w1: float, w2: float, b: float, xlim, ylim) -> bool:
    """Whether the line w1*x1 + w2*x2 + b = 0 passes through the view rectangle: the sign of
    w.x + b differs between two of its corners (or is zero at one)."""
    corners = np.array([[x, y] for x in xlim for y in ylim], dtype=float)
    values = corners @ np.array([w1, w2]) + b
    return bool(values.min() <= 0 <= values.max())


def _limits(values) -> tuple[float, float]:
    """Data range plus a margin; for the gates (0..1) this is the article's -0.2..1.2."""
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.2 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def _check_epoch(e, n_epochs: int) -> int:
    try:
        k = int(e)
    except (TypeError, ValueError):
        raise BackpropvizError(f"boundary epochs must be integers; got {e!r}") from None
    if k != e or not 0 <= k <= n_epochs:
        raise BackpropvizError(
            f"boundary epochs must be integers from 0 (initial) to {n_epochs} (final); got {e!r}")
    return k
