"""Comparisons: variants from one start, the shared loss slice (against a float64 numpy loss) and
the figure's artists."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backpropviz.analysis.compare import (MAX_RUNS, check_same_start, comparison_slice,  # noqa: E402
                                          parse_vary, variants)
from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.errors import BackpropvizError  # noqa: E402
from backpropviz.render.compare import CompareDisplay  # noqa: E402
from backpropviz.train import train  # noqa: E402


def bce64(w1, w2, b, X, y):
    """Mean BCE of the perceptron in float64, for every (w1, w2, b) given as arrays."""
    z = np.multiply.outer(w1, X[:, 0]) + np.multiply.outer(w2, X[:, 1]) + np.asarray(b)[..., None]
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=-1)


@pytest.mark.parametrize("text, expected", [
    ("optimizer=sgd,Adam", ("optimizer", ["sgd", "adam"])),
    ("lr=0.1,1", ("lr", [0.1, 1.0])),
    ("batch-size=1,16,full", ("batch_size", [1, 16, None])),
    ("batch_size=4,8", ("batch_size", [4, 8])),
    ("epochs=5,10", ("epochs", [5, 10])),
])
def test_parse_vary(text, expected):
    assert parse_vary(text) == expected


@pytest.mark.parametrize("text, fragment", [
    ("seed=1,2", "unknown --vary key 'seed'"),
    ("lr", "KEY=V1,V2"),
    ("lr=a,b", "takes numbers"),
    ("lr=0.1,,1", "empty value"),
    ("lr=0.1,0.1", "twice"),
    ("batch-size=2.5", "whole numbers or 'full'"),
    ("lr=nan,1", "finite"),
])
def test_parse_vary_errors(text, fragment):
    with pytest.raises(BackpropvizError, match=fragment):
        parse_vary(text)


def test_variants_combine_values_and_name_each_run():
    runs = variants(RunConfig(), [parse_vary("optimizer=sgd,adam"), parse_vary("lr=0.1,0.5")])
    assert [label for label, _ in runs] == ["optimizer=sgd, lr=0.1", "optimizer=sgd, lr=0.5",
                                            "optimizer=adam, lr=0.1", "optimizer=adam, lr=0.5"]
    assert [(c.optimizer, c.lr) for _, c in runs] == [("sgd", 0.1), ("sgd", 0.5), ("adam", 0.1), ("adam", 0.5)]
    assert all(c.seed == 2025 and c.init == (-1.0, 1.0, 0.0) for _, c in runs)
    with pytest.raises(BackpropvizError, match=f"at most {MAX_RUNS}"):
        variants(RunConfig(), [parse_vary("lr=" + ",".join(str(k / 10) for k in range(1, 14)))])
    with pytest.raises(BackpropvizError, match="at least two runs"):
        variants(RunConfig(), [parse_vary("lr=0.1")])
    with pytest.raises(BackpropvizError, match="run optimizer=adam: --momentum does not apply to adam"):
        variants(RunConfig(momentum=0.9), [parse_vary("optimizer=sgd,adam")])


def test_variants_start_together_and_the_first_is_the_plain_run():
    runs = variants(RunConfig(epochs=20), [parse_vary("lr=0.5,2")])
    histories = [train(c) for _, c in runs]
    check_same_start(histories)
    np.testing.assert_array_equal(histories[0].params, train(RunConfig(epochs=20)).params)
    assert not np.array_equal(histories[0].params[-1], histories[1].params[-1])
    other = train(RunConfig(epochs=20, seed=1, init=None))
    with pytest.raises(BackpropvizError, match="same parameters"):
        check_same_start([histories[0], other])


@pytest.fixture(scope="module")
def perceptron_runs():
    return [train(RunConfig(epochs=40, lr=lr)) for lr in (0.5, 3.0)]


def test_perceptron_slice_is_the_w1_w2_plane_at_the_mean_final_bias(perceptron_runs):
    s = comparison_slice(perceptron_runs, resolution=9)
    assert s.method == "params" and s.axis_names == ("w1", "w2")
    b = np.mean([h.params[-1, 2] for h in perceptron_runs])
    assert s.fixed == pytest.approx({"b": b})
    h = perceptron_runs[0]
    W1, W2 = np.meshgrid(s.alpha, s.beta)
    expected = bce64(W1, W2, np.full(W1.shape, b), h.X.astype(np.float64), h.y.astype(np.float64))
    np.testing.assert_allclose(s.loss, expected, rtol=2e-5, atol=1e-6)
    for path, residual, run in zip(s.paths, s.residuals, perceptron_runs):
        np.testing.assert_allclose(path, run.params[:, :2], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(residual, np.abs(run.params[:, 2] - b), rtol=1e-5, atol=1e-6)
        # The window shows every path.
        assert path[:, 0].min() >= s.alpha[0] and path[:, 0].max() <= s.alpha[-1]
        assert path[:, 1].min() >= s.beta[0] and path[:, 1].max() <= s.beta[-1]


def test_pca_slice_passes_through_the_common_start():
    runs = [train(RunConfig(data="xor", model="mlp:3", optimizer=o, lr=0.1, epochs=30)) for o in ("sgd", "adam")]
    s = comparison_slice(runs, resolution=7)
    assert s.method == "pca" and 0 < s.explained <= 1 + 1e-9
    np.testing.assert_array_equal(s.origin, runs[0].params[0].astype(np.float64))
    np.testing.assert_allclose(s.directions @ s.directions.T, np.eye(2), atol=1e-9)
    for path in s.paths:
        np.testing.assert_allclose(path[0], [0, 0], atol=1e-9)
    # Reconstructing each path from the plane leaves exactly the recorded residual.
    for path, residual, run in zip(s.paths, s.residuals, runs):
        back = s.origin + path @ s.directions
        np.testing.assert_allclose(np.linalg.norm(run.params - back, axis=1), residual, rtol=1e-6, atol=1e-9)
    with pytest.raises(BackpropvizError, match="unknown plane"):
        comparison_slice(runs, method="random")
    with pytest.raises(BackpropvizError, match="no parameter"):
        comparison_slice(runs, method="params", params=("w1", "w2"))


def test_compare_display_draws_one_colour_per_run(perceptron_runs):
    s = comparison_slice(perceptron_runs, resolution=9)
    d = CompareDisplay.from_histories(perceptron_runs, ["lr=0.5", "lr=3"], s, lang="en")
    assert len(d.paths_) == len(d.curves_) == len(d.acc_curves_) == 2
    for path_line, curve, acc, color in zip(d.paths_, d.curves_, d.acc_curves_, d.colors):
        assert path_line.get_color() == curve.get_color() == acc.get_color() == color
    assert len(set(d.colors)) == 2
    np.testing.assert_allclose(d.curves_[1].get_ydata(), perceptron_runs[1].epoch_train_loss)
    np.testing.assert_allclose(d.paths_[0].get_xydata(), s.paths[0])
    texts = [t.get_text() for t in d.legend_.get_texts()]
    assert texts[:2] == ["lr=0.5", "lr=3"] and len(texts) == 4
    assert "b fixed" in d.note_.get_text()


def test_a_curve_lying_exactly_on_another_stays_visible(perceptron_runs):
    # the same run twice, as momentum and Nesterov nearly are: identical curves and paths
    same = [perceptron_runs[0], perceptron_runs[0]]
    d = CompareDisplay.from_histories(same, ["momentum", "nesterov"], comparison_slice(same, resolution=9), lang="en")
    for lines in (d.paths_, d.curves_, d.acc_curves_):
        under, over = lines
        np.testing.assert_array_equal(under.get_xydata(), over.get_xydata())
        assert (under.get_linestyle(), under.get_marker()) != (over.get_linestyle(), over.get_marker())
        assert over.get_linestyle() != "-"  # the upper line is broken, so the lower shows between its dashes
        # markers placed at different points: none of one run's covers one of the other's
        marked = [set(np.arange(line.get_markevery()[0], len(line.get_xdata()), line.get_markevery()[1]))
                  for line in lines]
        assert marked[0] and marked[1] and not marked[0] & marked[1]


def test_compare_epoch_axes_stop_at_the_last_epoch(perceptron_runs):
    d = CompareDisplay.from_histories(perceptron_runs, ["a", "b"], comparison_slice(perceptron_runs, resolution=9))
    assert d.axes_[1].get_xlim() == d.axes_[2].get_xlim() == (0.0, 40.0)
