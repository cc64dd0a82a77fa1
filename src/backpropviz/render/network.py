"""The network as a diagram: one column of nodes per layer, one line per weight.

A line's colour is the weight's sign (orange positive, blue negative) and its width grows with
``|weight|``, on one scale shared by every panel, so that panels for different epochs compare
directly. A node's fill is its bias on the same two colours, with a colour bar. Small networks
also print weights' values on their lines, the strongest first, each where it overlaps no node
and no other value; a weight with no free spot goes unlabelled.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from .base import fmt_value, new_figure
from .fonts import use_language
from . import palette
from .probability import class_label, class_phrase, probability_cmap

MAX_NODES = 12  # nodes drawn per column; wider layers show their first ones and a "+N more" note
MIN_WIDTH, MAX_WIDTH = 0.4, 6.0
LABEL_EDGES = 16  # print the weight values when the diagram has at most this many lines
NODE_AREA = 260  # marker area of a node, points squared
LABEL_GAP_PX = 5  # free pixels kept around each printed weight


def edge_width(weight, largest: float):
    """Line width for ``|weight|`` on a scale where ``largest`` gets ``MAX_WIDTH``: monotonic."""
    scale = largest if largest > 0 else 1.0
    return MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * np.minimum(np.abs(weight) / scale, 1.0)


class NetworkDiagramDisplay:
    """One diagram per chosen epoch, drawn on a shared scale.

    >>> d = NetworkDiagramDisplay.from_history(history, epochs=[0, 1000])   # doctest: +SKIP
    >>> [len(w) for w in d.edge_weights_]                                   # doctest: +SKIP
    [12, 12]
    """

    def __init__(self, sizes, weights, biases, epochs, *, input_names=None, output_names=None,
                 title="", lang="en"):
        self.sizes = list(sizes)
        self.weights = [[np.asarray(w, float) for w in ws] for ws in weights]  # per epoch, per layer
        self.biases = [[None if b is None else np.asarray(b, float) for b in bs] for bs in biases]
        self.epochs = list(epochs)
        self.input_names = list(input_names or [f"x{i + 1}" for i in range(self.sizes[0])])
        self.output_names = list(output_names or [""] * self.sizes[-1])
        self.title = title
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"NetworkDiagramDisplay(sizes={self.sizes}, epochs={self.epochs}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, epochs=None, *, lang=None, axes=None, plot=True):
        """Weights after ``epochs`` completed epochs (default: the start and the end)."""
        from ..analysis.views import check_epochs, epoch_row, final_epoch, layer_sizes, layers
        from .base import title_fields

        lang = resolve_lang(lang)
        n_epochs = final_epoch(history)
        epochs = sorted({0, n_epochs}) if epochs is None else check_epochs(epochs, n_epochs, "--network-epochs")
        ls = layers(history.param_names)
        weights, biases = [], []
        for e in epochs:
            row = history.params[epoch_row(history, e)].astype(np.float64)
            weights.append([row[layer.weight] for layer in ls])
            biases.append([None if layer.bias is None else row[layer.bias] for layer in ls])
        from ..train import is_regression

        classes = history.class_names or ["0", "1"]
        if is_regression(history):
            outputs = [t("pred_output", lang)]
        elif layer_sizes(history.param_names)[-1] == 1:
            outputs = [t("prob_colorbar", lang, cls=class_phrase(classes[-1], lang))] if len(classes) <= 2 else [""]
        else:
            outputs = [class_label(c, lang) for c in classes]
        _, fields = title_fields(history.config)
        title = t("network_title", lang, data=fields.get("gate", fields.get("data", "")))
        display = cls(layer_sizes(history.param_names), weights, biases, epochs,
                      input_names=history.feature_names, output_names=outputs, title=title, lang=lang)
        return display.plot(axes=axes) if plot else display

    @property
    def largest_weight(self) -> float:
        return max((float(np.max(np.abs(w))) for ws in self.weights for w in ws if w.size), default=0.0)

    @property
    def largest_bias(self) -> float:
        return max((float(np.max(np.abs(b))) for bs in self.biases for b in bs if b is not None and b.size),
                   default=0.0)

    def _positions(self):
        """Node (x, y) per column for the nodes drawn, and how many each column leaves out."""
        tallest = min(max(self.sizes), MAX_NODES)
        columns, hidden = [], []
        for k, n in enumerate(self.sizes):
            shown = min(n, MAX_NODES)
            ys = (np.arange(shown)[::-1] - (shown - 1) / 2) * (1.0 if tallest > 1 else 0)
            columns.append(np.stack([np.full(shown, float(k)), ys], axis=1))
            hidden.append(n - shown)
        return columns, hidden

    def plot(self, axes=None):
        """Draw one panel per epoch; keeps ``axes_``, ``figure_``, ``edges_`` (a LineCollection
        per panel), ``edge_weights_`` (the weight of each of its lines, same order), ``nodes_``,
        ``weight_labels_`` (per panel, (weight, Text) of each value printed), ``colorbar_`` (the
        nodes' bias scale) and ``legend_``."""
        from matplotlib.collections import LineCollection
        from matplotlib.lines import Line2D

        columns, left_out = self._positions()
        tallest = min(max(self.sizes), MAX_NODES)
        largest, bias_scale = self.largest_weight, self.largest_bias or 1.0
        n_edges = sum(min(a, MAX_NODES) * min(b, MAX_NODES) for a, b in zip(self.sizes, self.sizes[1:]))
        cmap = probability_cmap()
        with use_language(self.lang):
            if axes is None:
                panel_w = 1.9 * len(self.sizes) + 1.6
                fig = new_figure((panel_w * len(self.epochs), 0.6 * tallest + 2.6), layout="constrained")
                axes = list(np.atleast_1d(fig.subplots(1, len(self.epochs), squeeze=False)[0]))
            else:
                axes = list(axes)
                fig = axes[0].figure
            self.edges_, self.edge_weights_, self.nodes_, requests = [], [], [], []
            for ax, epoch, ws, bs in zip(axes, self.epochs, self.weights, self.biases):
                segments, values, spots, keys = [], [], [], []
                for k, w in enumerate(ws):
                    src, dst = columns[k], columns[k + 1]
                    for i in range(len(dst)):
                        for j in range(len(src)):
                            segments.append([src[j], dst[i]])
                            values.append(w[i, j])
                            keys.append((k, i, j))
                            # Labels of lines leaving different nodes sit at different distances
                            # along them, so that they do not pile up where the lines cross.
                            spots.append(0.32 + 0.4 * j / max(len(src) - 1, 1))
                values = np.asarray(values)
                order = np.argsort(np.abs(values), kind="stable")  # the strongest lines on top
                segments = [segments[i] for i in order]
                spots = [spots[i] for i in order]
                keys = [keys[i] for i in order]
                values = values[order]
                lines = LineCollection(segments, colors=[palette.color("positive" if v >= 0 else "negative") for v in values],
                                       linewidths=edge_width(values, largest), alpha=0.8, zorder=1,
                                       capstyle="round")
                ax.add_collection(lines)
                self.edges_.append(lines)
                self.edge_weights_.append(values)
                requests.append((segments, values, spots, keys))
                panel_nodes = []
                for k, xy in enumerate(columns):
                    if k == 0:
                        colors = ["#d4d4d4"] * len(xy)
                    else:
                        b = bs[k - 1]
                        colors = (["#d4d4d4"] * len(xy) if b is None
                                  else [cmap(0.5 + 0.5 * v / bias_scale) for v in b[: len(xy)]])
                    panel_nodes.append(ax.scatter(xy[:, 0], xy[:, 1], s=NODE_AREA, c=colors, edgecolors="black",
                                                  linewidths=0.9, zorder=2))
                    if left_out[k]:
                        ax.text(xy[-1, 0], xy[-1, 1] - 0.75, t("network_more", self.lang, count=left_out[k]),
                                ha="center", va="top", fontsize=8)
                self.nodes_.append(panel_nodes)
                for name, (x, y) in zip(self.input_names, columns[0]):
                    ax.text(x - 0.14, y, str(name), ha="right", va="center", fontsize=9)
                for name, (x, y) in zip(self.output_names, columns[-1]):
                    if name:
                        ax.text(x + 0.14, y, str(name), ha="left", va="center", fontsize=9)
                bottom = -(tallest - 1) / 2 - (1.25 if any(left_out) else 0.7)
                for k in range(len(self.sizes)):
                    label = (t("network_input", self.lang) if k == 0 else
                             t("network_output", self.lang) if k == len(self.sizes) - 1 else
                             t("network_hidden", self.lang, layer=k))
                    ax.text(k, bottom, label, ha="center", va="top", fontsize=9, color="#444444")
                ax.set_xlim(-1.0, len(self.sizes) - 0.05)
                ax.set_ylim(bottom - 0.45, (tallest - 1) / 2 + 0.6)
                ax.set_axis_off()
                ax.set_title(t("network_panel", self.lang, epoch=epoch), fontsize=11)
            handles = [Line2D([], [], color=palette.color("positive"), linewidth=3,
                              label=t("network_legend_pos", self.lang)),
                       Line2D([], [], color=palette.color("negative"), linewidth=3,
                              label=t("network_legend_neg", self.lang)),
                       Line2D([], [], color="gray", linewidth=MAX_WIDTH,
                              label=t("network_legend_width", self.lang, max=f"{largest:.2f}"))]
            labelled = n_edges <= LABEL_EDGES
            if labelled:
                handles.append(Line2D([], [], linestyle="none", label=t("network_legend_values", self.lang)))
            self.legend_ = fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9,
                                      frameon=False)
            # The nodes' colour scale: the biases, on the scale shared by every panel.
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            self.colorbar_ = fig.colorbar(ScalarMappable(Normalize(-bias_scale, bias_scale), cmap), ax=axes,
                                          shrink=0.7, pad=0.02, aspect=18)
            self.colorbar_.set_label(t("network_bias_colorbar", self.lang), fontsize=9)
            self.colorbar_.ax.tick_params(labelsize=8)
            if self.title:
                self.suptitle_ = fig.suptitle(self.title, fontsize=13)
            self.weight_labels_ = [[] for _ in axes]
            self.weight_label_keys_ = [[] for _ in axes]  # (layer, to, from) of each printed weight
            if labelled:
                self._place_labels(fig, axes, requests)
        self.axes_, self.figure_ = axes, fig
        return self

    def _place_labels(self, fig, axes, requests) -> None:
        """Print weight values on their lines, strongest first, each at the first spot along its
        line where it overlaps no node, name or label already placed; a weight with no free spot
        goes unlabelled (the legend says the numbers are the largest weights that fit)."""
        fig.draw_without_rendering()  # settle the layout, so that the text extents are final
        renderer = fig.canvas.get_renderer()
        radius = np.sqrt(NODE_AREA / np.pi) * fig.dpi / 72 + 2  # a node's radius in pixels
        for ax, panel, (segments, values, spots, keys) in zip(axes, self.nodes_, requests):
            taken = [text.get_window_extent(renderer) for text in ax.texts]
            centres = np.concatenate([ax.transData.transform(nodes.get_offsets()) for nodes in panel])
            placed, placed_keys = [], []
            for index in np.argsort(-np.abs(values), kind="stable"):
                (p, q), v, spot = segments[index], values[index], spots[index]
                for f in (spot, 0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78):
                    x, y = p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1])
                    text = ax.text(x, y, fmt_value(v), fontsize=8, ha="center", va="center", zorder=3,
                                   bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
                    box = text.get_window_extent(renderer).padded(LABEL_GAP_PX)
                    near_node = any(box.x0 - radius < cx < box.x1 + radius and box.y0 - radius < cy < box.y1 + radius
                                    for cx, cy in centres)
                    if not near_node and not any(box.overlaps(other) for other in taken):
                        taken.append(box)
                        placed.append((float(v), text))
                        placed_keys.append(keys[index])
                        break
                    text.remove()
            self.weight_labels_[axes.index(ax)] = placed
            self.weight_label_keys_[axes.index(ax)] = placed_keys

    @classmethod
    def for_animation(cls, history, *, lang=None):
        """One diagram, drawn at the finished run (the view at its last epoch), on that epoch's
        scales, holding every row's weights for ``update``."""
        from ..analysis.views import final_epoch, layers
        from .base import epoch_axis

        from ..analysis.views import layer_sizes

        sizes = layer_sizes(history.param_names)
        with use_language(lang):  # an Axes' title takes its font when the Axes is made
            # wide enough for the key under it, which a single panel's own width is not
            fig = new_figure((max(1.9 * len(sizes) + 1.6, 10.5), 0.6 * min(max(sizes), MAX_NODES) + 2.6),
                             layout="constrained")
            ax = fig.add_subplot()
        display = cls.from_history(history, [final_epoch(history)], lang=lang, axes=[ax])
        display.row_params = np.asarray(history.params, dtype=np.float64)
        display.row_layers = layers(history.param_names)
        display.row_epochs = epoch_axis(history.epoch)
        return display

    def update(self, row: int):
        """Show the single diagram at params row ``row``: the lines' colours and widths (the
        strongest on top), the nodes' bias colours, the printed values and the title move, on the
        last epoch's scales; at the last row it is the static view. Returns the artists changed."""
        from ..errors import BackpropvizError
        from .base import fmt_epoch

        if len(self.axes_) != 1 or not hasattr(self, "row_params"):
            raise BackpropvizError("NetworkDiagramDisplay.update needs one panel: build it with for_animation")
        params, ax = self.row_params[row], self.axes_[0]
        ws = [params[layer.weight] for layer in self.row_layers]
        bs = [None if layer.bias is None else params[layer.bias] for layer in self.row_layers]
        columns, _ = self._positions()
        segments, values = [], []
        for k, w in enumerate(ws):  # the order plot uses, then the strongest on top
            src, dst = columns[k], columns[k + 1]
            for i in range(len(dst)):
                for j in range(len(src)):
                    segments.append([src[j], dst[i]])
                    values.append(w[i, j])
        values = np.asarray(values)
        order = np.argsort(np.abs(values), kind="stable")
        values = values[order]
        edges = self.edges_[0]
        edges.set_segments([segments[i] for i in order])
        edges.set_color([palette.color("positive" if v >= 0 else "negative") for v in values])
        edges.set_linewidth(edge_width(values, self.largest_weight))
        cmap, bias_scale = probability_cmap(), self.largest_bias or 1.0
        nodes = self.nodes_[0]
        for k in range(1, len(columns)):
            b = bs[k - 1]
            if b is not None:
                nodes[k].set_facecolor([cmap(0.5 + 0.5 * v / bias_scale) for v in b[: len(columns[k])]])
        texts = []
        for (layer, i, j), (_, text) in zip(self.weight_label_keys_[0], self.weight_labels_[0]):
            text.set_text(fmt_value(ws[layer][i, j]))
            texts.append(text)
        ax.title.set_text(t("network_panel", self.lang, epoch=fmt_epoch(self.row_epochs[row])))
        return [edges, *nodes, *texts, ax.title]

