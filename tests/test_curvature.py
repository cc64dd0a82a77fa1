"""Hessians, eigenvalues and the 2 / lambda_max bound, against closed forms and plain loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backpropviz.analysis import curvature as C
from backpropviz.config import RunConfig
from backpropviz.train import train


def linear_problem(seed=0, n=50, d=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.5]) + 0.7
    y = X @ np.array([0.5, -1.0, 2.0]) + 0.3 + 0.1 * rng.standard_normal(n)
    return torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)


def plain_gd(X, y, lr, steps=3000):
    """Full-batch gradient descent on nn.Linear + MSE, a plain torch loop."""
    torch.manual_seed(0)
    model = nn.Linear(X.shape[1], 1).double()
    for _ in range(steps):
        loss = F.mse_loss(model(X), y)
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p -= lr * g
        if not torch.isfinite(loss) or loss.item() > 1e12:
            return float("inf")
    return F.mse_loss(model(X), y).item()


def test_linear_mse_hessian_is_the_closed_form():
    X, y = linear_problem()
    model = nn.Linear(3, 1).double()
    flat = np.zeros(4)
    H = C.hessian_matrix(model, F.mse_loss, X, y, flat)
    Xt = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1).numpy()
    np.testing.assert_allclose(H, 2 / len(X) * Xt.T @ Xt, rtol=1e-12)


def test_two_over_lambda_max_separates_convergence_from_divergence():
    X, y = linear_problem()
    model = nn.Linear(3, 1).double()
    H = C.hessian_matrix(model, F.mse_loss, X, y, np.zeros(4))
    lam = float(np.linalg.eigvalsh(H)[-1])
    bound = C.stable_lr(lam)
    assert bound == pytest.approx(2 / lam)
    Xt = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], 1).numpy()
    w, *_ = np.linalg.lstsq(Xt, y.numpy(), rcond=None)
    best = float(np.mean((Xt @ w - y.numpy()) ** 2))  # the minimum, in closed form
    assert plain_gd(X, y, 0.95 * bound) == pytest.approx(best, rel=1e-6)  # converges to the minimum
    assert plain_gd(X, y, 1.05 * bound) == float("inf")  # diverges


def test_power_iteration_finds_the_top_eigenvalue():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    X = torch.randn(30, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (30,))
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    eig = np.linalg.eigvalsh(C.hessian_matrix(model, F.cross_entropy, X, y, flat))
    lam = C.top_eigenvalue(model, F.cross_entropy, X, y, flat, iters=2000, tol=1e-12)
    assert lam == pytest.approx(eig[-1], rel=1e-5)


def test_perceptron_hessian_matches_finite_differences():
    h = train(RunConfig(epochs=100))
    cur = C.curvature_at(h, 50)
    assert cur.method == "exact" and cur.hessian.shape == (3, 3)
    # finite differences of the float64 gradient of BCE(sigmoid(Xw + b))
    X = torch.from_numpy(h.X).double()
    y = torch.from_numpy(h.y).double().reshape(-1, 1)

    def grad_at(p):
        p = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        loss = F.binary_cross_entropy(torch.sigmoid(X @ p[:2].reshape(2, 1) + p[2]), y)
        return torch.autograd.grad(loss, p)[0].numpy()

    p0 = h.params[50].astype(np.float64)
    eps = 1e-6
    fd = np.stack([(grad_at(p0 + eps * e) - grad_at(p0 - eps * e)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(cur.hessian, fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(cur.eigenvalues, np.linalg.eigvalsh(fd), rtol=1e-5, atol=1e-9)
    assert cur.lr_max == pytest.approx(2 / cur.eigenvalues[-1])
    assert cur.lr_used == 0.5


def test_lambda_max_along_path_matches_single_steps():
    h = train(RunConfig(epochs=30))
    steps, lam = C.lambda_max_along_path(h, steps=[0, 10, 30])
    for s, value in zip(steps, lam):
        assert value == pytest.approx(C.curvature_at(h, int(s)).lambda_max, rel=1e-10)
