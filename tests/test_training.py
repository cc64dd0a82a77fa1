"""The training loop beyond the article: XOR, batches, per-epoch metrics, penalties, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backpropviz.config import ARTICLE_INIT, RunConfig
from backpropviz.data import Dataset
from backpropviz.errors import BackpropvizError, TrainingDiverged
from backpropviz.history import History
from backpropviz.train import model_at, train


# -- XOR: what one neuron cannot learn --------------------------------------------------------

def test_perceptron_cannot_learn_xor():
    history = train(RunConfig(data="xor"))  # the article's settings, XOR instead of AND
    assert history.loss[-1] > 0.69  # stuck at ln 2: the best a line can do on XOR
    assert history.epoch_train_acc[-1] <= 0.75


@pytest.mark.parametrize("model", ["mlp:4", "mlp:2"])
def test_small_mlp_learns_xor_with_the_articles_settings(model):
    # Documented setting: tanh, SGD lr 0.5, 1000 full-batch epochs, BCE, seed 2025.
    history = train(RunConfig(data="xor", model=model, activation="tanh"))
    probs = model_at(history)(torch.from_numpy(history.X)).detach().numpy().reshape(-1)
    np.testing.assert_array_equal((probs >= 0.5).astype(np.float32), history.y)
    assert history.epoch_train_acc[-1] == 1.0 and history.loss[-1] < 0.05


# -- batches ---------------------------------------------------------------------------------

def test_minibatches_cover_each_sample_once_per_epoch():
    history = train(RunConfig(data="moons", n_samples=50, model="mlp:3", lr=0.1, epochs=3,
                              batch_size=16, seed=0))
    assert history.batches.shape == (12, 16) and history.n_steps == 12
    for epoch in range(3):
        rows = history.batches[history.epoch == epoch]
        seen = rows[rows >= 0]
        assert sorted(seen.tolist()) == list(range(50))
        assert (rows[-1] == -1).sum() == 14 and (rows[:-1] >= 0).all()  # 50 = 3 * 16 + 2
    first, second = (history.batches[history.epoch == e][0] for e in (0, 1))
    assert not np.array_equal(first, second)  # reshuffled each epoch


def test_stochastic_and_unshuffled_and_full_batch_shapes():
    sgd1 = train(RunConfig(data="linear", n_samples=10, model="perceptron", lr=0.1, epochs=2, batch_size=1))
    assert sgd1.batches.shape == (20, 1) and (sgd1.batches >= 0).all()
    ordered = train(RunConfig(data="linear", n_samples=10, model="perceptron", lr=0.1, epochs=2,
                              batch_size=4, shuffle=False))
    assert ordered.batches[:3].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, -1, -1]]
    full = train(RunConfig(data="linear", n_samples=10, model="perceptron", lr=0.1, epochs=2))
    assert full.batches is None and full.n_steps == 2
    whole = train(RunConfig(data="linear", n_samples=10, model="perceptron", lr=0.1, epochs=2, batch_size=10))
    assert whole.batches is None and np.array_equal(whole.params, full.params)


def test_same_config_same_run_and_seed_zero_counts():
    config = RunConfig(data="moons", n_samples=40, model="mlp:4", optimizer="adam", lr=0.01,
                       epochs=2, batch_size=8, seed=0)
    a, b = train(config), train(config)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.batches, b.batches)
    c = train(RunConfig(**{**config.to_dict(), "seed": 1}))
    assert not np.array_equal(a.params[0], c.params[0]) and not np.array_equal(a.X, c.X)
    assert a.config["seed"] == 0 and json.loads(config.to_json())["seed"] == 0


# -- per-epoch metrics -----------------------------------------------------------------------

def independent_metrics(history, rows, X, y):
    """Data loss and accuracy at each params row, computed with plain torch / numpy."""
    losses, accs = [], []
    for r in rows:
        with torch.no_grad():
            out = model_at(history, int(r))(torch.from_numpy(X))
        if out.shape[1] == 1:
            losses.append(F.binary_cross_entropy(out, torch.from_numpy(y).reshape(-1, 1)).item())
            accs.append(np.mean((out.numpy()[:, 0] >= 0.5) == (y == 1)))
        else:
            losses.append(F.cross_entropy(out, torch.from_numpy(y).long()).item())
            accs.append(np.mean(out.numpy().argmax(axis=1) == y))
    return np.array(losses), np.array(accs)


@pytest.mark.parametrize("batch_size", [None, 16])
def test_epoch_metrics_are_whole_set_values_at_each_epoch_start(batch_size):
    history = train(RunConfig(data="iris", model="mlp:5", loss="ce", optimizer="adam", lr=0.05,
                              epochs=4, batch_size=batch_size, test_fraction=0.2, seed=2))
    rows = history.epoch_param_rows
    assert len(rows) == 5 and rows[0] == 0 and rows[-1] == history.n_steps
    assert len(history.y) == 120 and len(history.y_test) == 30
    for split, X, y in [("train", history.X, history.y), ("test", history.X_test, history.y_test)]:
        losses, accs = independent_metrics(history, rows, X, y)
        np.testing.assert_allclose(getattr(history, f"epoch_{split}_loss"), losses, rtol=1e-6)
        np.testing.assert_allclose(getattr(history, f"epoch_{split}_acc"), accs, rtol=1e-6)
    if batch_size is None:  # full batch: the epoch's loss is the step's loss
        np.testing.assert_allclose(history.epoch_train_loss[:-1], history.loss, rtol=1e-6)


def test_l1_penalty_is_in_the_recorded_loss_but_not_in_the_epoch_metrics():
    history = train(RunConfig(data="moons", n_samples=30, model="mlp:3", lr=0.2, epochs=5, l1=0.01))
    weights = [i for i, n in enumerate(history.param_names) if ".weight" in n]
    penalty = 0.01 * np.abs(history.params[:-1, weights]).sum(axis=1)
    np.testing.assert_allclose(history.loss - history.epoch_train_loss[:-1], penalty, rtol=1e-4)
    assert (penalty > 0).all()


# -- divergence, files, config ---------------------------------------------------------------

def test_minibatch_divergence_raises_with_history_so_far():
    # The third row is NaN, so the second unshuffled batch of two gives a NaN loss.
    X = np.array([[0, 0], [0, 1], [np.nan, 0], [1, 1]], dtype=np.float32)
    data = Dataset("bad", X, np.array([0, 1, 0, 1], dtype=np.float32))
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(model="mlp:3", lr=0.1, epochs=5, batch_size=2, shuffle=False), dataset=data)
    history = caught.value.history
    assert history.status.startswith("diverged at step 1") and history.n_steps == 1
    assert history.params.shape == (2, len(history.param_names))
    assert history.batches.tolist() == [[0, 1]] and np.isfinite(history.params).all()


def test_history_file_round_trips_new_arrays(tmp_path):
    history = train(RunConfig(data="wine", model="mlp:3", loss="ce", lr=0.1, epochs=3, batch_size=50,
                              test_fraction=0.25, schedule="cosine", seed=0))
    loaded = History.load(history.save(tmp_path / "run.npz"))
    for name in ("params", "grads", "loss", "epoch", "batches", "lr", "epoch_train_loss",
                 "epoch_train_acc", "epoch_test_loss", "epoch_test_acc", "X_test", "y_test", "X", "y"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(history, name), err_msg=name)
    assert loaded.class_names == ["class_0", "class_1", "class_2"] and loaded.n_classes == 3
    assert loaded.feature_names == history.feature_names and loaded.extra == {}
    assert RunConfig.from_dict(loaded.config) == RunConfig.from_dict(history.config)
    with np.load(tmp_path / "run.npz", allow_pickle=False) as z:
        assert {"params", "grads", "loss", "epoch", "batches", "param_names", "X", "y", "config"} <= set(z.files)


def test_article_history_keeps_design_arrays(tmp_path):
    path = train(RunConfig(epochs=5)).save(tmp_path / "and.npz")
    with np.load(path, allow_pickle=False) as z:
        assert {"params", "grads", "loss", "epoch", "param_names", "X", "y", "config"} <= set(z.files)
        assert "batches" not in z.files and z["param_names"].tolist() == ["w1", "w2", "b"]


def test_config_round_trips_every_field():
    config = RunConfig(data="csv", csv="d.csv", target="t", features=("a", "b"), model="mlp:4,4",
                       activation="relu", loss="ce", l1=0.1, l2=0.2, optimizer="adam", lr=0.01,
                       betas=(0.8, 0.9), eps=1e-6, weight_decay=0.0, schedule="step", step_size=3,
                       gamma=0.5, epochs=7, batch_size=8, shuffle=False, seed=0, n_samples=30,
                       noise=0.0, test_fraction=0.25)
    assert RunConfig.from_json(config.to_json()) == config
    assert RunConfig.from_dict(json.loads(config.to_json())).seed == 0
    assert RunConfig().init == ARTICLE_INIT and RunConfig(model="mlp:4").init is None


@pytest.mark.parametrize("options,message", [
    ({"batch_size": 0}, "--batch-size"),
    ({"csv": "x.csv"}, "data set must be 'csv'"),
    ({"data": "csv"}, "--csv FILE --target COLUMN"),
    ({"schedule": "linear"}, "choose one of: constant, step, cosine"),
    ({"optimizer": "adam", "momentum": 0.9}, "--momentum does not apply to adam"),
    ({"l2": -1.0}, "--l2"),
    ({"test_fraction": 1.0}, "--test-fraction"),
    ({"model": "mlp:4", "activation": "swish"}, "unknown activation"),
])
def test_bad_configs_are_explained(options, message):
    with pytest.raises(BackpropvizError, match=message):
        train(RunConfig(**options))


def test_multiclass_perceptron_on_all_features_starts_from_the_seeded_init():
    history = train(RunConfig(data="iris", features=("all",), loss="ce", lr=0.5, epochs=50))
    assert len(history.param_names) == 4 * 3 + 3  # the article's 3-value start does not fit
    assert history.epoch_train_acc[-1] > 0.9


def test_oversized_history_is_refused_before_training():
    with pytest.raises(BackpropvizError, match=r"would record 2000000 steps x 10501 parameters .* GiB limit"):
        train(RunConfig(data="moons", n_samples=2000, model="mlp:100,100", epochs=1000, batch_size=1))


def test_bce_on_three_classes_suggests_ce():
    with pytest.raises(BackpropvizError, match="use --loss ce"):
        train(RunConfig(data="iris", model="mlp:3"))


def test_csv_run_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["u,v,label"] + [f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}"
                            for a, b in rng.normal(size=(40, 2))]
    (tmp_path / "pts.csv").write_text("\n".join(rows) + "\n")
    history = train(RunConfig(data="csv", csv=str(tmp_path / "pts.csv"), target="label",
                              model="perceptron", lr=1.0, epochs=200))
    assert history.class_names == ["no", "yes"] and history.feature_names == ["u", "v"]
    assert history.epoch_train_acc[-1] >= 0.95


def test_on_step_is_called_every_step():
    seen = []
    train(RunConfig(data="moons", n_samples=20, model="mlp:2", epochs=2, batch_size=6), on_step=seen.append)
    assert seen == list(range(1, 9))


@pytest.mark.parametrize("settings", [{}, {"data": "moons", "model": "mlp:8,8", "batch_size": 10, "epochs": 2, "test_fraction": 0.25},
                                      {"data": "iris", "loss": "ce", "model": "mlp:5", "epochs": 2, "init_scheme": "normal:0.3"}])
def test_start_history_is_the_run_before_its_first_step(settings):
    from backpropviz.train import load_data, start_history

    config = RunConfig(**settings)
    dataset = load_data(config)
    start = start_history(config, dataset)
    run = train(config, dataset)  # the same data set object again: not changed by start_history
    assert start.n_steps == 0 and start.params.shape == (1, run.params.shape[1])
    np.testing.assert_array_equal(start.params[0], run.params[0])
    assert start.param_names == run.param_names and start.config == run.config
    np.testing.assert_array_equal(start.X, run.X)
    np.testing.assert_array_equal(start.y, run.y)
    assert (start.X_test is None) == (run.X_test is None)
    if run.X_test is not None:
        np.testing.assert_array_equal(start.X_test, run.X_test)
    assert start.class_names == run.class_names and start.feature_names == run.feature_names
    # a run given the data set trains as one that makes it
    np.testing.assert_array_equal(run.params, train(config).params)
