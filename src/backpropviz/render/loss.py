"""The training loss, one value per optimisation step."""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from . import palette
from .base import axes_or_new, epoch_axis, epoch_xaxis, title_fields
from .fonts import use_language


class LossCurveDisplay:
    """``history.loss`` (the loss of each step's batch, at the parameters before the step)."""

    def __init__(self, epochs, loss, *, title="", log=False, last_epoch=None, lang="en"):
        self.epochs = np.asarray(epochs, dtype=float)
        # where the epoch axis ends: the epochs the run completed (the last step starts before it)
        self.last_epoch = float(last_epoch if last_epoch is not None else self.epochs.max(initial=0.0))
        self.loss = np.asarray(loss, dtype=float)
        self.title = title
        self.log = bool(log)
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"LossCurveDisplay(steps={len(self.loss)}, log={self.log}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, *, log=False, lang=None, ax=None, plot=True):
        """Step t's loss is drawn at the epoch count where that step started."""
        lang = resolve_lang(lang)
        kind, fields = title_fields(history.config)
        title = t(f"loss_curve_title_{kind}", lang, **fields)
        epochs = epoch_axis(history.epoch)
        display = cls(epochs[:-1], history.loss, title=title, log=log, last_epoch=epochs[-1], lang=lang)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Draw on ``ax`` (or a new figure); keeps ``ax_``, ``figure_``, ``line_`` and ``note_`` (when
        there is no step to draw)."""
        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=(8, 5))
            (self.line_,) = ax.plot(self.epochs, self.loss, color=palette.color("line"),
                                    label=t("loss_curve_label", self.lang))
            if self.log:
                ax.set_yscale("log")
            if self.title and not ax.get_title():
                ax.set_title(self.title)
            if not ax.get_xlabel():
                ax.set_xlabel(t("epochs", self.lang))
            epoch_xaxis(ax, self.last_epoch)
            self.note_ = None
            if not len(self.loss):  # a run that diverged at its first step: no loss, no made-up axis
                ax.set_ylim(0, 1)
                ax.set_yticks([])
                self.note_ = ax.text(0.5, 0.5, t("loss_none", self.lang), transform=ax.transAxes,
                                     ha="center", va="center")
            if not ax.get_ylabel():
                ax.set_ylabel(t("loss_value_log" if self.log else "loss_value", self.lang))
            ax.grid(True, which="both" if self.log else "major", alpha=0.6)
        self.ax_, self.figure_ = ax, ax.figure
        return self
