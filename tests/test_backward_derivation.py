"""What ``explain`` derives, against references written here: the descent field on a plane
(finite differences of the loss, downhill) and every row of an MLP's layer-by-layer backward
derivation (a plain PyTorch forward with every intermediate gradient kept)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backpropviz.analysis.chain_rule import gradient_field, layer_backward
from backpropviz.analysis.graph_trace import trace_history_step
from backpropviz.analysis.landscape import param_plane, plane
from backpropviz.config import RunConfig
from backpropviz.train import train


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def bce(p, y):
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def central_difference(f, a, b, h=1e-5):
    return (f(a + h, b) - f(a - h, b)) / (2 * h), (f(a, b + h) - f(a, b - h)) / (2 * h)


def check_downhill(field, f):
    """(u, v) is -grad f at every field point: it matches finite differences, its dot product
    with the gradient is negative, and a small step along it lowers the loss."""
    checked = 0
    for j, b in enumerate(field.y):
        for i, a in enumerate(field.x):
            ga, gb = central_difference(f, a, b)
            u, v = field.u[j, i], field.v[j, i]
            np.testing.assert_allclose([u, v], [-ga, -gb], rtol=1e-4, atol=1e-8)
            norm = np.hypot(ga, gb)
            if norm < 1e-6:
                continue
            assert u * ga + v * gb < 0
            t = 1e-3 / norm
            assert f(a + t * u, b + t * v) < f(a, b)
            checked += 1
    assert checked > 0.9 * field.u.size


def test_field_on_the_articles_slice_points_downhill_with_l1_l2():
    history = train(RunConfig(epochs=60, l1=0.01, l2=0.05))
    land = param_plane(history, "w1", "w2", span=6.0, resolution=11)
    field = gradient_field(history, land, resolution=7)
    X, y = history.X.astype(np.float64), history.y.astype(np.float64)
    b = float(history.params[-1][2])

    def loss(w1, w2):  # the slice's objective: data loss plus the weights' L1/L2 terms, b fixed
        return bce(sigmoid(X @ [w1, w2] + b), y) + 0.01 * (abs(w1) + abs(w2)) + 0.05 * (w1 ** 2 + w2 ** 2)

    check_downhill(field, loss)


def test_field_on_a_pca_plane_of_a_minibatch_mlp_is_the_whole_sets():
    history = train(RunConfig(data="xor", model="mlp:3", activation="tanh", epochs=40, batch_size=2, lr=0.3))
    land = plane(history, "pca", resolution=9)
    field = gradient_field(history, land, resolution=6)
    X, y = history.X.astype(np.float64), history.y.astype(np.float64)
    origin, (d0, d1) = land.origin.astype(np.float64), land.directions.astype(np.float64)

    def loss(a, b):  # mlp:3 by hand: 0.weight (3, 2), 0.bias (3), 2.weight (1, 3), 2.bias (1)
        p = origin + a * d0 + b * d1
        W1, b1, W2, b2 = p[:6].reshape(3, 2), p[6:9], p[9:12].reshape(1, 3), p[12]
        return bce(sigmoid(np.tanh(X @ W1.T + b1) @ W2[0] + b2), y)  # every sample, not a batch

    check_downhill(field, loss)


def derivative(activation, z, a):
    """f'(z), written here for each activation the models offer."""
    return {"tanh": lambda: 1 - np.tanh(z) ** 2, "sigmoid": lambda: sigmoid(z) * (1 - sigmoid(z)),
            "relu": lambda: (z > 0).astype(float), "leaky_relu": lambda: np.where(z > 0, 1.0, 0.01)}[activation]()


def reference_backward(history, step, activation, loss):
    """A plain float32 PyTorch forward of mlp:H,H with every intermediate gradient kept."""
    params = torch.tensor(history.params[step])
    shapes = [(4, 2), (4,), (4, 4), (4,), (history.n_classes if loss == "ce" else 1, 4)]
    shapes.append((shapes[-1][0],))
    tensors, at = [], 0
    for shape in shapes:
        n = int(np.prod(shape))
        tensors.append(params[at:at + n].reshape(shape).clone().requires_grad_(True))
        at += n
    W1, b1, W2, b2, W3, b3 = tensors
    f = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
         "leaky_relu": lambda t: F.leaky_relu(t, 0.01)}[activation]
    x = torch.tensor(history.X).requires_grad_(True)
    z1 = x @ W1.T + b1
    a1 = f(z1)
    z2 = a1 @ W2.T + b2
    a2 = f(z2)
    z3 = a2 @ W3.T + b3
    kept = [x, z1, a1, z2, a2, z3]
    if loss == "ce":
        L = F.cross_entropy(z3, torch.tensor(history.y).long())
    else:
        p = torch.sigmoid(z3)
        kept.append(p)
        L = F.binary_cross_entropy(p, torch.tensor(history.y).reshape(-1, 1))
    for t in kept[1:]:
        t.retain_grad()
    L.backward()
    num = {name: t.detach().numpy().astype(np.float64) for name, t in zip(["x", "z1", "a1", "z2", "a2", "z3", "p"], kept)}
    grad = {name: t.grad.numpy().astype(np.float64) for name, t in zip(["x", "z1", "a1", "z2", "a2", "z3", "p"], kept)}
    pg = [t.grad.numpy().astype(np.float64) for t in tensors]
    pv = [t.detach().numpy().astype(np.float64) for t in tensors]
    return num, grad, pv, pg


def expected_rows(activation, loss, num, grad, pv, pg):
    """The backward derivation, from the loss back: (kind, input, output, d_out, d_in, local, params)."""
    rows = []
    if loss != "ce":
        rows.append(("activation", "z3", "p", derivative("sigmoid", num["z3"], num["p"]), None))
    rows.append(("linear", "a2", "z3", None, (pv[4], pg[4], pv[5], pg[5])))
    rows.append(("activation", "z2", "a2", derivative(activation, num["z2"], num["a2"]), None))
    rows.append(("linear", "a1", "z2", None, (pv[2], pg[2], pv[3], pg[3])))
    rows.append(("activation", "z1", "a1", derivative(activation, num["z1"], num["a1"]), None))
    rows.append(("linear", "x", "z1", None, (pv[0], pg[0], pv[1], pg[1])))
    return rows


def _sample(a, k):
    return a if k is None else a[k]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu"])
@pytest.mark.parametrize("loss, data", [("bce", "xor"), ("ce", "iris")])
@pytest.mark.parametrize("sample", [None, 2])
def test_every_row_of_the_mlp_backward_derivation_equals_autograd(activation, loss, data, sample):
    history = train(RunConfig(data=data, model="mlp:4,4", activation=activation, loss=loss, epochs=3, lr=0.3,
                              n_samples=40, seed=1))
    step = 2
    rows = layer_backward(trace_history_step(history, step, collapse=True), sample)
    num, grad, pv, pg = reference_backward(history, step, activation, loss)
    expected = expected_rows(activation, loss, num, grad, pv, pg)
    assert [r.kind for r in rows] == [e[0] for e in expected]
    tol = dict(rtol=2e-4, atol=1e-7)
    for row, (kind, src, dst, local, params) in zip(rows, expected):
        k = sample
        np.testing.assert_allclose(row.a_in, _sample(num[src], k), **tol)
        np.testing.assert_allclose(row.out, _sample(num[dst], k), **tol)
        np.testing.assert_allclose(row.d_out, _sample(grad[dst], k), **tol)
        np.testing.assert_allclose(row.d_in, _sample(grad[src], k), **tol)  # by the layer's own rule
        np.testing.assert_allclose(row.d_in_autograd, _sample(grad[src], k), **tol)
        if kind == "activation":
            np.testing.assert_allclose(row.local, _sample(local, k), **tol)
            np.testing.assert_allclose(row.d_out * row.local, row.d_in, **tol)
        else:
            W, gW, b, gb = params
            (w_name, (w_value, w_rule, w_autograd)), (b_name, (b_value, b_rule, b_autograd)) = row.params.items()
            assert w_name.endswith("weight") and b_name.endswith("bias")
            np.testing.assert_allclose(w_value, W, **tol)
            np.testing.assert_allclose(b_value, b, **tol)
            if sample is None:
                expect_w, expect_b = gW, gb
            else:  # sample k's share: delta_k^T a_k and delta_k
                expect_w, expect_b = np.outer(grad[dst][k], num[src][k]), grad[dst][k]
            for got in (w_rule, w_autograd):
                np.testing.assert_allclose(got, expect_w, **tol)
            for got in (b_rule, b_autograd):
                np.testing.assert_allclose(got, expect_b, **tol)


def test_markdown_of_a_leaky_relu_mlp_derives_its_activation(cli, tmp_path):
    r = cli("explain", "--data", "xor", "--model", "mlp:3", "--activation", "leaky_relu", "--epochs", "3",
            "--out", tmp_path, "--markdown", tmp_path / "a.md", "--lang", "en")
    assert r.code == 0, r
    text = (tmp_path / "a.md").read_text()
    section = text[text.index("**LeakyReLU 1**"):text.index("**Linear 0**")]
    assert "f'(z) = \\mathbb{1}[z > 0] + \\alpha\\,\\mathbb{1}[z \\le 0]" in section
    assert "\\delta_{1}" in section  # the rule with its numbers, not autograd's numbers alone
