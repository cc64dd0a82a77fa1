"""Graph 2: each parameter's value over the epochs."""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang, t
from .base import axes_or_new, epoch_axis, epoch_xaxis, freeze_legend, param_label
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
            self.lines_ = [ax.plot(self.epochs, self.values[:, k], marker=marker, clip_on=marker is None,
                                   label=param_label(n, self.lang))[0]  # the lone point sits on the axis' edge
                           for k, n in enumerate(self.names)]
            if not ax.get_xlabel():
                ax.set_xlabel(t("epochs", self.lang))
            epoch_xaxis(ax, float(self.epochs.max(initial=0.0)))
            if not ax.get_ylabel():
                ax.set_ylabel(t("param_value", self.lang))
            self.legend_ = ax.legend()
            ax.grid(True)
        self.ax_, self.figure_ = ax, ax.figure
        self.cursor_, self.current_ = None, []
        return self

    def update(self, row: int):
        """Draw the curves up to params row ``row`` only, with a cursor and a dot on each curve
        there; at the last row the figure is the one ``plot`` drew (no cursor, no dots). Returns
        the artists changed (for blitting)."""
        ax, last = self.ax_, row == len(self.epochs) - 1
        if self.cursor_ is None:  # made once, on the first update
            freeze_legend(self.legend_, self.ax_)  # where plot put it, whatever the cut curves
            self.cursor_ = ax.axvline(self.epochs[0], color="0.35", linewidth=1, linestyle=":", zorder=1.5)
            self.current_ = [ax.plot([], [], "o", color=line.get_color(), markersize=5, zorder=2.6)[0]
                             for line in self.lines_]
        x = self.epochs[:row + 1]
        for k, (line, dot) in enumerate(zip(self.lines_, self.current_)):
            line.set_data(x, self.values[:row + 1, k])
            dot.set_data([self.epochs[row]], [self.values[row, k]])
            dot.set_visible(not last)
        self.cursor_.set_xdata([self.epochs[row]] * 2)
        self.cursor_.set_visible(not last)
        return [self.cursor_, *self.lines_, *self.current_, self.legend_]
