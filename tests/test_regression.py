"""Regression, as TensorFlow playground has it: a continuous target, MSE, R^2, the predicted value
over the input plane. References: closed forms (least squares, MSE gradient) and plain numpy."""

import numpy as np
import pytest
import torch
from clihelpers import one_line_error

from backpropviz.config import RunConfig
from backpropviz.data import make_dataset
from backpropviz.history import History
from backpropviz.train import predict, prepare, train


def test_reg_plane_and_reg_gauss_targets_follow_their_formulas():
    plane = make_dataset("reg-plane", n=50, noise=0.0, seed=3)
    assert plane.task == "regression" and plane.class_names == ()
    X = plane.X.astype(np.float64)
    np.testing.assert_allclose(plane.y, (X[:, 0] + X[:, 1]) / 2, rtol=0, atol=1e-7)
    gauss = make_dataset("reg-gauss", n=50, noise=0.0, seed=3)
    X = gauss.X.astype(np.float64)
    bump = lambda cx, cy: np.exp(-((X[:, 0] - cx) ** 2 + (X[:, 1] - cy) ** 2) / (2 * 0.35 ** 2))  # noqa: E731
    expected = bump(-0.5, -0.5) + bump(0.5, 0.5) - bump(-0.5, 0.5) - bump(0.5, -0.5)
    np.testing.assert_allclose(gauss.y, expected, rtol=0, atol=1e-6)
    noisy = make_dataset("reg-plane", n=2000, seed=1)
    residual = noisy.y - (noisy.X[:, 0] + noisy.X[:, 1]) / 2
    assert residual.std() == pytest.approx(0.05, rel=0.1)  # the default noise


def test_linear_regression_step_is_the_closed_form_mse_gradient():
    config = RunConfig(data="reg-plane", loss="mse", lr=0.1, epochs=3, init=(0.3, -0.2, 0.1), n_samples=40, seed=2)
    h = train(config)
    _, _, model = prepare(config)
    assert not any(isinstance(m, torch.nn.Sigmoid) for m in model.modules())
    X, y = h.X.astype(np.float64), h.y.astype(np.float64)
    for t in range(3):
        w, b = h.params[t, :2].astype(np.float64), float(h.params[t, 2])
        r = X @ w + b - y
        assert h.loss[t] == pytest.approx(np.mean(r ** 2), rel=1e-5)
        grad = np.r_[2 * X.T @ r / len(y), 2 * r.mean()]
        np.testing.assert_allclose(h.grads[t], grad, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(h.params[t + 1], h.params[t] - 0.1 * h.grads[t], rtol=1e-6, atol=1e-7)


def test_linear_regression_converges_to_least_squares():
    h = train(RunConfig(data="reg-plane", loss="mse", lr=0.5, epochs=400, seed=4))
    A = np.c_[h.X.astype(np.float64), np.ones(len(h.y))]
    solution = np.linalg.lstsq(A, h.y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(h.params[-1], solution, atol=1e-4)
    assert solution[:2] == pytest.approx([0.5, 0.5], abs=0.02)


def test_r_squared_metric_is_one_minus_sse_over_sst():
    h = train(RunConfig(data="reg-gauss", model="mlp:6", loss="mse", optimizer="adam", lr=0.02, epochs=60,
                        test_fraction=0.25, seed=0))
    for X, y, r2 in ((h.X, h.y, h.epoch_train_acc[-1]), (h.X_test, h.y_test, h.epoch_test_acc[-1])):
        yhat = predict(h, -1, X).astype(np.float64)
        y = y.astype(np.float64)
        assert r2 == pytest.approx(1 - ((yhat - y) ** 2).sum() / ((y - y.mean()) ** 2).sum(), rel=1e-5)
    assert h.epoch_train_acc[0] < 0.2 < h.epoch_train_acc[-1] and h.config["task"] == "regression"


def test_regression_split_draws_test_rows_from_the_whole_set():
    h = train(RunConfig(data="reg-plane", loss="mse", epochs=1, test_fraction=0.25, seed=0))
    assert len(h.y) == 150 and len(h.y_test) == 50


@pytest.mark.parametrize("lang,words", [("en", ["R² 0.", "whole training set"]), ("ja", ["決定係数 R² 0."])])
def test_cli_regression_run_notes_mse_and_draws_the_prediction_view(cli, tmp_path, lang, words):
    r = cli("run", "--data", "reg-gauss", "--model", "mlp:6", "--optimizer", "adam", "--lr", "0.02",
            "--epochs", "30", "--out", tmp_path, "--save-history", tmp_path / "h.npz", "--lang", lang)
    assert r.code == 0, r
    assert sorted(p.name for p in tmp_path.glob("*.png")) == \
        ["gradient_norms.png", "hidden_units.png", "metrics.png", "network.png", "prediction.png", "trajectories.png"]
    assert any(w in r.out for w in words), r.out
    assert ("--loss mse" in r.err) and "accuracy" not in r.out
    h = History.load(tmp_path / "h.npz")
    assert h.config["loss"] == "mse" and h.config["task"] == "regression"


def test_regression_history_reproduces_from_its_config(cli, tmp_path):
    args = ("--views", "metrics", "--out", tmp_path)
    assert cli("run", "--data", "reg-plane", "--epochs", "20", *args, "--save-history", tmp_path / "a.npz").code == 0
    assert cli("run", "--config", tmp_path / "a.npz", *args, "--save-history", tmp_path / "b.npz").code == 0
    a, b = History.load(tmp_path / "a.npz"), History.load(tmp_path / "b.npz")
    assert np.array_equal(a.params, b.params) and np.array_equal(a.grads, b.grads)


@pytest.mark.parametrize("args,fragments", [
    (("--data", "reg-plane", "--loss", "bce"), ["--loss bce is for classes", "--loss mse"]),
    (("--data", "reg-plane", "--views", "probability"), ["--views probability", "prediction"]),
    (("--data", "moons", "--model", "mlp:3", "--views", "prediction"), ["--views prediction"]),
    (("--data", "moons", "--task", "regression"), ["moons", "classification set", "--task regression"]),
    (("--data", "reg-gauss", "--task", "classification"), ["regression set"]),
    (("--task", "ranking"), ["task", "auto, classification, regression"]),
])
def test_regression_bad_input_is_one_line(cli, tmp_path, args, fragments):
    one_line_error(cli("run", *args, "--epochs", "2", "--out", tmp_path), *fragments)


def write_csv(path, rows):
    path.write_text("a,b,price\n" + "".join(f"{a},{b},{p}\n" for a, b, p in rows))
    return path


def test_csv_numeric_target_is_detected_as_regression_and_standardised(cli, tmp_path):
    rng = np.random.default_rng(0)
    ab = rng.normal(size=(60, 2))
    price = 1000 + 300 * ab[:, 0] - 100 * ab[:, 1]  # non-whole numbers: regression
    path = write_csv(tmp_path / "houses.csv", [(a, b, p) for (a, b), p in zip(ab, price)])
    ds = make_dataset("csv", path=path, target="price")
    assert ds.task == "regression" and ds.meta["task_detected"]
    np.testing.assert_allclose(ds.y, (price - price.mean()) / price.std(), rtol=1e-5, atol=1e-6)
    r = cli("run", "--csv", path, "--target", "price", "--epochs", "200", "--lr", "0.1", "--out", tmp_path / "o",
            "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    assert "treated as regression" in r.err and "standardised" in r.err and "--loss mse" in r.err
    h = History.load(tmp_path / "h.npz")
    assert h.epoch_train_acc[-1] > 0.99  # a plane fits a plane: R^2 near 1
    one_line_error(cli("run", "--csv", path, "--target", "price", "--task", "classification", "--out", tmp_path),
                   "distinct values")


def test_csv_whole_number_target_stays_classes_unless_told(tmp_path):
    path = write_csv(tmp_path / "labels.csv", [(i, -i, i % 2) for i in range(10)])
    assert make_dataset("csv", path=path, target="price").task == "classification"
    ds = make_dataset("csv", path=path, target="price", task="regression")
    assert ds.task == "regression" and not ds.meta["task_detected"]
    bad = tmp_path / "text.csv"
    bad.write_text("a,b,price\n1,2,cheap\n3,4,5\n")
    from backpropviz.errors import BackpropvizError

    with pytest.raises(BackpropvizError, match="row 1 .*regression target must be a finite number"):
        make_dataset("csv", path=bad, target="price", task="regression")


def test_prediction_view_draws_the_models_values_on_the_targets_scale():
    from backpropviz.analysis.views import epoch_row, input_plane
    from backpropviz.render.regression import PredictionMapDisplay

    h = train(RunConfig(data="reg-gauss", model="mlp:4", loss="mse", epochs=10, seed=1))
    d = PredictionMapDisplay.from_history(h, [0, 10], resolution=30, lang="en")
    plane = input_plane(h, 30)
    expected = predict(h, epoch_row(h, 10), plane.points).reshape(plane.shape)
    np.testing.assert_allclose(np.asarray(d.images_[1].get_array()), expected, rtol=1e-6)
    top = np.abs(h.y).max()
    assert d.images_[0].get_clim() == pytest.approx((-top, top))  # targets of both signs: 0 at the middle
    np.testing.assert_array_equal(d.points_[0][0].get_array(), h.y)
    assert d.axes_[1].get_title().startswith("epoch 10: loss ") and "R²" in d.axes_[1].get_title()
    ja = PredictionMapDisplay.from_history(h, [0, 10], resolution=10, lang="ja")
    assert ja.colorbar_.ax.get_ylabel().startswith("予測値")


def test_metrics_and_network_views_name_r_squared_and_the_predicted_value():
    from backpropviz.render.metrics import MetricsDisplay
    from backpropviz.render.network import NetworkDiagramDisplay

    h = train(RunConfig(data="reg-plane", model="mlp:3", loss="mse", epochs=5, seed=0))
    m = MetricsDisplay.from_history(h, lang="en")
    assert m.axes_[1].get_ylabel().startswith("R²") and "R²" in m.suptitle_.get_text()
    assert m.axes_[1].get_ylim()[1] == pytest.approx(1.05)
    assert m.axes_[1].get_ylim()[0] <= min(h.epoch_train_acc.min(), 0.0)  # R^2 below 0 stays in view
    assert NetworkDiagramDisplay.from_history(h, lang="en").output_names == ["predicted value"]
    assert NetworkDiagramDisplay.from_history(h, lang="ja").output_names == ["予測値"]


def test_compare_of_regression_runs_reports_r_squared(cli, tmp_path):
    r = cli("compare", "--data", "reg-plane", "--vary", "lr=0.1,0.5", "--epochs", "20", "--out", tmp_path)
    assert r.code == 0, r
    header = r.out.splitlines()[0]
    assert "R²" in header and "accuracy" not in header and "%" not in r.out


def test_basins_refuses_a_regression_run(cli, tmp_path):
    one_line_error(cli("basins", "--data", "reg-plane", "--loss", "mse", "--resolution", "4", "--epochs", "5",
                       "--out", tmp_path),
                   "regression run")


def test_hidden_view_of_a_regression_draws_the_units_without_class_points():
    from backpropviz.render.hidden import HiddenUnitsDisplay

    h = train(RunConfig(data="reg-gauss", model="mlp:3", loss="mse", epochs=5, seed=0))
    d = HiddenUnitsDisplay.from_history(h, resolution=12, lang="en")
    assert len(d.thumbnails_) == 3 and d.X is None
    assert not any(ax.collections and any(type(c).__name__ == "PathCollection" for c in ax.collections)
                   for ax in d.axes_[0])  # no scatter of points coloured by a class they do not have
