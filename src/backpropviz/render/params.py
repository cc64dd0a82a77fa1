"""Graph 2: each parameter's value over the epochs."""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang, t
from .base import axes_or_new, epoch_axis, epoch_xaxis, param_label
from .fonts import use_language

MAX_LINES = 12  # beyond this a legend of lines stops being readable


class ParamTrajectoryDisplay:
    """One line per parameter against epochs completed (row 0 is the initial value)."""

    def __init__(self, epochs, values, names, *, lang="en"):
        self.epochs = np.asarray(epochs, dtype=float)
        self.values = np.asarray(values, dtype=float)
        self.names = list(names)
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"ParamTrajectoryDisplay(params={self.names}, rows={len(self.epochs)}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, names=None, *, lang=None, ax=None, plot=True):
        """Trajectories of ``names`` (default: every parameter, at most 12)."""
        names = list(history.param_names) if names is None else list(names)
        if len(names) > MAX_LINES:
            raise BackpropvizError(
                f"the parameter view draws at most {MAX_LINES} parameters; this history has "
                f"{len(names)}: choose some with names=[...]")
        cols = [history.index(n) for n in names]
        display = cls(epoch_axis(history.epoch), history.params[:, cols], names, lang=lang)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Draw on ``ax`` (or a new figure); keeps ``ax_``, ``figure_``, ``lines_``."""
        with use_language(self.lang):
            ax = axes_or_new(ax)
            # one row only (a run that diverged at its first step) would be an invisible line: mark it
            marker = "o" if len(self.epochs) == 1 else None
            self.lines_ = [ax.plot(self.epochs, self.values[:, k], marker=marker, label=param_label(n, self.lang))[0]
                           for k, n in enumerate(self.names)]
            if not ax.get_xlabel():
                ax.set_xlabel(t("epochs", self.lang))
            epoch_xaxis(ax, float(self.epochs.max(initial=0.0)))
            if not ax.get_ylabel():
                ax.set_ylabel(t("param_value", self.lang))
            self.legend_ = ax.legend()
            ax.grid(True)
        self.ax_, self.figure_ = ax, ax.figure
        return self
