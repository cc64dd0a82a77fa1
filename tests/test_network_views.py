"""Network views: the arrays behind them against hand-written references, and the artists drawn.

References are written here in plain numpy (the MLP's forward pass, gradient norms from the
recorded gradients sliced by name) or plain torch (a gradient recomputed with autograd).
"""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from backpropviz.analysis import views as V  # noqa: E402
from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.errors import BackpropvizError  # noqa: E402
from backpropviz.render.gradnorms import GradientNormComparison, GradientNormDisplay  # noqa: E402
from backpropviz.render.hidden import MAX_UNITS, HiddenUnitsDisplay  # noqa: E402
from backpropviz.render.metrics import MetricsDisplay  # noqa: E402
from backpropviz.render.network import NetworkDiagramDisplay  # noqa: E402
from backpropviz.render.palette import color  # noqa: E402
from backpropviz.render.probability import ProbabilityMapDisplay  # noqa: E402
from backpropviz.render.trajectories import HIGHLIGHT, GroupedTrajectoryDisplay  # noqa: E402
from backpropviz.render.views import (VIEWS, RunShape, ViewOptions, check_views, default_views,  # noqa: E402
                                      parse_views, render_view)
from backpropviz.train import train  # noqa: E402


@pytest.fixture(scope="module")
def xor_run():
    return train(RunConfig(data="xor", model="mlp:3,2", epochs=120))


@pytest.fixture(scope="module")
def moons_run():
    return train(RunConfig(data="moons", n_samples=60, model="mlp:5", activation="relu", optimizer="adam",
                           lr=0.05, epochs=12, batch_size=16, test_fraction=0.25, seed=1))


@pytest.fixture(scope="module")
def iris_run():
    return train(RunConfig(data="iris", model="mlp:4", loss="ce", optimizer="adam", lr=0.05, epochs=15))


def numpy_mlp(history, row, X, activation=np.tanh):
    """The MLP's forward pass by hand, from the flat parameters and their names.

    Returns (hidden outputs per layer, output probabilities)."""
    flat = history.params[row].astype(np.float64)
    names = history.param_names
    prefixes = list(dict.fromkeys(n.split(".")[0] for n in names))
    h, hidden = np.asarray(X, dtype=np.float64), []
    for k, prefix in enumerate(prefixes):
        w_cols = [i for i, n in enumerate(names) if n.startswith(prefix + ".weight")]
        b_cols = [i for i, n in enumerate(names) if n.startswith(prefix + ".bias")]
        W = flat[w_cols].reshape(len(b_cols), -1)
        z = h @ W.T + flat[b_cols]
        if k < len(prefixes) - 1:
            h = activation(z)
            hidden.append(h)
        else:
            h = z
    if h.shape[1] == 1:
        return hidden, 1 / (1 + np.exp(-h[:, 0]))
    e = np.exp(h - h.max(axis=1, keepdims=True))
    return hidden, e / e.sum(axis=1, keepdims=True)


# -- layers and gradient norms -------------------------------------------------------------------

def test_layers_follow_the_models_parameter_shapes(xor_run, iris_run):
    from backpropviz.train import model_at

    for history in (xor_run, iris_run):
        linear = [m for m in model_at(history) if isinstance(m, torch.nn.Linear)]
        layers = V.layers(history.param_names)
        assert [(L.n_out, L.n_in) for L in layers] == [tuple(m.weight.shape) for m in linear]
        flat = history.params[-1]
        for L, m in zip(layers, linear):
            np.testing.assert_array_equal(flat[L.weight], m.weight.detach().numpy())
            np.testing.assert_array_equal(flat[L.bias], m.bias.detach().numpy())
    perceptron = V.layers(["w1", "w2", "b"])
    assert len(perceptron) == 1 and perceptron[0].weight.tolist() == [[0, 1]] and perceptron[0].bias.tolist() == [2]
    assert V.layer_sizes(xor_run.param_names) == [2, 3, 2, 1]
    with pytest.raises(BackpropvizError, match="linear layers"):
        V.layers(["conv.kernel"])


def test_gradient_norms_equal_norms_of_the_recorded_gradients_by_layer(moons_run):
    norms = V.gradient_norms(moons_run)
    assert norms.shape == (moons_run.n_steps, 2)
    for k, prefix in enumerate(["0.", "2."]):
        cols = [i for i, n in enumerate(moons_run.param_names) if n.startswith(prefix)]
        expected = np.sqrt((moons_run.grads[:, cols].astype(np.float64) ** 2).sum(axis=1))
        np.testing.assert_allclose(norms[:, k], expected, rtol=1e-12)


def test_first_gradient_norms_match_autograd_recomputed_in_float64(xor_run):
    from backpropviz.train import model_at

    model = model_at(xor_run, 0).double()
    out = model(torch.from_numpy(xor_run.X).double())
    loss = F.binary_cross_entropy(out, torch.from_numpy(xor_run.y).double().reshape(-1, 1))
    loss.backward()
    linear = [m for m in model if isinstance(m, torch.nn.Linear)]
    expected = [torch.cat([m.weight.grad.reshape(-1), m.bias.grad]).norm().item() for m in linear]
    np.testing.assert_allclose(V.gradient_norms(xor_run)[0], expected, rtol=1e-5)


@pytest.mark.parametrize("n, expected", [(0, [0]), (3, [0, 1, 2, 3]), (1000, [0, 5, 20, 50, 200, 1000])])
def test_snapshot_epochs(n, expected):
    assert V.snapshot_epochs(n) == expected


def test_snapshot_epochs_are_sorted_distinct_and_keep_the_ends():
    for n in (5, 6, 7, 37, 120, 9999):
        e = V.snapshot_epochs(n)
        assert e[0] == 0 and e[-1] == n and e == sorted(set(e)) and len(e) <= 6


# -- probability maps ------------------------------------------------------------------------------

def test_probability_small_multiples_and_the_half_contour(xor_run):
    epochs = [0, 10, 60, 120]
    d = ProbabilityMapDisplay.from_history(xor_run, epochs, resolution=41, lang="en")
    assert len(d.axes_) == len(d.images_) == len(d.contours_) == 4
    assert all(list(c.levels) == [0.5] for c in d.contours_)
    # The map is the model's probability at each grid point, as a hand-written forward pass gives it.
    XX, YY = np.meshgrid(d.xs, d.ys)
    for k, e in enumerate(epochs):
        _, p = numpy_mlp(xor_run, V.epoch_row(xor_run, e), np.stack([XX.ravel(), YY.ravel()], 1))
        np.testing.assert_allclose(d.images_[k].get_array(), p.reshape(XX.shape), atol=1e-6)
    # The trained boundary exists and lies where the probability is one half.
    verts = np.concatenate([p.vertices for p in d.contours_[-1].get_paths() if len(p.vertices)])
    _, p = numpy_mlp(xor_run, -1, verts)
    assert len(verts) > 10 and np.max(np.abs(p - 0.5)) < 0.02
    # The data are drawn on every panel, one artist per class.
    assert all(len(points) == 2 for points in d.points_)
    assert d.colorbar_ is not None


def test_probability_grid_covers_train_and_test_points(moons_run):
    plane = V.input_plane(moons_run, 30)
    for X in (moons_run.X, moons_run.X_test):
        assert (X[:, 0] > plane.xs[0]).all() and (X[:, 0] < plane.xs[-1]).all()
        assert (X[:, 1] > plane.ys[0]).all() and (X[:, 1] < plane.ys[-1]).all()
    d = ProbabilityMapDisplay.from_history(moons_run, resolution=30)
    assert d.epochs == V.snapshot_epochs(12) and len(d.axes_) == len(d.epochs)
    assert len(d.points_[0]) == 4  # two classes, train and test
    texts = [h.get_text() for h in d.legend_.get_texts()]
    assert any("(test)" in s for s in texts) and any("0.5" in s for s in texts)


def test_multiclass_map_colours_the_predicted_class(iris_run):
    d = ProbabilityMapDisplay.from_history(iris_run, [0, 15], resolution=25)
    assert d.maps.shape == (2, 25, 25, 3) and not d.is_binary
    np.testing.assert_allclose(d.maps.sum(axis=-1), 1.0, atol=1e-5)
    from matplotlib.colors import to_rgb

    from backpropviz.render.probability import class_color

    image = d.images_[-1].get_array()
    winner = d.maps[-1].argmax(-1)
    # Every pixel is a mix of white and its predicted class's colour: the colour's direction shows.
    for k in range(3):
        mask = winner == k
        if mask.any():
            shade = 1 - image[mask]
            direction = 1 - np.array(to_rgb(class_color(k)))
            cos = shade @ direction / (np.linalg.norm(shade, axis=1) * np.linalg.norm(direction))
            assert cos.min() > 0.999
    assert all(isinstance(c, list) and c for c in d.contours_)


def test_input_plane_views_refuse_other_dimensions():
    h = train(RunConfig(data="iris", features=("all",), model="mlp:3", loss="ce", lr=0.1, epochs=2))
    with pytest.raises(BackpropvizError, match="2 input features; this run has 4"):
        ProbabilityMapDisplay.from_history(h)


# -- hidden units --------------------------------------------------------------------------------------

def test_one_thumbnail_per_hidden_unit_with_the_units_output(xor_run):
    d = HiddenUnitsDisplay.from_history(xor_run, resolution=21, lang="en")
    assert len(d.thumbnails_) == 3 + 2 and [len(row) for row in d.axes_] == [3, 2]
    XX, YY = np.meshgrid(d.xs, d.ys)
    hidden, _ = numpy_mlp(xor_run, -1, np.stack([XX.ravel(), YY.ravel()], 1))
    expected = [h.T.reshape(-1, *XX.shape) for h in hidden]
    images = [im.get_array() for im in d.thumbnails_]
    np.testing.assert_allclose(np.stack(images[:3]), expected[0], atol=1e-6)
    np.testing.assert_allclose(np.stack(images[3:]), expected[1], atol=1e-6)
    assert all(im.get_clim() == (-1.0, 1.0) for im in d.thumbnails_)  # tanh's range
    assert len(d.colorbars_) == 2


@pytest.mark.parametrize("palette_name", ["default", "cvd"])
def test_hidden_thumbnails_class_points_stand_out_from_the_map_under_them(moons_run, palette_name):
    from matplotlib.colors import to_rgba

    from backpropviz.render import palette

    def luminance(rgba):
        r, g, b = rgba[:3]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    with palette.use_palette(palette_name):
        d = HiddenUnitsDisplay.from_history(moons_run, resolution=31, lang="en")
    for image in d.thumbnails_:
        ax = image.axes
        values = image.get_array()
        for points in ax.collections:
            if not hasattr(points, "get_offsets") or not len(points.get_offsets()) or points.get_array() is not None:
                continue
            faces, edges = points.get_facecolor(), points.get_edgecolor()
            ring = float(np.max(points.get_linewidths()))
            for k, (x, y) in enumerate(points.get_offsets()):
                face, edge = to_rgba(faces[k % len(faces)]), to_rgba(edges[k % len(edges)])
                i = np.abs(d.xs - x).argmin()
                j = np.abs(d.ys - y).argmin()
                under = luminance(image.cmap(image.norm(values[j, i])))
                # the marker's fill differs from the map under it by a third of the black-white range,
                # or a ring of visible width does by half (the map's own colours did not: blue on blue
                # with a hairline edge)
                assert (abs(luminance(face) - under) > 0.33
                        or ring >= 0.8 and abs(luminance(edge) - under) > 0.5), (x, y, face, under)


def test_wide_layers_show_their_first_units_and_say_so():
    h = train(RunConfig(data="xor", model="mlp:20", epochs=2))
    d = HiddenUnitsDisplay.from_history(h, resolution=8)
    assert len(d.thumbnails_) == MAX_UNITS
    labels = [ax.get_ylabel() for row in d.axes_ for ax in row if ax.get_ylabel()]
    assert any(f"{MAX_UNITS} of 20" in s for s in labels)


def test_hidden_view_needs_hidden_layers():
    h = train(RunConfig(data="moons", model="perceptron", epochs=2))
    with pytest.raises(BackpropvizError, match="hidden layers"):
        HiddenUnitsDisplay.from_history(h)


# -- network diagram ---------------------------------------------------------------------------------

def test_edge_width_grows_with_the_weights_size_and_colour_shows_its_sign(xor_run):
    d = NetworkDiagramDisplay.from_history(xor_run, [0, 60, 120], lang="en")
    assert len(d.axes_) == len(d.edges_) == 3
    n_edges = 2 * 3 + 3 * 2 + 2 * 1
    for e, lines, weights in zip([0, 60, 120], d.edges_, d.edge_weights_):
        widths = np.asarray(lines.get_linewidths())
        assert len(widths) == len(weights) == n_edges
        order = np.argsort(np.abs(weights))
        assert np.all(np.diff(widths[order]) >= 0)
        strictly = np.diff(np.abs(weights)[order]) > 1e-9
        assert np.all(np.diff(widths[order])[strictly] > 0)
        colors = lines.get_colors()
        expected = [matplotlib.colors.to_rgba(color("positive" if w >= 0 else "negative"), 0.8) for w in weights]
        np.testing.assert_allclose(colors, expected)
        # The weights drawn are that epoch's weight matrices.
        row = xor_run.params[V.epoch_row(xor_run, e)]
        weight_cols = [i for i, n in enumerate(xor_run.param_names) if ".weight" in n]
        np.testing.assert_allclose(np.sort(weights), np.sort(row[weight_cols]), rtol=1e-6)
    # One scale for all panels: the largest weight of the run's shown epochs gets the widest line.
    largest = max(np.abs(w).max() for w in d.edge_weights_)
    assert max(np.max(lines.get_linewidths()) for lines in d.edges_) == pytest.approx(6.0)
    assert d.largest_weight == pytest.approx(largest)


def test_network_epochs_out_of_range():
    h = train(RunConfig(data="xor", model="mlp:2", epochs=3))
    with pytest.raises(BackpropvizError, match="0..3"):
        NetworkDiagramDisplay.from_history(h, [0, 4])


# -- trajectories, gradient norms, metrics --------------------------------------------------------

def test_trajectories_one_panel_per_layer_with_the_biggest_movers_highlighted():
    h = train(RunConfig(data="moons", n_samples=40, model="mlp:6", lr=0.3, epochs=30, seed=3))
    d = GroupedTrajectoryDisplay.from_history(h, lang="en")
    assert len(d.axes_) == 2 and [len(lines) for lines in d.lines_] == [18, 7]
    first = [i for i, n in enumerate(h.param_names) if n.startswith("0.")]
    moved = np.abs(h.params[-1, first] - h.params[0, first])
    top = {h.param_names[first[i]] for i in np.argsort(-moved)[:HIGHLIGHT]}
    assert set(d.highlighted_[0]) == top
    assert len(d.highlighted_[1]) == 7  # a small layer names every line
    line = d.lines_[0][0]
    np.testing.assert_allclose(line.get_ydata(), h.params[:, first[0]])
    biases = [line for line, n in zip(d.lines_[0], d.groups[0][0]) if ".bias" in n]
    assert biases and all(line.get_linestyle() == "--" for line in biases)


def test_gradient_norm_lines_are_the_norms_and_runs_share_one_scale(xor_run, moons_run):
    d = GradientNormDisplay.from_history(xor_run, lang="en")
    assert len(d.lines_) == 3
    for k, line in enumerate(d.lines_):
        np.testing.assert_allclose(line.get_ydata(), V.gradient_norms(xor_run)[:, k])
    m = GradientNormDisplay.from_history(moons_run, lang="en")  # 45 rows, 3 steps per epoch: means
    norms = V.gradient_norms(moons_run)
    np.testing.assert_allclose(m.lines_[0].get_ydata(), norms[:, 0].reshape(12, 3).mean(axis=1))
    assert len(m.bands_) == 2
    c = GradientNormComparison.from_histories([xor_run, xor_run], ["a", "b"], lang="ja")
    assert len(c.axes_) == 2 and c.axes_[0].get_shared_y_axes().joined(c.axes_[0], c.axes_[1])


def test_metrics_draw_the_epoch_arrays(moons_run, xor_run):
    d = MetricsDisplay.from_history(moons_run)
    assert [len(lines) for lines in d.lines_] == [2, 2]
    np.testing.assert_allclose(d.lines_[0][0].get_ydata(), moons_run.epoch_train_loss)
    np.testing.assert_allclose(d.lines_[0][1].get_ydata(), moons_run.epoch_test_loss)
    np.testing.assert_allclose(d.lines_[1][1].get_ydata(), moons_run.epoch_test_acc)
    assert [len(lines) for lines in MetricsDisplay.from_history(xor_run).lines_] == [1, 1]


# -- which views, and every view in both languages ----------------------------------------------

def test_default_views_follow_the_model_and_the_data():
    assert default_views(RunShape(True, 0, 2)) == ["overview", "loss"]
    assert default_views(RunShape(True, 0, 2), has_test=True) == ["overview", "loss", "metrics"]
    assert default_views(RunShape(False, 1, 2))[:2] == ["probability", "hidden"]
    assert "probability" not in default_views(RunShape(False, 1, 4))
    assert "hidden" not in default_views(RunShape(False, 0, 2))
    with pytest.raises(BackpropvizError, match="unknown view 'heat'.*probability"):
        parse_views("probability,heat")
    with pytest.raises(BackpropvizError, match="--views overview"):
        check_views(["overview"], RunShape(False, 1, 2))
    with pytest.raises(BackpropvizError, match="--views hidden"):
        check_views(["hidden"], RunShape(True, 0, 2))
    assert "overview" not in check_views(["all"], RunShape(False, 2, 2))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_network_view_renders_without_missing_glyphs(lang, xor_run, iris_run):
    options = ViewOptions(resolution=20)
    for history in (xor_run, iris_run):
        views = check_views(["all"], RunShape.of_history(history))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            for view in views:
                data = render_view(history, view, "png", lang, options)
                assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert not [w for w in record if "Glyph" in str(w.message)], [str(w.message) for w in record]
    # every view but the article's overview, first-layer (which needs image inputs, tests/test_digits.py)
    # and prediction (regression, tests/test_regression.py)
    assert set(check_views(["all"], RunShape.of_history(xor_run))) == \
        set(VIEWS) - {"overview", "first-layer", "prediction"}


def test_deep_narrow_sigmoid_net_starts_with_vanishing_gradients_relu_does_not():
    # Same data, same seed, same widths; only the activation differs. Sigmoid's slope is at most
    # 1/4, so each layer back from the output shrinks the gradient; ReLU passes it on.
    ratios = {}
    for activation in ("sigmoid", "relu"):
        h = train(RunConfig(data="moons", n_samples=100, model="mlp:4,4,4,4,4,4", activation=activation,
                            epochs=1, seed=0))
        d = GradientNormDisplay.from_history(h, plot=False)
        norms = V.gradient_norms(h)[0]
        assert d.start_ratio == pytest.approx(norms[0] / norms[-1])
        ratios[activation] = d.start_ratio
    assert ratios["sigmoid"] < 1e-2 < ratios["relu"]


def test_network_weight_labels_have_no_signed_zero():
    h = train(RunConfig(data="xor", model="mlp:2", epochs=3))
    h.params[-1, 0] = -1e-4  # a weight that rounds to zero at two decimals
    d = NetworkDiagramDisplay.from_history(h)
    texts = [a.get_text() for a in d.figure_.findobj(matplotlib.text.Text)]
    assert "0.00" in texts and not [s for s in texts if s in ("-0.00", "−0.00")]
