"""Parameters over the epochs, one panel per layer, so that many parameters stay readable.

In a layer with few parameters every line has its own colour and a legend entry. In a bigger
layer all lines are drawn thin and grey, and the few that moved the most are drawn in colour
and named right of the axes, level with their ends. Biases are dashed. Legends sit under the
panels, so they hide no line.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from . import palette
from .base import epoch_axis, epoch_xaxis, legend_below, new_figure
from .fonts import use_language

NAMED_LINES = 10  # a layer with at most this many parameters names every line
MAX_GREY = 300  # grey lines drawn per panel at most (evenly picked): more only cost drawing time
HIGHLIGHT = 5  # in bigger layers, this many (those that moved most) are coloured and named
PANEL_SIZE = (5.2, 3.3)


def short_name(name: str) -> str:
    """'2.weight[0,3]' -> 'w[0,3]', '0.bias[1]' -> 'b[1]'; the perceptron's names stay."""
    if ".weight[" in name:
        return "w" + name[name.index("["):]
    if ".bias[" in name:
        return "b" + name[name.index("["):]
    return name


class GroupedTrajectoryDisplay:
    """One panel per layer with its parameters' values against epochs completed.

    >>> d = GroupedTrajectoryDisplay.from_history(history)   # doctest: +SKIP
    >>> [len(lines) for lines in d.lines_]                   # doctest: +SKIP
    [12, 5]
    """

    def __init__(self, epochs, values, groups, *, titles=None, title="", lang="en"):
        self.epochs = np.asarray(epochs, dtype=float)
        self.values = np.asarray(values, dtype=float)  # (rows, P)
        self.groups = [(list(names), np.asarray(cols, dtype=np.int64)) for names, cols in groups]
        self.titles = list(titles or ["" for _ in self.groups])
        self.title = title
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return (f"GroupedTrajectoryDisplay(groups={[len(c) for _, c in self.groups]}, "
                f"rows={len(self.epochs)}, lang={self.lang!r})")

    @classmethod
    def from_history(cls, history, *, lang=None, max_rows=2000, figure=None, plot=True):
        """Group ``history``'s parameters by layer; long runs are thinned to about ``max_rows``
        rows for drawing (first and last kept)."""
        from ..analysis.views import layers
        from .base import title_fields

        lang = resolve_lang(lang)
        rows = np.unique(np.linspace(0, history.params.shape[0] - 1,
                                     min(max_rows, history.params.shape[0])).round().astype(np.int64))
        groups, titles = [], []
        for layer in layers(history.param_names):
            cols = layer.columns
            groups.append(([history.param_names[c] for c in cols], cols))
            titles.append(t("traj_panel", lang, layer=layer.position + 1, n_in=layer.n_in,
                            n_out=layer.n_out, count=len(cols)))
        _, fields = title_fields(history.config)
        title = t("traj_title", lang, data=fields.get("gate", fields.get("data", "")))
        display = cls(epoch_axis(history.epoch)[rows], history.params[rows], groups, titles=titles,
                      title=title, lang=lang)
        return display.plot(figure=figure) if plot else display

    def plot(self, figure=None):
        """Draw one panel per group; keeps ``figure_``, ``axes_``, ``lines_`` (per panel, one entry
        per parameter in the group's order: its line, or None when a big layer leaves it out),
        ``highlighted_`` (per panel, the names coloured), ``legends_`` (per panel, below its
        axes so that it covers no line) and ``end_labels_`` (per big-layer panel, the names
        right of the axes)."""
        n = len(self.groups)
        ncols = 1 if n == 1 else 2
        nrows = -(-n // ncols)
        with use_language(self.lang):
            fig = figure or new_figure((PANEL_SIZE[0] * ncols + 0.6, PANEL_SIZE[1] * nrows + 0.8),
                                       layout="constrained")
            grid = fig.subplots(nrows, ncols, squeeze=False)
            for ax in grid.ravel()[n:]:
                ax.set_visible(False)
            self.axes_ = list(grid.ravel()[:n])
            self.lines_, self.highlighted_, self.legends_, self.end_labels_ = [], [], [], []
            param_colors = palette.colors("params")
            for ax, (names, cols), panel_title in zip(self.axes_, self.groups, self.titles):
                values = self.values[:, cols]
                moved = np.abs(values[-1] - values[0])
                named = len(cols) <= NAMED_LINES
                top = set(np.argsort(-moved, kind="stable")[:HIGHLIGHT].tolist()) if not named else set()
                lines, highlighted = [None] * len(cols), []
                colour_index = 0
                end_labels = []
                rest = [k for k in range(len(cols)) if not (named or k in top)]
                drawn_grey = set(rest) if len(rest) <= MAX_GREY else {
                    rest[i] for i in np.linspace(0, len(rest) - 1, MAX_GREY).round().astype(int)}
                # Grey lines first, so that the coloured ones stay on top.
                for k in sorted(range(len(cols)), key=lambda k: (named or k in top, k)):
                    if not (named or k in top or k in drawn_grey):
                        continue
                    dashed = ".bias" in names[k] or names[k] == "b"
                    style = "--" if dashed else "-"
                    if named or k in top:
                        color = param_colors[colour_index % len(param_colors)]
                        colour_index += 1
                        (line,) = ax.plot(self.epochs, values[:, k], color=color, linestyle=style,
                                          linewidth=1.6, label=short_name(names[k]), zorder=3)
                        highlighted.append(names[k])
                        if not named:
                            end_labels.append([float(values[-1, k]), short_name(names[k]), color])
                    else:
                        (line,) = ax.plot(self.epochs, values[:, k], color="#9ca3af", linestyle=style,
                                          linewidth=0.7, alpha=0.6, zorder=2)
                    lines[k] = line
                if named:
                    self.legends_.append(legend_below(ax, ax.get_legend_handles_labels()[0],
                                                      ncol=min(len(cols), 5)))
                else:
                    from matplotlib.lines import Line2D

                    others = t("traj_others", self.lang, count=len(cols) - len(top))
                    if len(drawn_grey) < len(rest):
                        others += t("traj_drawn", self.lang, count=len(drawn_grey))
                    handles = [Line2D([], [], color="#9ca3af", linewidth=0.7, label=others)]
                    if any(".bias" in name for name in names):
                        handles.append(Line2D([], [], color="#6b7280", linestyle="--", linewidth=1.0,
                                              label=t("traj_bias", self.lang)))
                    self.legends_.append(legend_below(ax, handles, ncol=len(handles)))
                    self.end_labels_.append(_label_ends(ax, end_labels))
                ax.set_title(panel_title, fontsize=10)
                ax.set_xlabel(t("epochs", self.lang))
                epoch_xaxis(ax, float(self.epochs.max(initial=0.0)))  # the names sit just right of the lines' ends
                ax.set_ylabel(t("param_value", self.lang))
                ax.grid(True, alpha=0.4)
                self.lines_.append(lines)
                self.highlighted_.append(highlighted)
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=12)
        self.figure_ = fig
        return self


def _label_ends(ax, labels) -> list:
    """Name lines just right of the axes, level with their ends, pushed apart vertically so
    that no two names overlap; the names sit outside the axes (constrained layout makes room)."""
    lo, hi = ax.get_ylim()
    gap = 0.055 * (hi - lo)
    labels = sorted(labels, key=lambda item: item[0])
    ys = [y for y, _, _ in labels]
    for i in range(1, len(ys)):  # push upwards until no two are closer than the gap ...
        ys[i] = max(ys[i], ys[i - 1] + gap)
    for i in reversed(range(len(ys))):  # ... then down again from under the top of the axes
        ys[i] = min(ys[i], hi - gap / 2 if i == len(ys) - 1 else ys[i + 1] - gap)
    return [ax.annotate(text, (1.0, y), xytext=(1.015, shown), xycoords=("axes fraction", "data"),
                        textcoords=("axes fraction", "data"), fontsize=8, color=color, va="center",
                        ha="left", annotation_clip=False)
            for (y, text, color), shown in zip(labels, ys)]
