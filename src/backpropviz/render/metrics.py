"""Train and test loss and accuracy, once per epoch, measured on the whole of each set.

These are the ``epoch_*`` arrays of a History: the data loss (no L1/L2 term) and the accuracy at
the parameters in force when each epoch starts, and after the last one.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError
from ..i18n import resolve_lang, t
from . import palette
from .base import epoch_xaxis, legend_below, new_figure
from .fonts import use_language


class MetricsDisplay:
    """Two panels: loss and accuracy against epochs, train solid and test dashed.

    >>> d = MetricsDisplay.from_history(history)        # doctest: +SKIP
    >>> [len(lines) for lines in d.lines_]              # doctest: +SKIP
    [2, 2]
    """

    def __init__(self, train_loss, train_acc, test_loss=None, test_acc=None, *, title="", lang="en",
                 regression=False):
        self.train_loss = np.asarray(train_loss, dtype=float)
        self.train_acc = np.asarray(train_acc, dtype=float)
        self.test_loss = None if test_loss is None else np.asarray(test_loss, dtype=float)
        self.test_acc = None if test_acc is None else np.asarray(test_acc, dtype=float)
        self.title = title
        self.lang = resolve_lang(lang)
        self.regression = regression  # the second panel is R^2 instead of accuracy

    def __repr__(self) -> str:
        return (f"MetricsDisplay(epochs={len(self.train_loss) - 1}, test={self.test_loss is not None}, "
                f"lang={self.lang!r})")

    @classmethod
    def from_history(cls, history, *, lang=None, axes=None, plot=True):
        from .base import title_fields

        if history.epoch_train_loss is None or history.epoch_train_acc is None:
            raise BackpropvizError("this history has no per-epoch metrics (epoch_train_loss); "
                                   "it was written by an older version: run it again to draw them")
        lang = resolve_lang(lang)
        _, fields = title_fields(history.config)
        from ..train import is_regression

        regression = is_regression(history)
        title = t("metrics_title_r2" if regression else "metrics_title", lang,
                  data=fields.get("gate", fields.get("data", "")))
        display = cls(history.epoch_train_loss, history.epoch_train_acc,
                      history.epoch_test_loss if history.has_test else None,
                      history.epoch_test_acc if history.has_test else None, title=title, lang=lang,
                      regression=regression)
        return display.plot(axes=axes) if plot else display

    def plot(self, axes=None):
        """Draw on ``axes`` (two Axes) or a new figure; keeps ``axes_``, ``figure_`` and
        ``lines_`` (per panel: train, then test when there is a test set) and ``legends_``
        (one per panel, under its x label, where it hides no line)."""
        with use_language(self.lang):
            if axes is None:
                fig = new_figure((11, 4.2), layout="constrained")
                axes = list(fig.subplots(1, 2))
            else:
                axes = list(axes)
                fig = axes[0].figure
            x = np.arange(len(self.train_loss))
            self.lines_, self.legends_ = [], []
            panels = [(axes[0], self.train_loss, self.test_loss, "metrics_loss"),
                      (axes[1], self.train_acc, self.test_acc, "metrics_r2" if self.regression else "metrics_acc")]
            for ax, train, test, ylabel in panels:
                lines = [ax.plot(x, train, color=palette.color("train"), linewidth=1.8,
                                 label=t("metrics_train", self.lang))[0]]
                if test is not None:
                    lines.append(ax.plot(x, test, color=palette.color("test"), linewidth=1.8, linestyle="--",
                                         label=t("metrics_test", self.lang))[0])
                ax.set_xlabel(t("epochs", self.lang))
                epoch_xaxis(ax, float(x[-1]) if len(x) else 0.0)
                ax.set_ylabel(t(ylabel, self.lang))
                ax.grid(True, alpha=0.5)
                self.legends_.append(legend_below(ax, lines, ncol=len(lines), fontsize=9))
                self.lines_.append(lines)
            if self.regression:  # R^2 is at most 1 and below 0 for a fit worse than the mean
                lowest = np.nanmin(np.r_[self.train_acc, [] if self.test_acc is None else self.test_acc, 0.0])
                axes[1].set_ylim(max(lowest, -10.0) - 0.05, 1.05)
            else:
                axes[1].set_ylim(-0.03, 1.03)
                axes[1].yaxis.set_major_formatter("{x:.0%}")
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=12)
        self.axes_, self.figure_ = axes, fig
        return self
