"""Gradient check: backpropagation vs central differences, and a broken gradient is caught."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backpropviz.analysis.gradcheck import gradcheck_model, gradcheck_step
from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.train import train


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_history_step_gradients_agree(loss):
    h = train(RunConfig(epochs=20, loss=loss))
    check = gradcheck_step(h, 9)
    assert check.step == 9 and check.param_names == ["w1", "w2", "b"]
    assert check.max_rel_error < 1e-7
    # closed form for the perceptron, float64
    w1, w2, b = h.params[9].astype(np.float64)
    p = 1 / (1 + np.exp(-(h.X.astype(np.float64) @ [w1, w2] + b)))
    dz = (p - h.y) / 4 if loss == "bce" else 2 * (p - h.y) * p * (1 - p) / 4
    np.testing.assert_allclose(check.backprop, np.r_[h.X.T @ dz, dz.sum()], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(check.recorded, h.grads[9], rtol=0)
    np.testing.assert_allclose(check.recorded, check.backprop, rtol=1e-5, atol=1e-7)


def test_mlp_gradients_agree():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    X = np.random.default_rng(0).normal(size=(8, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.float64)
    check = gradcheck_model(model, F.binary_cross_entropy, X, y)
    assert len(check.param_names) == 13
    assert check.max_rel_error < 1e-6 and check.passed()


class WrongSigmoid(torch.autograd.Function):
    """sigmoid with a backward that forgets the (1 - s) factor: the check must notice."""

    @staticmethod
    def forward(ctx, z):
        s = torch.sigmoid(z)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x):
        return WrongSigmoid.apply(self.lin(x))


def test_wrong_backward_is_detected():
    torch.manual_seed(0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    check = gradcheck_model(Broken(), F.binary_cross_entropy, X, np.array([0, 0, 0, 1.0]))
    assert check.max_rel_error > 1e-2 and not check.passed()


def test_bad_inputs():
    h = train(RunConfig(epochs=3))
    with pytest.raises(BackpropvizError, match=r"0\.\.2.*got 3"):
        gradcheck_step(h, 3)
    with pytest.raises(BackpropvizError, match="eps"):
        gradcheck_step(h, 0, eps=0.0)


def test_penalised_mlp_run():
    h = train(RunConfig(data="xor", model="mlp:3", epochs=5, l1=0.01, l2=0.02))
    check = gradcheck_step(h, 4)
    assert check.max_rel_error < 1e-6
    np.testing.assert_allclose(check.recorded, check.backprop, rtol=1e-4, atol=1e-7)
