"""Shared pieces of the displays: figures without pyplot, labels, checks on histories."""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import t, unsigned_zero

PERCEPTRON_PARAMS = ["w1", "w2", "b"]
LOG_RANGE = 10.0  # losses spanning less than this factor are drawn on a linear scale


def new_figure(figsize=(6.4, 4.8), **kwargs):
    """A Figure on the Agg canvas, made without pyplot (no GUI backend, no global figure list)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def axes_or_new(ax, *, projection=None, figsize=(6.4, 4.8)):
    """``ax`` itself, or the single Axes of a new Agg figure."""
    if ax is not None:
        return ax
    fig = new_figure(figsize, layout="constrained")
    return fig.add_subplot(projection=projection)


def require_perceptron(history, view: str) -> None:
    """Refuse a history that is not a two-input perceptron (parameters w1, w2, b)."""
    names = list(history.param_names)
    if names != PERCEPTRON_PARAMS or history.X.ndim != 2 or history.X.shape[1] != 2:
        shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
        raise BackpropvizError(
            f"the {view} view needs a two-input perceptron (parameters w1, w2, b); "
            f"got parameters [{shown}] and {history.X.shape[-1]} input features")


def param_label(name: str, lang: str) -> str:
    """'weight w1' / '重み w1' for weights, 'bias b' for biases, else 'parameter <name>'."""
    if name.startswith("w") or ".weight" in name:
        return t("weight", lang, name=name)
    if name == "b" or name.startswith("b") and name[1:].isdigit() or name.endswith(".bias"):
        return t("bias", lang, name=name)
    return t("parameter", lang, name=name)


def fmt_value(value: float) -> str:
    """A parameter value as shown on figures: two decimals, like the article's printout; values
    of 10,000 and beyond (a run that blew up) in three significant figures, e.g. ``-2.5e+29``.
    A value that rounds to zero has no sign: -1e-7 is ``0.00``."""
    return unsigned_zero(f"{value:.2f}" if abs(value) < 1e4 or not np.isfinite(value) else f"{value:.3g}")


def epoch_axis(epoch: np.ndarray) -> np.ndarray:
    """Epochs completed at each params row (T + 1 values): row 0 is 0, row t + 1 ends step t.

    Within an epoch of k steps, each step adds 1/k, so full-batch training gives 0, 1, 2, ...
    """
    epoch = np.asarray(epoch)
    if epoch.size == 0:
        return np.zeros(1)
    _, start, counts = np.unique(epoch, return_index=True, return_counts=True)
    per_step_count = np.repeat(counts, counts)
    within = np.arange(epoch.size) - np.repeat(start, counts)
    return np.concatenate([[0.0], epoch + (within + 1) / per_step_count])


def fmt_epoch(value: float) -> str:
    """Epochs completed as shown beside a frame: whole epochs as integers, a mini-batch run's
    fraction of an epoch with two decimals.

    >>> fmt_epoch(12.0), fmt_epoch(3.25)
    ('12', '3.25')
    """
    value = float(value)
    return f"{value:.0f}" if value == round(value) else f"{value:.2f}"


def freeze_legend(legend, ax) -> None:
    """Pin a ``loc="best"`` legend where it is now: "best" follows the lines at every draw, and an
    animation is about to cut them short."""
    renderer = ax.figure.canvas.get_renderer()
    ax.get_ylim()  # the limits of the whole lines, before anything is cut
    best = legend.get_window_extent(renderer).bounds
    for code in range(1, 11):
        legend.set_loc(code)
        if np.allclose(legend.get_window_extent(renderer).bounds, best):
            return
    legend.set_loc("best")


def row_after_epochs(epoch: np.ndarray, k: int) -> int:
    """The params row holding the state after ``k`` completed epochs."""
    return int(np.searchsorted(np.asarray(epoch), k, side="left"))


def title_fields(config: dict) -> tuple[str, dict]:
    """Key suffix ('gate' or 'data') and fields for a title naming the run's data and optimiser."""
    from ..data.gates import GATES

    data = str(config.get("data", "?"))
    if data.lower() == "csv" and config.get("csv"):
        from pathlib import PurePath

        data = PurePath(str(config["csv"])).name  # the user's file, not the word "csv"
    fields = {"optimizer": str(config.get("optimizer", "sgd")).upper()}
    if data.lower() in GATES:
        return "gate", {**fields, "gate": data.upper()}
    return "data", {**fields, "data": data}


def integer_ticks(axis) -> None:
    """Ticks only at whole numbers on ``axis`` (an Axes' xaxis/yaxis): epochs and steps are counts."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def tick_labels(values, *, significant: bool = False) -> list[str]:
    """Labels for tick ``values`` that are distinct and exact enough, with as few digits as that takes.

    Fixed decimals follow the smallest spacing between ticks (0.6925, 0.6930 rather than 0.693
    twice); ``significant`` counts significant digits instead (for log-spaced ticks).

    >>> tick_labels([0.6925, 0.693, 0.6935])
    ['0.6925', '0.6930', '0.6935']
    >>> tick_labels([0.0, 0.25, 0.5])
    ['0.00', '0.25', '0.50']
    """
    values = [float(v) for v in values]
    finite = sorted({v for v in values if np.isfinite(v)})
    gaps = np.diff(finite)
    step = float(gaps[gaps > 0].min()) if (gaps > 0).any() else max(abs(finite[0]), 1.0) if finite else 1.0
    for digits in range(1 if significant else 0, 16):
        labels = [f"{v:.{digits}g}" if significant else f"{v:.{digits}f}" for v in values]
        close = all(abs(float(text) - v) <= 0.01 * (abs(v) if significant else step)
                    for text, v in zip(labels, values) if np.isfinite(v))
        if close and len(set(labels)) == len(set(values)):
            break
    return [unsigned_zero(text) for text in labels]


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks for a log colour bar over [low, high]: 1, 2, 5 x 10^k, or only decades when those
    are too many; at least three (evenly spaced in log) when the range holds fewer.

    >>> log_ticks(0.01, 0.7)
    [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    """
    from matplotlib.ticker import LogLocator

    def inside(locator):
        return [float(v) for v in locator.tick_values(low, high) if low <= v <= high]

    ticks = inside(LogLocator(subs=(1.0, 2.0, 5.0)))
    if len(ticks) > 8:
        ticks = inside(LogLocator())
    if len(ticks) < 3:
        ticks = [float(v) for v in np.geomspace(low, high, 4)]
    return ticks


def spacing_formatter():
    """A tick formatter that labels each tick with :func:`tick_labels` of all the axis's ticks:
    plain numbers, no offset or scientific notation, decimals from the spacing."""
    from matplotlib.ticker import Formatter

    class SpacingFormatter(Formatter):
        def __call__(self, x, pos=None):
            locs = list(self.locs) if len(self.locs) else [x]
            labels = tick_labels(locs + ([x] if x not in locs else []))
            return labels[locs.index(x)] if x in locs else labels[-1]

        def format_ticks(self, values):
            self.set_locs(values)
            return tick_labels(values) if len(values) else []

    return SpacingFormatter()


LEGEND_DROP_INCH = 0.5  # a legend under an Axes starts this far below it: under the x label


def legend_below(ax, handles, *, ncol: int, title: str | None = None, fontsize=8):
    """A legend under ``ax``'s x label, outside the axes, so that it never hides a line.
    ``title``: a note shown above the entries, left-aligned. Constrained layout makes room."""
    from matplotlib.transforms import ScaledTranslation

    below = ax.transAxes + ScaledTranslation(0, -LEGEND_DROP_INCH, ax.figure.dpi_scale_trans)
    legend = ax.legend(handles=handles, fontsize=fontsize, ncol=max(ncol, 1), loc="upper center",
                       bbox_to_anchor=(0.5, 0.0), bbox_transform=below, frameon=False, handlelength=1.8,
                       columnspacing=1.2, title=title, title_fontsize=fontsize, alignment="left")
    return legend


def epoch_xaxis(ax, last: float) -> None:
    """An epoch axis: whole-number ticks, from 0 to exactly the last epoch (no margin beyond it,
    no negative epochs; 0 to 1 when nothing was trained)."""
    integer_ticks(ax.xaxis)
    ax.set_xlim(0, last if last > 0 else 1)


def diverged_step(history) -> int | None:
    """The step at which the run of ``history`` (or of anything with its ``status``, such as a
    landscape) diverged (its status ``diverged at step N: ...``), else None."""
    import re

    match = re.match(r"diverged at step (\d+)", str(getattr(history, "status", "")))
    return int(match.group(1)) if match else None


DIVERGED_COLOR = "#b91c1c"
DIVERGED_INCH = 0.32  # the strip under a fixed-layout figure that holds the note


def note_diverged(fig, history, lang: str, label: str | None = None):
    """Say on ``fig`` that ``history``'s run diverged at step N and that it shows the N steps before
    (what was kept). Returns the text artist, or None when the run did not diverge.
    ``label``: the run's name, for a figure of several runs (each diverged one gets its line).

    Under a constrained layout the note is the suptitle's last line (the layout makes room for
    it); a figure with fixed margins is squeezed upwards to free a strip at its bottom.
    Safe to call outside ``use_language``: the note is made in ``lang``'s font.
    """
    from .fonts import use_language

    step = diverged_step(history)
    if step is None:
        return None
    key = "diverged_note" if step else "diverged_note_first"
    text = t(key, lang, step=step) if label is None else t(key + "_run", lang, step=step, run=label)
    with use_language(lang):  # IPAexGothic has no bold face: regular in Japanese
        return _add_diverged_note(fig, text, "bold" if lang == "en" else "normal")


def _add_diverged_note(fig, text: str, weight: str):
    style = dict(color=DIVERGED_COLOR, fontsize=10, fontweight=weight)
    if fig.get_layout_engine() is not None and "Constrained" in type(fig.get_layout_engine()).__name__:
        # the layout makes room for the suptitle, and for nothing else added to the figure
        # itself without colliding with legends under the panels: the note is its last line
        title = fig._suptitle
        if title is None or not title.get_text():
            return fig.suptitle(text, **style)
        title.set_text(title.get_text() + "\n" + text)
        return title
    strip = DIVERGED_INCH / fig.get_figheight()
    for ax in fig.axes:
        x, y, w, h = ax.get_position().bounds
        ax.set_position([x, strip + y * (1 - strip), w, h * (1 - strip)])
    return fig.text(0.5, 0.25 * strip, text, ha="center", va="bottom", **style)
