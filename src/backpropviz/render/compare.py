"""Several runs from one start: their paths on one loss slice, their loss and accuracy curves.

One colour per run throughout, one legend for the figure. The slice shows the first run's
objective; a note says what the plane is, what it holds fixed and how far the paths leave it.
"""

from __future__ import annotations

import numpy as np

from ..i18n import name_label, resolve_lang, t
from . import palette
from .base import epoch_xaxis, fmt_value, new_figure, param_label, spacing_formatter, tick_labels
from .fonts import use_language

LOG_RANGE = 10.0  # losses spanning less than this factor are drawn on a linear scale


# One dash pattern and marker per run besides its colour: a curve hidden exactly under another
# stays visible, also to a reader who cannot tell the colours apart.
RUN_LINESTYLES = ["-", "--", "-.", ":"]
RUN_MARKERS = ["o", "s", "^", "D", "v", "P", "h", "*"]
MARKS_PER_CURVE = 8


class CompareDisplay:
    """Paths on one slice (left), training loss per epoch (middle), training accuracy (right).

    >>> d = CompareDisplay.from_histories(histories, labels, comparison_slice(histories))  # doctest: +SKIP
    >>> len(d.paths_) == len(d.curves_) == len(labels)                                      # doctest: +SKIP
    True
    """

    def __init__(self, slice_, labels, train_loss, train_acc, *, diverged=None, losses=None,
                 title="", lang="en", regression=False):
        self.slice = slice_
        self.labels = list(labels)
        self.train_loss = [np.asarray(v, dtype=float) for v in train_loss]
        self.train_acc = [np.asarray(v, dtype=float) for v in train_acc]
        self.diverged = list(diverged or [False] * len(self.labels))
        self.losses = list(losses or [slice_.loss_name] * len(self.labels))
        self.title = title
        self.lang = resolve_lang(lang)
        self.regression = regression  # the right panel is R^2 instead of accuracy

    def __repr__(self) -> str:
        return f"CompareDisplay(runs={self.labels}, plane={self.slice.method!r}, lang={self.lang!r})"

    @classmethod
    def from_histories(cls, histories, labels, slice_, *, diverged=None, lang=None, plot=True):
        from .base import title_fields

        from ..train import is_regression

        lang = resolve_lang(lang)
        _, fields = title_fields(histories[0].config)
        title = t("compare_title", lang, data=fields.get("gate", fields.get("data", "")),
                  model=name_label("model", histories[0].config.get("model", ""), lang))
        display = cls(slice_, labels, [h.epoch_train_loss for h in histories],
                      [h.epoch_train_acc for h in histories], diverged=diverged,
                      losses=[str(h.config.get("loss", "")) for h in histories], title=title, lang=lang,
                      regression=is_regression(histories[0]))
        return display.plot() if plot else display

    @property
    def colors(self) -> list[str]:
        run_colors = palette.colors("runs")
        return [run_colors[k % len(run_colors)] for k in range(len(self.labels))]

    def style(self, k: int, n_points: int) -> dict:
        """Run ``k``'s line: its colour, its own dash pattern and marker, the markers spaced along
        the curve and shifted run by run, so that a curve lying exactly on another (momentum under
        Nesterov) still shows its dashes and markers between the other's."""
        every = max(1, n_points // MARKS_PER_CURVE)
        return dict(color=self.colors[k], linestyle=RUN_LINESTYLES[k % len(RUN_LINESTYLES)],
                    marker=RUN_MARKERS[k % len(RUN_MARKERS)], markevery=(k * every // len(self.labels), every),
                    markersize=5, markeredgecolor="white", markeredgewidth=0.6, linewidth=1.7)

    def _note(self) -> str:
        s = self.slice
        lines = []
        if s.method == "params":
            if s.fixed:
                names = list(s.fixed)
                shown = ", ".join(names) if len(names) <= 3 else t("traj_others", self.lang, count=len(names))
                values = ", ".join(fmt_value(v) for v in list(s.fixed.values())[:3]) + (" ..." if len(names) > 3 else "")
                lines.append(t("compare_fixed", self.lang, names=shown, values=values))
        else:
            lines.append(t("compare_pca", self.lang, share=f"{(s.explained or 0):.0%}"))
        # Diverged runs leave any plane by astronomical distances; the note speaks of the others.
        kept = [k for k, bad in enumerate(self.diverged) if not bad] or list(range(len(s.paths)))
        extent = max((float(np.nanmax(np.abs(s.paths[k]))) for k in kept if np.isfinite(s.paths[k]).any()),
                     default=1.0) or 1.0
        off = max((float(np.nanmax(s.residuals[k])) for k in kept if np.isfinite(s.residuals[k]).any()),
                  default=0.0)
        if off > 1e-6 * extent:
            lines.append(t("compare_off", self.lang, dist=f"{off:.3g}"))
        if len(set(self.losses)) > 1:
            lines.append(t("compare_surface_loss", self.lang, loss=name_label("loss", self.losses[0], self.lang)))
        return "\n".join(_wrap(line, 62) for line in lines)

    def plot(self, figure=None):
        """Draw the three panels; keeps ``figure_``, ``axes_``, ``surface_``, ``paths_`` (one line
        per run), ``curves_`` (loss), ``acc_curves_``, ``colorbar_``, ``legend_`` and ``note_``.

        Losses that span less than a factor ``LOG_RANGE`` (colour bar, loss axis) are drawn on
        a linear scale with plain labels; wider ones on a log scale."""
        from matplotlib.colors import LogNorm, Normalize
        from matplotlib.lines import Line2D
        from matplotlib.ticker import LogLocator, MaxNLocator

        s = self.slice
        with use_language(self.lang):
            fig = figure or new_figure((18, 6.4), layout="constrained")
            fig.get_layout_engine().set(wspace=0.06)  # room between the colour bar and the next panel
            grid = fig.add_gridspec(1, 3, width_ratios=[1.25, 1, 1])
            ax_slice, ax_loss, ax_acc = (fig.add_subplot(grid[0, k]) for k in range(3))
            loss = np.where(np.isfinite(s.loss), s.loss, np.nan)
            low = max(float(np.nanmin(loss)), 1e-6 * float(np.nanmax(loss)), 1e-12)
            high = max(float(np.nanmax(loss)), low * 1.0001)
            # A log scale helps only over a decade or more; over a narrow range (a loss near
            # ln 2 everywhere) it shows the same few digits on every tick, so go linear.
            log = high / low >= LOG_RANGE
            if log:
                levels, norm = np.geomspace(low, high, 24), LogNorm(low, high)
                ticks = [v for v in LogLocator(subs=(1.0, 2.0, 5.0)).tick_values(low, high) if low <= v <= high]
                if len(ticks) > 8:
                    ticks = [v for v in LogLocator().tick_values(low, high) if low <= v <= high]
                if len(ticks) < 3:
                    ticks = levels[::4]
            else:
                levels, norm = np.linspace(low, high, 24), Normalize(low, high)
                ticks = [v for v in MaxNLocator(6).tick_values(low, high) if low <= v <= high]
            self.surface_ = ax_slice.contourf(s.alpha, s.beta, np.clip(loss, low, high), levels=levels,
                                              norm=norm, cmap="Greys_r", alpha=0.9)
            ax_slice.contour(s.alpha, s.beta, np.clip(loss, low, high), levels=levels[::3], colors="white",
                             linewidths=0.4, alpha=0.6)
            colorbar = fig.colorbar(self.surface_, ax=ax_slice, pad=0.01, shrink=0.9, ticks=ticks)
            colorbar.ax.set_yticks(ticks, tick_labels(ticks, significant=log))
            colorbar.ax.minorticks_off()
            if len(set(self.losses)) > 1:
                colorbar.set_label(t("compare_surface_loss", self.lang,
                                     loss=name_label("loss", self.losses[0], self.lang)))
            else:
                colorbar.set_label(t("compare_surface_same" if log else "compare_surface_same_lin", self.lang,
                                     loss=name_label("loss", self.losses[0], self.lang)))
            self.colorbar_ = colorbar
            self.paths_, self.ends_ = [], []
            for k, (path, color, label) in enumerate(zip(s.paths, self.colors, self.labels)):
                (line,) = ax_slice.plot(path[:, 0], path[:, 1], label=label, zorder=3, **self.style(k, len(path)))
                finite = path[np.all(np.isfinite(path), axis=1)]
                end = None
                if len(finite):
                    (end,) = ax_slice.plot(*finite[-1], marker="X", markersize=10, color=color,
                                           markeredgecolor="black", zorder=5)
                self.paths_.append(line)
                self.ends_.append(end)
            ax_slice.plot(*s.paths[0][0], marker="o", markersize=10, color="white", markeredgecolor="black",
                          zorder=6)
            ax_slice.set_xlim(s.alpha[0], s.alpha[-1])
            ax_slice.set_ylim(s.beta[0], s.beta[-1])
            if s.method == "params":
                ax_slice.set_xlabel(param_label(s.axis_names[0], self.lang))
                ax_slice.set_ylabel(param_label(s.axis_names[1], self.lang))
            else:
                ax_slice.set_xlabel(t("pc_axis", self.lang, k=1))
                ax_slice.set_ylabel(t("pc_axis", self.lang, k=2))
            ax_slice.set_title(t("compare_slice", self.lang), fontsize=11)
            note = self._note()
            self.note_ = ax_slice.text(0.015, 0.015, note, transform=ax_slice.transAxes, fontsize=8, va="bottom",
                                       ha="left", zorder=7,
                                       bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="#999999", alpha=0.9))
            self.curves_, self.acc_curves_ = [], []
            for k, (values, accs, label) in enumerate(zip(self.train_loss, self.train_acc, self.labels)):
                x = np.arange(len(values))
                self.curves_.append(ax_loss.plot(x, np.where(values > 0, values, np.nan), label=label,
                                                 **self.style(k, len(values)))[0])
                self.acc_curves_.append(ax_acc.plot(np.arange(len(accs)), accs, label=label,
                                                    **self.style(k, len(accs)))[0])
            kept = [v[(v > 0) & np.isfinite(v)] for v, bad in zip(self.train_loss, self.diverged) if not bad]
            kept = [v for v in kept if len(v)]
            every = [v[(v > 0) & np.isfinite(v)] for v in self.train_loss]
            every = [v for v in every if len(v)]
            shown = kept if kept and any(self.diverged) else every
            low, high = (min(v.min() for v in shown), max(v.max() for v in shown)) if shown else (1.0, 1.0)
            loss_log = high / low >= LOG_RANGE
            if loss_log:
                ax_loss.set_yscale("log")
                if kept and any(self.diverged):  # a diverged run would flatten the others' curves
                    ax_loss.set_ylim(low / 2, high * 5)
            else:  # plain numbers, decimals from the tick spacing, no offset or 10^k factor
                ax_loss.yaxis.set_major_formatter(spacing_formatter())
                if kept and any(self.diverged):
                    pad = 0.1 * (high - low) or 0.05 * high
                    ax_loss.set_ylim(low - pad, high + pad)
            ax_loss.set_title(t("compare_curves", self.lang), fontsize=11)
            ax_loss.set_ylabel(t("compare_loss_own", self.lang) if len(set(self.losses)) > 1
                               else t("loss_value_log" if loss_log else "loss_value", self.lang))
            if self.regression:  # R^2: at most 1, below 0 for a fit worse than the mean
                ax_acc.set_title(t("compare_r2", self.lang), fontsize=11)
                ax_acc.set_ylabel(t("metrics_r2", self.lang))
                lowest = np.nanmin(np.concatenate([*self.train_acc, [0.0]]))
                ax_acc.set_ylim(max(lowest, -10.0) - 0.05, 1.05)
            else:
                ax_acc.set_title(t("compare_acc", self.lang), fontsize=11)
                ax_acc.set_ylabel(t("metrics_acc", self.lang))
                ax_acc.set_ylim(-0.03, 1.03)
                ax_acc.yaxis.set_major_formatter("{x:.0%}")
            last_epoch = max((len(v) - 1 for v in self.train_loss + self.train_acc), default=0)
            for ax in (ax_loss, ax_acc):
                ax.set_xlabel(t("epochs", self.lang))
                epoch_xaxis(ax, last_epoch)
                ax.grid(True, which="major", alpha=0.5)
            handles = list(self.paths_) + [
                Line2D([], [], linestyle="none", marker="o", markersize=9, color="white", markeredgecolor="black",
                       label=t("start", self.lang)),
                Line2D([], [], linestyle="none", marker="X", markersize=9, color="#777777", markeredgecolor="black",
                       label=t("end", self.lang))]
            self.legend_ = fig.legend(handles=handles, loc="outside lower center",
                                      ncol=min(len(handles), 7), fontsize=9, frameon=False)
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=13)
        self.axes_, self.figure_ = [ax_slice, ax_loss, ax_acc], fig
        self.epoch_label_ = None
        return self

    @classmethod
    def for_animation(cls, histories, labels, slice_, *, diverged=None, lang=None):
        """The comparison drawn at the end of training, holding each run's rows per epoch for
        ``update`` (the runs race on one clock: epochs)."""
        display = cls.from_histories(histories, labels, slice_, diverged=diverged, lang=lang)
        display.epoch_rows = [h.epoch_param_rows for h in histories]
        return display

    @property
    def n_epochs(self) -> int:
        return max(len(rows) - 1 for rows in self.epoch_rows)

    def update(self, epoch: int):
        """Show every run after ``epoch`` epochs (a shorter run stays at its end): the paths and
        the curves grow, each run's end marker moves with it, the epoch in the top left corner; at
        the last epoch it is the static figure. Returns the artists changed (for blitting)."""
        changed = []
        for k, rows in enumerate(self.epoch_rows):
            e = min(int(epoch), len(rows) - 1)
            path = self.slice.paths[k][: rows[e] + 1]
            self.paths_[k].set_data(path[:, 0], path[:, 1])
            changed.append(self.paths_[k])
            finite = path[np.all(np.isfinite(path), axis=1)]
            if self.ends_[k] is not None:
                self.ends_[k].set_visible(len(finite) > 0)
                if len(finite):
                    self.ends_[k].set_data([finite[-1, 0]], [finite[-1, 1]])
                changed.append(self.ends_[k])
            for curve, values in ((self.curves_[k], self.train_loss[k]), (self.acc_curves_[k], self.train_acc[k])):
                n = min(e + 1, len(values))
                x, y = np.arange(len(values))[:n], values[:n]
                curve.set_data(x, np.where(y > 0, y, np.nan) if curve in self.curves_ else y)
                changed.append(curve)
        text = t("anim_epoch_label", self.lang, epoch=int(epoch), epochs=self.n_epochs)
        if self.epoch_label_ is None:  # made once, on the first update
            with use_language(self.lang):
                self.epoch_label_ = self.figure_.text(0.005, 0.995, text, ha="left", va="top", fontsize=10,
                                                      color="0.15")
                self.epoch_label_.set_in_layout(False)
        self.epoch_label_.set_text(text)
        # the start's marker and the note lie over the paths: drawn again over them
        ax = self.axes_[0]
        over = [a for a in ax.lines if a.get_zorder() > 5] + [self.note_]
        return [*changed, *over, self.epoch_label_]


def _wrap(text: str, width: int) -> str:
    """Break a long English note at spaces (Japanese notes are short enough as they are)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) if " " in text else text
