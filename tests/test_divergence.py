"""Runs that blow up stop with a clear message and keep every finite step before it."""

import numpy as np
import pytest

from backpropviz.config import RunConfig
from backpropviz.data import Dataset
from backpropviz.errors import BackpropvizError, TrainingDiverged
from backpropviz.train import train

# Inputs so large that one SGD step overflows w1 to infinity. The sigmoid then saturates and
# PyTorch's BCE clamps its logarithm, so the loss stays finite: only the parameters show it.
HUGE = Dataset("huge", np.array([[1e30, 1], [2e30, 1], [3e30, 1], [4e30, 1]], dtype=np.float32),
               np.array([0, 0, 1, 1], dtype=np.float32))


def test_overflowing_parameters_stop_the_run_before_the_bad_update():
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(lr=1e10, init=(0, 0, 0), epochs=5), dataset=HUGE)
    history = caught.value.history
    assert "step 0" in str(caught.value) and "infinite or NaN" in str(caught.value)
    assert history.n_steps == 0 and history.params.shape == (1, 3)
    np.testing.assert_array_equal(history.params[0], [0, 0, 0])
    # the same update, by hand: it does overflow float32
    grad_w1 = np.mean((0.5 - HUGE.y) * HUGE.X[:, 0].astype(np.float64))
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.float32(-1e10 * grad_w1))


def test_nan_loss_keeps_the_steps_before_it():
    X = np.array([[0, 0], [0, 1], [1, 0], [np.nan, 1]], dtype=np.float32)
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(epochs=3), dataset=Dataset("nan", X, np.array([0, 0, 0, 1], dtype=np.float32)))
    assert caught.value.history.n_steps == 0 and "step 0" in str(caught.value)


def test_learning_rate_beyond_float32_is_bad_input():
    with pytest.raises(BackpropvizError, match="--lr"):
        RunConfig(lr=1e39).validate()


def test_cli_divergence_exit_2_one_line_and_history_kept(cli, tmp_path, monkeypatch):
    # CSV features are standardised, so the huge inputs come in through the data loader.
    import backpropviz.train

    monkeypatch.setattr(backpropviz.train, "load_data", lambda config: HUGE)
    saved = tmp_path / "h.npz"
    r = cli("run", "--lr", "1e10", "--init", "0,0,0", "--epochs", "5",
            "--out", tmp_path / "o", "--save-history", saved)
    assert r.code == 2, r
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err
    assert "infinite or NaN" in r.err and str(saved) in r.err
    from backpropviz.history import History

    kept = History.load(saved)
    assert kept.status.startswith("diverged at step 0") and np.isfinite(kept.params).all()
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_saturation_is_not_divergence_but_gets_a_note(cli, tmp_path):
    # lr 1e6 with MSE: the sigmoid saturates, the loss is stuck at 0.25 and finite, the gradient 0.
    r = cli("run", "--loss", "mse", "--lr", "1e6", "--out", tmp_path)
    assert r.code == 0, r
    assert "gradient has vanished" in r.err and "smaller --lr" in r.err
    r = cli("run", "--out", tmp_path)  # the article's run fits the data: no note
    assert r.code == 0 and "note:" not in r.err
