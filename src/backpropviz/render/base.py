"""Shared pieces of the displays: figures without pyplot, labels, checks on histories."""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import t

PERCEPTRON_PARAMS = ["w1", "w2", "b"]


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
    """A parameter value as shown on figures: two decimals, like the article's printout."""
    return f"{value:.2f}"


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


def row_after_epochs(epoch: np.ndarray, k: int) -> int:
    """The params row holding the state after ``k`` completed epochs."""
    return int(np.searchsorted(np.asarray(epoch), k, side="left"))


def title_fields(config: dict) -> tuple[str, dict]:
    """Key suffix ('gate' or 'data') and fields for a title naming the run's data and optimiser."""
    from ..data.gates import GATES

    data = str(config.get("data", "?"))
    fields = {"optimizer": str(config.get("optimizer", "sgd")).upper()}
    if data.lower() in GATES:
        return "gate", {**fields, "gate": data.upper()}
    return "data", {**fields, "data": data}
