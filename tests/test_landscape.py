"""Landscape engine: every value against an independent per-point loop (float64), directions,
projections, path fidelity, files and the memory budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import vector_to_parameters

from backpropviz.analysis import directions as D
from backpropviz.analysis import landscape as L
from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.train import train


@pytest.fixture(scope="module")
def article():
    return train(RunConfig())


def loop_losses(model, loss, X, y, points):
    """The reference: write each point into a float64 copy of the model, call it, take the loss."""
    ref = []
    model = model.double()
    with torch.no_grad():
        for p in points:
            vector_to_parameters(torch.as_tensor(p, dtype=torch.float64), model.parameters())
            ref.append(loss(model(X), y).item())
    return np.array(ref)


def sample(rng, grid_shape, k):
    flat = rng.choice(grid_shape[0] * grid_shape[1], size=k, replace=False)
    return np.unravel_index(flat, grid_shape)


def make_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 3))


def mlp_data(seed=0, n=40):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def test_perceptron_param_plane_equals_loop(article):
    land = L.param_plane(article, "w1", "w2", resolution=40, dtype=torch.float64)
    rows, cols = sample(np.random.default_rng(0), land.loss.shape, 300)
    points = []
    for j, i in zip(rows, cols):
        p = land.origin.copy()
        p[0], p[1] = land.alpha[i], land.beta[j]
        points.append(p)
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    X = torch.from_numpy(article.X).double()
    y = torch.from_numpy(article.y).double().reshape(-1, 1)
    ref = loop_losses(model, nn.BCELoss(), X, y, points)
    np.testing.assert_allclose(land.loss[rows, cols], ref, rtol=1e-12, atol=1e-12)
    # b is fixed at its final value and said so
    assert land.fixed == {"b": pytest.approx(float(article.params[-1, 2]))}


@pytest.mark.parametrize("method", ["random", "pca"])
def test_perceptron_other_planes_equal_loop(article, method):
    land = L.plane(article, method, resolution=30, dtype=torch.float64)
    rows, cols = sample(np.random.default_rng(1), land.loss.shape, 200)
    points = [land.origin + land.alpha[i] * land.directions[0] + land.beta[j] * land.directions[1]
              for j, i in zip(rows, cols)]
    X = torch.from_numpy(article.X).double()
    y = torch.from_numpy(article.y).double().reshape(-1, 1)
    ref = loop_losses(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), F.binary_cross_entropy, X, y, points)
    np.testing.assert_allclose(land.loss[rows, cols], ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [make_mlp, lambda: Wrapped(make_mlp())], ids=["sequential", "custom-module"])
def test_mlp_plane_equals_loop(make):
    model = make()
    X, y = mlp_data()
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    d = D.random_directions(center, D.parameter_shapes(model), seed=3)
    alpha, beta = np.linspace(-1.5, 1.5, 25), np.linspace(-1, 1, 21)
    surface = L.evaluate_plane(model, F.cross_entropy, X, y, center, d, alpha, beta, dtype=torch.float64)
    rows, cols = sample(np.random.default_rng(2), surface.shape, 250)
    points = [center + alpha[i] * d[0] + beta[j] * d[1] for j, i in zip(rows, cols)]
    ref = loop_losses(make_copy(model), F.cross_entropy, X, y, points)
    np.testing.assert_allclose(surface[rows, cols], ref, rtol=1e-11, atol=1e-12)


class Wrapped(nn.Module):
    """A module that is not an nn.Sequential: exercises the generic (vmap) path."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


def make_copy(model):
    import copy
    return copy.deepcopy(model)


def test_dataloader_equals_arrays():
    model = make_mlp(1)
    X, y = mlp_data(1, n=37)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=10)
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    rng = np.random.default_rng(0)
    points = center + 0.3 * rng.standard_normal((50, center.size))
    whole = L.evaluate(model, F.cross_entropy, X, y, points, dtype=torch.float64)
    batched = L.evaluate(model, F.cross_entropy, loader, None, points, dtype=torch.float64)
    ref = loop_losses(make_copy(model), F.cross_entropy, X, y, points)
    np.testing.assert_allclose(whole, ref, rtol=1e-12)
    np.testing.assert_allclose(batched, ref, rtol=1e-12)


def test_float32_matches_loop_to_float32_rounding(article):
    land = L.param_plane(article, resolution=20)
    assert land.loss.dtype == np.float32
    X = torch.from_numpy(article.X).double()
    y = torch.from_numpy(article.y).double().reshape(-1, 1)
    p = land.origin.copy()
    p[0], p[1] = land.alpha[3], land.beta[7]
    ref = loop_losses(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCELoss(), X, y, [p])[0]
    assert land.loss[7, 3] == pytest.approx(ref, rel=1e-5)


def test_filter_normalised_directions_have_the_centre_filter_norms():
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Conv1d(6, 5, 3), nn.Flatten(), nn.Linear(5, 2))
    shapes = D.parameter_shapes(model)
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    d = D.random_directions(center, shapes, seed=7)
    for row in d:
        offset = 0
        for p in model.parameters():
            n = p.numel()
            dp, wp = row[offset: offset + n].reshape(p.shape), center[offset: offset + n].reshape(p.shape)
            if p.ndim >= 2:
                for f in range(p.shape[0]):  # every filter: a Linear row, a Conv output channel
                    assert np.linalg.norm(dp[f]) == pytest.approx(np.linalg.norm(wp[f]), rel=1e-9)
            else:
                assert np.all(dp == 0)  # biases are left out (Li et al.'s default)
            offset += n
    assert not np.allclose(d[0], d[1])


def test_pca_on_a_path_in_a_known_plane():
    rng = np.random.default_rng(5)
    P = 12
    basis, _ = np.linalg.qr(rng.standard_normal((P, 2)))
    u, v = basis[:, 0], basis[:, 1]
    t = np.linspace(0, 1, 60)
    s, r = 3 * np.cos(3 * t) + t, 0.8 * np.sin(5 * t)  # two uncorrelated-ish coordinates
    center0 = rng.standard_normal(P)
    path = center0 + s[:, None] * u + r[:, None] * v
    d, explained = D.pca_directions(path, path[-1])
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-12)  # orthonormal
    # the directions span the path's plane
    np.testing.assert_allclose(np.linalg.norm(basis.T @ d.T, axis=0), 1.0, atol=1e-12)
    # explained variance: eigenvalues of the covariance of the in-plane coordinates
    coords = np.stack([s, r], 1)
    eig = np.sort(np.linalg.eigvalsh(np.cov(coords.T)))[::-1]
    np.testing.assert_allclose(explained, eig / eig.sum(), rtol=1e-10)
    assert explained.sum() == pytest.approx(1.0)
    _, residual = D.project(path, path[-1], d)
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)


def test_project_gives_coordinates_and_distance():
    rng = np.random.default_rng(0)
    d = rng.standard_normal((2, 6))  # not orthogonal
    origin = rng.standard_normal(6)
    normal = np.linalg.svd(d)[2][-1]  # orthogonal to both directions
    coords = rng.standard_normal((10, 2))
    off = rng.standard_normal(10)
    points = origin + coords @ d + off[:, None] * normal
    got, residual = D.project(points, origin, d)
    np.testing.assert_allclose(got, coords, atol=1e-10)
    np.testing.assert_allclose(residual, np.abs(off), atol=1e-10)


def test_param_plane_reports_training_loss_and_residual(article):
    land = L.param_plane(article, dtype=torch.float64)
    b = article.params[:, 2].astype(np.float64)
    # residual: how far b was from its fixed (final) value at each row
    np.testing.assert_allclose(land.path_residual, np.abs(b - b[-1]), atol=1e-12)
    # train_loss: the recorded losses, then the full-data loss of the last row
    np.testing.assert_allclose(land.train_loss[:-1], article.loss, rtol=0)
    X = torch.from_numpy(article.X).double()
    y = torch.from_numpy(article.y).double().reshape(-1, 1)
    last = loop_losses(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCELoss(), X, y, [article.params[-1]])
    assert land.train_loss[-1] == pytest.approx(last[0], rel=1e-6)
    # path_loss: the slice's value under the path (b fixed), which differs from training's at the start
    p0 = article.params[0].astype(np.float64).copy()
    p0[2] = b[-1]
    ref0 = loop_losses(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCELoss(), X, y, [p0])[0]
    assert land.path_loss[0] == pytest.approx(ref0, rel=1e-12)
    assert abs(land.path_loss[0] - land.train_loss[0]) > 0.1
    assert land.relative_residual > 0.5


def test_follow_path_slice_agrees_with_training(article):
    land = L.param_plane(article, follow_path=True, resolution=30)
    np.testing.assert_allclose(land.path_loss[:-1], article.loss, rtol=1e-5)
    assert np.all(land.path_residual == 0)
    assert land.fixed == {}
    # A grid point at the start of the path takes the start's b: its value is the initial loss.
    X = torch.from_numpy(article.X).double()
    y = torch.from_numpy(article.y).double().reshape(-1, 1)
    ev = L.history_evaluator(article, dtype=torch.float64)
    make = L._path_following_points(article.params.astype(np.float64), 0, 1,
                                    np.array([article.params[0, :2]], dtype=np.float64))
    pt = make(0, 1).numpy()
    np.testing.assert_allclose(pt[0], article.params[0], atol=1e-7)
    assert ev.points(pt)[0] == pytest.approx(
        loop_losses(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCELoss(), X, y, pt)[0])


def test_landscape_file_round_trip(article, tmp_path):
    land = L.plane(article, "pca", resolution=12)
    path = land.save(tmp_path / "land.npz")
    with np.load(path, allow_pickle=False) as z:
        for key in ("alpha", "beta", "loss", "origin", "directions", "path", "method", "config"):
            assert key in z.files
        assert z["loss"].shape == (12, 12) and z["path"].shape == (article.params.shape[0], 2)
    back = L.Landscape.load(path)
    np.testing.assert_array_equal(back.loss, land.loss)
    np.testing.assert_array_equal(back.explained_variance, land.explained_variance)
    assert back.method == "pca" and back.config["center_step"] == article.n_steps


def test_memory_budget_refusal_names_a_resolution_that_fits():
    per_point, fixed, budget = 1000, 10_000, 1 << 20
    with pytest.raises(BackpropvizError, match=r"largest resolution that fits is (\d+)") as info:
        L.plan_chunks(1000 * 1000, per_point, fixed, budget)
    import re
    r = int(re.search(r"fits is (\d+)", str(info.value)).group(1))
    L.plan_chunks(r * r, per_point, fixed, budget)  # fits
    with pytest.raises(BackpropvizError):
        L.plan_chunks((r + 1) ** 2, per_point, fixed, budget)


def test_chunks_follow_the_budget():
    model = make_mlp()
    X, y = mlp_data()
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    points = center + np.random.default_rng(0).standard_normal((64, center.size))
    small = L.LossEvaluator(model, F.cross_entropy, X, y, dtype=torch.float64, memory_budget=400_000)
    big = L.LossEvaluator(model, F.cross_entropy, X, y, dtype=torch.float64)
    np.testing.assert_allclose(small.points(points), big.points(points), rtol=1e-13)
    assert small.last_plan.chunk < big.last_plan.chunk


def test_line_between_steps(article):
    line = L.line_between_steps(article, 0, -1, t=np.array([0.0, 0.5, 1.0]), dtype=torch.float64)
    X = torch.from_numpy(article.X).double()
    y = torch.from_numpy(article.y).double().reshape(-1, 1)
    p0, p1 = article.params[0].astype(np.float64), article.params[-1].astype(np.float64)
    ref = loop_losses(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCELoss(), X, y,
                      [p0, 0.5 * (p0 + p1), p1])
    np.testing.assert_allclose(line.loss, ref, rtol=1e-12)
    assert line.distance == pytest.approx(np.linalg.norm(p1 - p0))


def test_line_between_runs_needs_same_parameters(article):
    other = train(RunConfig(model="mlp:2", epochs=3, init=None))
    with pytest.raises(BackpropvizError, match="same parameters"):
        L.line_between_runs(article, other)
    second = train(RunConfig(init=(1.0, -1.0, 0.5), epochs=50))
    line = L.line_between_runs(article, second, t=np.array([0.0, 1.0]))
    np.testing.assert_allclose(line.end, second.params[-1])


def test_bad_requests_are_refused(article):
    with pytest.raises(BackpropvizError, match="unknown landscape method"):
        L.plane(article, "spiral")
    with pytest.raises(BackpropvizError, match="center-step"):
        L.plane(article, "pca", center_step=5000)
    with pytest.raises(BackpropvizError, match="custom directions must have shape"):
        L.plane(article, "custom", directions=np.zeros((2, 5)))
    with pytest.raises(BackpropvizError, match="parallel"):
        L.plane(article, "custom", directions=np.array([[1.0, 0, 0], [2.0, 0, 0]]))
    with pytest.raises(BackpropvizError, match="follow-path"):
        L.plane(article, "pca", follow_path=True)


def test_l2_penalty_is_part_of_the_surface():
    h = train(RunConfig(l2=0.1, epochs=20))
    land = L.plane(h, "params", resolution=5, dtype=torch.float64)
    # the recorded loss includes the penalty; the path on a zero-residual row must agree
    ev = L.history_evaluator(h, dtype=torch.float64)
    np.testing.assert_allclose(ev.points(h.params[:-1].astype(np.float64)), h.loss, rtol=1e-5)
    assert land.loss.shape == (5, 5)


@pytest.mark.parametrize("kind", ["binary-sigmoid", "multiclass-relu"])
def test_plane_with_dataloader_and_binary_mlp(kind):
    torch.manual_seed(4)
    if kind == "binary-sigmoid":
        model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
        loss = F.binary_cross_entropy
        X, _ = mlp_data(3, n=33)
        y = (X[:, 0] > 0).double().reshape(-1, 1)
    else:
        model = make_mlp(5)
        loss = F.cross_entropy
        X, y = mlp_data(3, n=33)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=8)
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    d = D.random_directions(center, D.parameter_shapes(model), seed=1)
    alpha = beta = np.linspace(-1, 1, 9)
    whole = L.evaluate_plane(model, loss, X, y, center, d, alpha, beta, dtype=torch.float64)
    batched = L.evaluate_plane(model, loss, loader, None, center, d, alpha, beta, dtype=torch.float64)
    points = [center + a * d[0] + b * d[1] for b in beta for a in alpha]
    ref = loop_losses(make_copy(model), loss, X, y, points).reshape(9, 9)
    np.testing.assert_allclose(whole, ref, rtol=1e-12)
    np.testing.assert_allclose(batched, ref, rtol=1e-12)


@pytest.mark.parametrize("loss, soft", [(F.binary_cross_entropy, True), (F.binary_cross_entropy, False),
                                        (F.mse_loss, True)])
def test_single_layer_models_with_soft_and_hard_targets(loss, soft):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    X = torch.randn(12, 3, dtype=torch.float64)
    y = torch.rand(12, 1, dtype=torch.float64) if soft else (torch.rand(12, 1) > 0.5).double()
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    d = np.random.default_rng(0).standard_normal((2, 4))
    alpha, beta = np.linspace(-3, 3, 7), np.linspace(-2, 2, 5)
    surface = L.evaluate_plane(model, loss, X, y, center, d, alpha, beta, dtype=torch.float64)
    points = [center + a * d[0] + b * d[1] for b in beta for a in alpha]
    ref = loop_losses(make_copy(model), loss, X, y, points).reshape(5, 7)
    np.testing.assert_allclose(surface, ref, rtol=1e-12)


def test_progress_bar_only_for_long_work():
    quick = L._Progress(None, 100)
    quick.advance(100)
    assert quick.bar is None  # finished at once: no bar
    forced = L._Progress(True, 100)
    forced.advance(10)
    assert forced.bar is not None
    forced.close()
    silent = L._Progress(False, 100)
    silent.advance(1)
    assert silent.bar is None


def test_convolutional_model_through_the_generic_path():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    X = torch.randn(10, 1, 6, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (10,))
    center = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy()
    d = D.random_directions(center, D.parameter_shapes(model), seed=2)
    alpha = beta = np.linspace(-1, 1, 5)
    surface = L.evaluate_plane(model, F.cross_entropy, X, y, center, d, alpha, beta, dtype=torch.float64)
    points = [center + a * d[0] + b * d[1] for b in beta for a in alpha]
    ref = loop_losses(make_copy(model), F.cross_entropy, X, y, points).reshape(5, 5)
    np.testing.assert_allclose(surface, ref, rtol=1e-12)


def test_fidelity_verdicts():
    def land(path_loss, train_loss):
        n = len(train_loss)
        return L.Landscape(alpha=np.zeros(2), beta=np.zeros(2), loss=np.zeros((2, 2)), origin=np.zeros(3),
                           directions=np.eye(3)[:2], path=np.zeros((n, 2)), method="pca",
                           path_loss=np.asarray(path_loss, float), train_loss=np.asarray(train_loss, float))

    train_loss = np.linspace(1.0, 0.0, 21)  # range 1
    assert land(train_loss + 0.04, train_loss).fidelity() == ("faithful", 0)
    first_off = train_loss.copy()
    first_off[0] += 0.15
    assert land(first_off, train_loss).fidelity() == ("mostly", 1)
    assert land(first_off, train_loss).loss_gap == pytest.approx(0.15)
    first_off[0] += 0.15  # one row, but off by 30% of the range: not a small exception
    assert land(first_off, train_loss).fidelity() == ("misleading", 1)
    assert land(train_loss + 0.2, train_loss).fidelity() == ("misleading", 21)
