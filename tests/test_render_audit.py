"""Figure problems a newcomer audit found: legends over data, unreadable ticks, keys missing.

Each test measures the drawn figure (window extents after a draw, tick texts) against what the
audit asked for, with references computed here (overlap of boxes, parsing labels back).
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backpropviz.analysis.compare import comparison_slice, parse_vary, variants  # noqa: E402
from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.render.base import tick_labels  # noqa: E402
from backpropviz.render.compare import CompareDisplay  # noqa: E402
from backpropviz.render.gradnorms import GradientNormDisplay  # noqa: E402
from backpropviz.render.hidden import HiddenUnitsDisplay  # noqa: E402
from backpropviz.render.network import NetworkDiagramDisplay  # noqa: E402
from backpropviz.render.probability import ProbabilityMapDisplay  # noqa: E402
from backpropviz.render.trajectories import GroupedTrajectoryDisplay  # noqa: E402
from backpropviz.train import train  # noqa: E402


def drawn(fig):
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def labels_of(axis):
    return [tick.get_text() for tick in axis.get_ticklabels() if tick.get_visible() and tick.get_text()]


def visible_ticks(ax, which="x"):
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    ticks = ax.get_xticks() if which == "x" else ax.get_yticks()
    return [v for v in ticks if lo - 1e-9 <= v <= hi + 1e-9]


@pytest.fixture(scope="module")
def spirals_run():
    # 16 hidden units: names like w[0,11] end lines; 7 epochs: a range that MaxNLocator splits in halves
    return train(RunConfig(data="spirals", n_samples=60, model="mlp:16", epochs=7))


@pytest.fixture(scope="module")
def deep_runs():
    runs = variants(RunConfig(data="moons", n_samples=60, model="mlp:4,4,4,4,4,4", epochs=20, seed=0),
                    [parse_vary("activation=sigmoid,relu")])
    return [train(config) for _, config in runs]


# -- legends and end labels -------------------------------------------------------------------------

def test_trajectory_legends_sit_outside_the_axes_and_end_labels_inside_the_figure(spirals_run):
    d = GroupedTrajectoryDisplay.from_history(spirals_run, lang="en")
    renderer = drawn(d.figure_)
    page = d.figure_.bbox
    assert len(d.legends_) == len(d.axes_) == 2
    for ax, legend in zip(d.axes_, d.legends_):
        box = legend.get_window_extent(renderer)
        assert not box.overlaps(ax.get_window_extent(renderer))  # hides no line
        assert box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0
    names = [text for panel in d.end_labels_ for text in panel]
    assert len(names) == 2 * 5 and any(len(text.get_text()) >= 7 for text in names)  # 'w[11,1]'-long
    boxes = [text.get_window_extent(renderer) for text in names]
    for box in boxes:
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    # A panel's names do not cover the next panel.
    right_panel = d.axes_[1].get_window_extent(renderer)
    assert all(not box.overlaps(right_panel) for box in boxes[:5])
    for ax in d.axes_:
        ticks = visible_ticks(ax)
        assert ticks and all(float(v).is_integer() for v in ticks)


def test_gradient_norm_legend_and_note_sit_under_the_axes(deep_runs):
    d = GradientNormDisplay.from_history(deep_runs[1], lang="ja")
    renderer = drawn(d.figure_)
    assert not d.legend_.get_window_extent(renderer).overlaps(d.ax_.get_window_extent(renderer))
    assert d.note_ is not None and "最初の層" in d.note_.get_text()
    assert [text.get_text() for text in d.legend_.get_texts()] == d.layer_labels
    assert all(float(v).is_integer() for v in visible_ticks(d.ax_))


# -- compare: a loss range of a few thousandths ---------------------------------------------------------

def test_tick_labels_are_distinct_and_read_back_as_their_values():
    for values, significant in (([0.6925, 0.693, 0.6935, 0.694], False), ([0, 0.25, 0.5, 0.75], False),
                                ([0.69312, 0.69314, 0.69316], False), ([1e-3, 1e-2, 0.1, 1.0], True),
                                ([0.000798911, 0.00353761, 0.0693639, 1.36006], True)):
        labels = tick_labels(values, significant=significant)
        assert len(set(labels)) == len(values)
        step = np.diff(values).min()
        for text, v in zip(labels, values):
            assert abs(float(text) - v) <= (0.01 * abs(v) if significant else 0.01 * step)


def test_compare_over_a_narrow_loss_range_is_linear_with_distinct_plain_labels(deep_runs):
    s = comparison_slice(deep_runs, resolution=9)
    d = CompareDisplay.from_histories(deep_runs, ["sigmoid", "relu"], s, lang="en")
    drawn(d.figure_)
    losses = np.concatenate([h.epoch_train_loss for h in deep_runs])
    assert losses.max() / losses.min() < 1.1  # the case the audit saw: all near ln 2
    ax_slice, ax_loss, ax_acc = d.axes_
    assert ax_loss.get_yscale() == "linear"
    loss_labels = labels_of(ax_loss.yaxis)
    assert len(loss_labels) >= 3 and len(set(loss_labels)) == len(loss_labels)
    assert ax_loss.yaxis.get_offset_text().get_text() == ""
    assert not any("10^" in text or "times" in text or "e-" in text for text in loss_labels)
    step = np.diff(ax_loss.get_yticks()).min()
    for tick in ax_loss.yaxis.get_major_ticks():
        text = tick.label1.get_text()
        assert abs(float(text.replace("\u2212", "-")) - tick.get_loc()) <= 0.01 * step
    bar = labels_of(d.colorbar_.ax.yaxis)
    assert len(bar) >= 3 and len(set(bar)) == len(bar)
    assert "log" not in d.colorbar_.ax.get_ylabel()
    for ax in (ax_loss, ax_acc):  # 20 epochs: ticks 0, 5, 10, ... not 2.5
        ticks = visible_ticks(ax)
        assert len(ticks) >= 3 and all(float(v).is_integer() for v in ticks)


# -- hidden units --------------------------------------------------------------------------------------

def test_a_dead_relu_unit_is_flagged_and_every_colour_bar_is_labelled():
    h = train(RunConfig(data="moons", n_samples=40, model="mlp:3,2", activation="relu", epochs=3))
    names = list(h.param_names)
    params = h.params.copy()
    # Unit 2 of layer 1: weights 0 and bias -1, so relu(0*x - 1) = 0 all over the plane.
    for j in range(2):
        params[-1, names.index(f"0.weight[1,{j}]")] = 0.0
    params[-1, names.index("0.bias[1]")] = -1.0
    h.params = params
    d = HiddenUnitsDisplay.from_history(h, resolution=15, lang="ja")
    assert (0, 1) in d.dead_
    titles = [ax.get_title() for ax in d.axes_[0]]
    assert "不活性" in titles[1]
    # Units flagged are exactly those whose drawn output does not vary over the plane.
    for layer, axes in enumerate(d.axes_):
        for unit, ax in enumerate(axes):
            image = d.activations[layer][unit]
            assert ((layer, unit) in d.dead_) == (np.ptp(image) == 0 or np.ptp(image) < 1e-6)
    assert all(bar.ax.get_ylabel() == f"隠れ層 {k + 1} の出力" for k, bar in enumerate(d.colorbars_))
    texts = [text.get_text() for text in d.legend_.get_texts()]
    assert any(text.startswith("黒線") and "0" in text for text in texts)
    assert "クラス 0" in texts and "クラス 1" in texts and any("不活性" in text for text in texts)


def test_sigmoid_units_switch_where_the_output_is_one_half():
    h = train(RunConfig(data="xor", model="mlp:2", activation="sigmoid", epochs=3))
    d = HiddenUnitsDisplay.from_history(h, resolution=11, lang="en")
    assert "output 0.5 there" in d.legend_.get_texts()[0].get_text()
    assert not d.dead_


# -- probability small multiples ------------------------------------------------------------------------

def test_empty_grid_slots_are_hidden_and_the_panel_above_one_shows_its_x_numbers(spirals_run):
    d = ProbabilityMapDisplay.from_history(spirals_run, [0, 1, 2, 4, 7], resolution=20, lang="en")
    drawn(d.figure_)
    grid = [ax for ax in d.figure_.axes if ax not in d.axes_ and ax is not d.colorbar_.ax]
    assert len(grid) == 1 and not grid[0].get_visible()
    # 2 x 3 grid, 5 panels: the bottom of each column is panels 3, 4 and 2.
    for k in (2, 3, 4):
        assert d.axes_[k].get_xlabel() and len(labels_of(d.axes_[k].xaxis)) >= 3
    for k in (0, 1):
        assert not d.axes_[k].get_xlabel() and not labels_of(d.axes_[k].xaxis)


def test_a_csv_run_names_its_file_and_its_class(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    path = tmp_path / "loans.csv"
    path.write_text("a,b,label\n" + "".join(f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}\n"
                                             for a, b in X))
    h = train(RunConfig(data="csv", csv=str(path), target="label", features=("a", "b"), model="mlp:2",
                        epochs=3))
    assert list(h.class_names) == ["no", "yes"]
    d = ProbabilityMapDisplay.from_history(h, [0, 3], resolution=10, lang="en")
    assert "loans.csv" in d.suptitle_.get_text() and "(csv)" not in d.suptitle_.get_text()
    assert "yes" in d.suptitle_.get_text() and "class 1" not in d.suptitle_.get_text()
    assert "yes" in d.colorbar_.ax.get_ylabel()
    n = NetworkDiagramDisplay.from_history(h, lang="ja")
    assert "loans.csv" in n.suptitle_.get_text() and any("yes" in t.get_text() for t in n.axes_[0].texts)


# -- network diagram ---------------------------------------------------------------------------------

def test_network_weight_labels_do_not_overlap_and_the_bias_scale_is_shown():
    h = train(RunConfig(data="xor", model="mlp:4", epochs=200))
    d = NetworkDiagramDisplay.from_history(h, lang="en")
    renderer = drawn(d.figure_)
    for panel, weights in zip(d.weight_labels_, d.edge_weights_):
        assert panel  # a 12-line network prints values
        boxes = [text.get_window_extent(renderer) for _, text in panel]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j])
        for value, text in panel:
            assert text.get_text() == f"{value:.2f}" and np.isclose(np.abs(weights), abs(value)).any()
        # the strongest weight always gets its number
        assert max(abs(v) for v, _ in panel) == pytest.approx(np.abs(weights).max())
    biases = np.abs(h.params[[0, -1]][:, [k for k, n in enumerate(h.param_names) if ".bias" in n]])
    assert d.colorbar_.mappable.get_clim() == pytest.approx((-biases.max(), biases.max()))
    assert "bias" in d.colorbar_.ax.get_ylabel()


def test_every_new_label_exists_in_both_languages():
    from backpropviz.i18n import CATALOGUE

    for key in ("hidden_colorbar_layer", "hidden_unit_dead", "hidden_dead_key", "hidden_switch",
                "network_bias_colorbar", "network_legend_values", "compare_surface_same_lin", "class_quoted"):
        assert CATALOGUE[key]["en"] and CATALOGUE[key]["ja"] and CATALOGUE[key]["en"] != CATALOGUE[key]["ja"]


def test_metrics_legends_sit_under_the_axes():
    from backpropviz.render.metrics import MetricsDisplay

    history = train(RunConfig(data="moons", n_samples=80, model="mlp:4", epochs=30, batch_size=16,
                              test_fraction=0.25, seed=0))
    d = MetricsDisplay.from_history(history, lang="en")
    renderer = drawn(d.figure_)
    assert len(d.legends_) == 2
    for ax, legend, lines in zip(d.axes_, d.legends_, d.lines_):
        assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
        assert [text.get_text() for text in legend.get_texts()] == [line.get_label() for line in lines]
        assert len(lines) == 2  # train and test
