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


# -- the smallest eigenvalue, the top few, and the Hessian plane ---------------------------------
def perceptron_hessian(h, row):
    """The Hessian of BCE(sigmoid(X w + b)) at ``params[row]``, by torch.autograd.functional (float64)."""
    X = torch.from_numpy(h.X).double()
    y = torch.from_numpy(h.y).double().reshape(-1, 1)

    def f(p):
        return F.binary_cross_entropy(torch.sigmoid(X @ p[:2].reshape(2, 1) + p[2]), y)

    return torch.autograd.functional.hessian(f, torch.from_numpy(h.params[row].astype(np.float64))).numpy()


def mlp4_hessian(h, row):
    """The Hessian of a plain 2-4-1 tanh/sigmoid network's BCE, written out here (parameter order
    0.weight, 0.bias, 2.weight, 2.bias, row-major, as ``named_parameters``)."""
    X = torch.from_numpy(h.X).double()
    y = torch.from_numpy(h.y).double().reshape(-1, 1)

    def f(p):
        W1, b1, W2, b2 = p[:8].reshape(4, 2), p[8:12], p[12:16].reshape(1, 4), p[16:17]
        return F.binary_cross_entropy(torch.sigmoid(torch.tanh(X @ W1.T + b1) @ W2.T + b2), y)

    return torch.autograd.functional.hessian(f, torch.from_numpy(h.params[row].astype(np.float64))).numpy()


@pytest.fixture(scope="module")
def xor_mlp():
    return train(RunConfig(data="xor", model="mlp:4", activation="tanh", epochs=300))


def test_lanczos_finds_the_smallest_eigenvalue():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    X = torch.randn(30, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (30,))
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    eig = np.linalg.eigvalsh(C.hessian_matrix(model, F.cross_entropy, X, y, flat))
    assert eig[0] < 0  # a case with negative curvature
    assert C.smallest_eigenvalue(model, F.cross_entropy, X, y, flat) == pytest.approx(eig[0], rel=1e-6)


@pytest.mark.parametrize("method", ["exact", "power"])
def test_mlp_curvature_reports_lambda_min_negative_at_the_start(xor_mlp, method):
    ref = np.linalg.eigvalsh(mlp4_hessian(xor_mlp, 0))
    cur = C.curvature_at(xor_mlp, 0, method=method)
    assert cur.lambda_max == pytest.approx(ref[-1], rel=1e-6)
    assert cur.lambda_min == pytest.approx(ref[0], rel=1e-6, abs=1e-9)
    assert ref[0] < -0.01 and cur.negative_curvature  # the loss curves down at the start: a saddle
    if method == "exact":
        np.testing.assert_allclose(cur.top, ref[::-1][:C.TOP_K], rtol=1e-6)
        assert len(cur.top) == 5 and np.all(np.diff(cur.top) <= 0)


def test_perceptron_lambda_min_and_top_eigenvalues():
    h = train(RunConfig(epochs=100))
    ref = np.linalg.eigvalsh(perceptron_hessian(h, 50))
    cur = C.curvature_at(h, 50)
    assert cur.lambda_min == pytest.approx(ref[0], rel=1e-6)
    np.testing.assert_allclose(cur.top, ref[::-1], rtol=1e-6)  # all three, largest first
    assert not cur.negative_curvature  # BCE of a linear model is convex


def test_the_curvature_curves_drawn_are_the_eigenvalues_computed():
    import matplotlib.pyplot as plt

    from backpropviz.render.landscape import CurvatureDisplay

    h = train(RunConfig(epochs=60))
    d = CurvatureDisplay.from_history(h, step=30, lang="en")
    try:
        steps = d.lambda_line_.get_xdata()
        ref = np.array([np.linalg.eigvalsh(perceptron_hessian(h, int(s))) for s in steps])
        assert len(steps) == 61 and steps[0] == 0 and steps[-1] == 60
        np.testing.assert_allclose(d.lambda_line_.get_ydata(), ref[:, -1], rtol=1e-6)
        np.testing.assert_allclose(d.min_line_.get_ydata(), ref[:, 0], rtol=1e-6)
        np.testing.assert_allclose(d.edge_line_.get_ydata(), [2 / 0.5, 2 / 0.5])
        at = np.linalg.eigvalsh(perceptron_hessian(h, 30))
        note = d.note_.get_text()
        assert f"{at[-1]:.4g}" in note and f"{2 / at[-1]:.4g}" in note and f"{at[0]:.4g}" in note
    finally:
        plt.close(d.figure_)


def test_hessian_plane_spans_the_top_two_eigenvectors(xor_mlp, cli, tmp_path):
    from backpropviz.analysis import landscape as L

    centre = 150
    H = mlp4_hessian(xor_mlp, centre)
    ref = np.linalg.eigvalsh(H)
    land = L.plane(xor_mlp, "hessian", center_step=centre, resolution=7)
    d = land.directions
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-10)
    for k in range(2):  # eigenvectors of the independent Hessian, for its two largest eigenvalues
        np.testing.assert_allclose(H @ d[k], ref[-1 - k] * d[k], atol=1e-8)
    np.testing.assert_allclose(land.config["hessian_eigenvalues"], ref[::-1][:2], rtol=1e-6)
    np.testing.assert_allclose(land.origin, xor_mlp.params[centre].astype(np.float64))
    # the start lies on the negative side of each axis (a deterministic sign)
    assert np.all(land.path[0] <= 0)
    from backpropviz.render.landscape import axis_labels

    assert f"{ref[-1]:.3g}" in axis_labels(land, "en")[0] and "ヘッセ行列の固有ベクトル 1" in axis_labels(land, "ja")[0]
    history_file = tmp_path / "h.npz"
    xor_mlp.save(history_file)
    r = cli("landscape", history_file, "--method", "hessian", "--center-step", centre, "--resolution", "7",
            "--views", "filled", "--out", tmp_path / "o", "--lang", "en")
    assert r.code == 0, r
    assert f"top two eigenvectors at step {centre} (eigenvalues {ref[-1]:.6g}, {ref[-2]:.6g})" in r.out
    assert f"lambda_min {ref[0]:.6g} (negative" in r.out
    assert L.Landscape.load(tmp_path / "o" / "landscape.npz").method == "hessian"


def test_hessian_plane_of_a_large_model_by_lanczos_matches_the_exact_one(xor_mlp, monkeypatch):
    exact_values, exact_vectors = C.top_eigenvectors(xor_mlp, 150)
    monkeypatch.setattr(C, "EXACT_MAX_PARAMS", 0)  # as for a model too large for the matrix
    values, vectors = C.top_eigenvectors(xor_mlp, 150)
    np.testing.assert_allclose(values, exact_values, rtol=1e-7)
    np.testing.assert_allclose(np.abs(np.sum(vectors * exact_vectors, axis=1)), [1.0, 1.0], atol=1e-6)
