"""The recorder's fast paths give the same numbers as the plain computations they replace."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from backpropviz.config import RunConfig
from backpropviz.losses import get_loss
from backpropviz.models import build_model
from backpropviz.train import WholeSetEvaluator, train


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("activation, n_outputs, loss", [
    ("tanh", 1, "bce"), ("relu", 1, "bce"), ("leaky_relu", 1, "mse"), ("sigmoid", 3, "ce")])
def test_whole_set_evaluator_matches_a_plain_forward_pass_bit_for_bit(activation, n_outputs, loss, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = build_model("mlp:37,19", 3, seed=5, activation=activation, n_outputs=n_outputs)
        rng = np.random.default_rng(0)
        X = torch.from_numpy(rng.normal(size=(1234, 3)).astype(np.float32))
        labels = rng.integers(0, max(n_outputs, 2), size=(1234, 1))
        y = torch.from_numpy(labels.astype(np.float32))
        loss_fn = get_loss(loss)
        evaluator = WholeSetEvaluator(model, loss_fn, X, y)
        assert "replayed" in repr(evaluator)
        for _ in range(2):  # the second call reuses the first call's buffers
            with torch.no_grad():
                output = model(X)  # the reference: the module's own forward pass
                expected_loss = loss_fn(output, y).item()
                if n_outputs == 1:
                    expected_acc = ((output >= 0.5).float() == y).float().mean().item()
                else:
                    expected_acc = (output.argmax(-1) == y.reshape(-1).long()).float().mean().item()
            assert evaluator() == (expected_loss, expected_acc)
            with torch.no_grad():  # new parameters between calls, as after an epoch
                for p in model.parameters():
                    p.mul_(-1.5)
    finally:
        torch.set_num_threads(previous)


def test_whole_set_evaluator_falls_back_to_the_model_for_other_layers():
    model = nn.Sequential(nn.Linear(2, 4), nn.Softplus(), nn.Linear(4, 1), nn.Sigmoid())
    X = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    y = (X[:, :1] > 0).float()
    evaluator = WholeSetEvaluator(model, get_loss("bce"), X, y)
    assert "model(X)" in repr(evaluator)
    with torch.no_grad():
        expected = get_loss("bce")(model(X), y).item()
    assert evaluator()[0] == expected


def test_epoch_metrics_are_the_whole_set_loss_at_each_epoch_start():
    config = RunConfig(data="moons", n_samples=300, model="mlp:16,8", activation="relu",
                       optimizer="adam", lr=1e-2, epochs=4, batch_size=16, seed=1, test_fraction=0.25)
    history = train(config)
    loss_fn = get_loss(config.loss)
    starts = np.flatnonzero(np.diff(history.epoch, prepend=-1))  # first step of each epoch
    for k, step in enumerate(list(starts) + [len(history.loss)]):
        model = build_model(config.model, 2, seed=config.seed, activation=config.activation)
        with torch.no_grad():
            for p, value in zip(model.parameters(), _split(history.params[step], model)):
                p.copy_(value)
            for X, y, losses in ((history.X, history.y, history.epoch_train_loss),
                                 (history.X_test, history.y_test, history.epoch_test_loss)):
                output = model(torch.from_numpy(X))
                assert losses[k] == loss_fn(output, torch.from_numpy(y).reshape(-1, 1)).item()


def _split(flat: np.ndarray, model) -> list[torch.Tensor]:
    values, offset = [], 0
    for p in model.parameters():
        values.append(torch.from_numpy(flat[offset : offset + p.numel()].copy()).view_as(p))
        offset += p.numel()
    return values


def test_recorder_rows_hold_the_gradients_and_parameters_byte_for_byte():
    from backpropviz.train import Recorder

    rng = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (4,), (2, 4), (2,)]
    flat = torch.randn(sum(int(np.prod(s)) for s in shapes), generator=rng)
    rec = Recorder(flat.clone(), n_steps=3)
    expected_grads, expected_params = [], [flat.clone()]
    for step in range(3):
        grads = [torch.randn(s, generator=rng) for s in shapes]
        grads[0] = torch.randn(tuple(reversed(shapes[0])), generator=rng).t()  # not contiguous
        grads[1][0] = -0.0  # the sign of zero survives
        rec.record(float(step), grads)
        flat += 1.5
        rec.record_params(flat)
        expected_grads.append(torch.cat([g.reshape(-1) for g in grads]))
        expected_params.append(flat.clone())
    params, recorded_grads, loss, _ = rec.arrays()
    assert recorded_grads.tobytes() == torch.stack(expected_grads).numpy().tobytes()
    assert params.tobytes() == torch.stack(expected_params).numpy().tobytes()
    assert list(loss) == [0.0, 1.0, 2.0]
