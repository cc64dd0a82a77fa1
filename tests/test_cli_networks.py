"""The CLI beyond the article: networks, other data, views, redraws, comparisons, bad input."""

import numpy as np
import pytest

from backpropviz.history import History

from clihelpers import one_line_error


def final_loss(out: str) -> float:
    line = next(s for s in out.splitlines() if s.startswith("last step's loss "))
    return float(line.split()[3])


def test_perceptron_cannot_learn_xor_but_a_small_mlp_can(cli, tmp_path):
    # The article's settings with XOR: a line cannot separate it; the loss stays near ln 2.
    r = cli("run", "--data", "xor", "--out", tmp_path / "p", "--lang", "en")
    assert r.code == 0, r
    assert final_loss(r.out) > 0.69
    assert (tmp_path / "p" / "overview.png").is_file()
    # Documented setting: mlp:4, tanh, SGD lr 0.5, 1000 full-batch epochs, BCE, seed 2025.
    r = cli("run", "--data", "xor", "--model", "mlp:4", "--out", tmp_path / "m", "--lang", "en",
            "--save-history", tmp_path / "xor.npz")
    assert r.code == 0, r
    table = r.out.splitlines()[1:5]
    assert [row.split(" (")[0] for row in table] == ["0 ^ 0 = 0", "0 ^ 1 = 1", "1 ^ 0 = 1", "1 ^ 1 = 0"]
    assert "whole training set after training: loss" in r.out and "accuracy 100.00%" in r.out and final_loss(r.out) < 0.05
    written = {p.name for p in (tmp_path / "m").iterdir()}
    assert written == {"probability.png", "hidden_units.png", "network.png", "trajectories.png",
                       "gradient_norms.png", "metrics.png"}
    h = History.load(tmp_path / "xor.npz")
    assert h.config["model"] == "mlp:4" and h.epoch_train_acc[-1] == 1.0


def test_run_passes_every_engine_option_to_the_config(cli, tmp_path):
    r = cli("run", "--data", "moons", "--n-samples", "60", "--noise", "0.2", "--test-fraction", "0.25",
            "--model", "mlp:5,3", "--activation", "relu", "--optimizer", "adam", "--lr", "0.02",
            "--beta1", "0.8", "--eps", "1e-6", "--weight-decay", "0.001", "--schedule", "step",
            "--step-size", "3", "--gamma", "0.5", "--l2", "0.001", "--batch-size", "16", "--epochs", "6",
            "--seed", "0", "--views", "metrics,network", "--out", tmp_path / "o",
            "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    assert "test set after training: loss" in r.out
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"metrics.png", "network.png"}
    c = History.load(tmp_path / "h.npz").config
    assert (c["data"], c["n_samples"], c["noise"], c["test_fraction"]) == ("moons", 60, 0.2, 0.25)
    assert (c["model"], c["activation"], c["optimizer"], c["lr"]) == ("mlp:5,3", "relu", "adam", 0.02)
    assert c["betas"] == [0.8, 0.999] and c["eps"] == 1e-6 and c["weight_decay"] == 0.001
    assert (c["schedule"], c["step_size"], c["gamma"], c["l2"], c["batch_size"]) == ("step", 3, 0.5, 0.001, 16)
    h = History.load(tmp_path / "h.npz")
    assert h.lr[0] == 0.02 and h.lr[-1] == pytest.approx(0.01)  # halved after 3 of 6 epochs


def test_nesterov_rmsprop_and_table_features(cli, tmp_path):
    r = cli("run", "--nesterov", "--momentum", "0.5", "--epochs", "3", "--out", tmp_path / "a",
            "--save-history", tmp_path / "a.npz")
    assert r.code == 0, r
    assert History.load(tmp_path / "a.npz").config["optimizer"] == "nesterov"
    r = cli("run", "--data", "iris", "--features", "petal length (cm),petal width (cm)", "--loss", "ce",
            "--optimizer", "rmsprop", "--alpha", "0.9", "--lr", "0.01", "--epochs", "3",
            "--views", "probability", "--out", tmp_path / "b", "--save-history", tmp_path / "b.npz")
    assert r.code == 0, r
    h = History.load(tmp_path / "b.npz")
    assert h.feature_names == ["petal length (cm)", "petal width (cm)"] and h.config["alpha"] == 0.9
    assert (tmp_path / "b" / "probability.png").is_file()


def test_plot_redraws_any_view_from_a_saved_history(cli, tmp_path):
    h = tmp_path / "moons.npz"
    assert cli("run", "--data", "moons", "--n-samples", "40", "--model", "mlp:4", "--epochs", "5",
               "--out", tmp_path / "run", "--save-history", h, "--views", "metrics").code == 0
    r = cli("plot", h, "--views", "all", "--out", tmp_path / "all", "--lang", "ja", "--format", "svg",
            "--network-epochs", "0,2,5", "--hidden-epoch", "3", "--plane-resolution", "30")
    assert r.code == 0, r
    names = {p.name for p in (tmp_path / "all").iterdir()}
    assert names == {"loss_curve.svg", "probability.svg", "hidden_units.svg", "network.svg",
                     "trajectories.svg", "gradient_norms.svg", "metrics.svg"}
    assert "エポック 3" in (tmp_path / "all" / "hidden_units.svg").read_text()
    r = cli("plot", h, "--out", tmp_path / "default")
    assert r.code == 0 and (tmp_path / "default" / "network.png").is_file()
    one_line_error(cli("plot", h, "--views", "overview", "--out", tmp_path / "x"), "--views overview",
                   "perceptron")
    one_line_error(cli("plot", h, "--network-epochs", "0,9", "--out", tmp_path / "y"), "--network-epochs",
                   "0..5", "9")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


@pytest.mark.parametrize("args, fragments", [
    (["--model", "mlp:x"], ["--model mlp", "mlp:x"]),
    (["--model", "resnet"], ["unknown model 'resnet'", "perceptron"]),
    (["--activation", "gelu"], ["unknown activation 'gelu'", "tanh", "relu"]),
    (["--batch-size", "0"], ["--batch-size", "0"]),
    (["--schedule", "exp"], ["unknown lr schedule 'exp'", "cosine"]),
    (["--test-fraction", "1"], ["--test-fraction", "1"]),
    (["--beta1", "2"], ["--betas", "2"]),
    (["--betas", "0.9,0.99", "--beta1", "0.8"], ["--betas", "--beta1"]),
    (["--optimizer", "adam", "--momentum", "0.9"], ["--momentum does not apply to adam"]),
    (["--optimizer", "adam", "--nesterov"], ["--nesterov", "adam"]),
    (["--data", "iris", "--loss", "bce"], ["--loss bce needs two classes", "3"]),
    (["--data", "iris", "--features", "all", "--loss", "ce", "--views", "probability"],
     ["--views probability", "2 input features", "4"]),
    (["--views", "hidden"], ["--views hidden", "hidden layers"]),
    (["--views", "heatmap"], ["unknown view 'heatmap'", "probability", "gradients"]),
    (["--model", "mlp:3", "--init", "1,2,3"], ["--init needs 13 values", "got 3"]),
    (["--network-epochs", "0,20", "--epochs", "10"], ["--network-epochs", "0..10", "20"]),
    (["--hidden-epoch", "11", "--epochs", "10"], ["--hidden-epoch", "11"]),
    (["--plane-resolution", "1"], ["--plane-resolution", "1"]),
    (["--data", "csv"], ["--csv FILE --target COLUMN"]),
])
def test_bad_run_input_is_one_line_and_writes_nothing(cli, tmp_path, args, fragments):
    out = tmp_path / "fresh"
    r = cli("run", *args, "--out", out, "--save-history", tmp_path / "h.npz")
    one_line_error(r, *fragments)
    assert not out.exists() or not any(out.iterdir())
    assert not (tmp_path / "h.npz").exists()


def test_compare_trains_from_one_start_and_draws_one_figure(cli, tmp_path):
    r = cli("compare", "--data", "xor", "--model", "mlp:3", "--vary", "optimizer=sgd,adam,rmsprop",
            "--lr", "0.05", "--epochs", "40", "--out", tmp_path / "c", "--save-histories", tmp_path / "h",
            "--lang", "en", "--resolution", "15")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:2] == ["run", "train"]
    assert [s.split()[0] for s in lines[1:4]] == ["optimizer=sgd", "optimizer=adam", "optimizer=rmsprop"]
    assert {p.name for p in (tmp_path / "c").iterdir()} == {"compare.png", "gradient_norms.png"}
    runs = [History.load(tmp_path / "h" / f"run{k}.npz") for k in (1, 2, 3)]
    assert [h.config["optimizer"] for h in runs] == ["sgd", "adam", "rmsprop"]
    for h in runs[1:]:
        np.testing.assert_array_equal(h.params[0], runs[0].params[0])
    # The printed final losses are each run's own.
    for line, h in zip(lines[1:4], runs):
        assert float(line.split()[1]) == pytest.approx(h.epoch_train_loss[-1], abs=1e-6)


def test_compare_learning_rates_on_the_perceptron_slice(cli, tmp_path):
    r = cli("compare", "--vary", "lr=0.5,5", "--vary", "batch-size=1,full", "--epochs", "20",
            "--out", tmp_path / "c", "--params", "w1,b", "--resolution", "11", "--lang", "ja")
    assert r.code == 0, r
    assert "lr=5, batch-size=full" in r.out and (tmp_path / "c" / "compare.png").is_file()
    assert not (tmp_path / "c" / "gradient_norms.png").exists()  # one layer: nothing to compare


@pytest.mark.parametrize("args, fragments", [
    ([], ["--vary"]),
    (["--vary", "seed=1,2"], ["unknown --vary key 'seed'", "optimizer", "lr"]),
    (["--vary", "lr=0.1"], ["at least two runs"]),
    (["--vary", "loss=ce,bce", "--data", "iris"], ["run loss=bce", "needs two classes"]),
    (["--vary", "lr=0.1,1", "--plane", "random"], ["unknown plane 'random'", "pca"]),
    (["--vary", "lr=0.1,1", "--params", "w1,w9"], ["--params", "w9", "w1, w2, b"]),
    (["--vary", "lr=0.1,1", "--params", "w1"], ["--params", "two"]),
    (["--vary", "optimizer=sgd,adam", "--momentum", "0.9"], ["optimizer=adam", "--momentum"]),
])
def test_bad_compare_input(cli, tmp_path, args, fragments):
    out = tmp_path / "fresh"
    one_line_error(cli("compare", *args, "--epochs", "3", "--out", out), *fragments)
    assert not out.exists() or not any(out.iterdir())
