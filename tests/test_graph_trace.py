"""The traced graph of one step against independent computations: closed-form perceptron
formulas, a plain PyTorch forward/backward written here, and the recorded history."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backpropviz.analysis.graph_trace import (
    check_step, step_batch, trace_history_step, trace_step)
from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.train import train


@pytest.fixture(scope="module")
def history():
    return train(RunConfig(epochs=30))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("step", [0, 7, 29])
def test_perceptron_graph_numbers_match_closed_form(history, step):
    trace = trace_history_step(history, step)
    assert trace.names() == ["x", "w", "matmul", "b", "add", "sigmoid", "y", "bce", "mean"]
    assert trace.name_edges() == [("x", "matmul"), ("w", "matmul"), ("matmul", "add"), ("b", "add"),
                                  ("add", "sigmoid"), ("sigmoid", "bce"), ("y", "bce"), ("bce", "mean")]

    w1, w2, b = history.params[step].astype(np.float64)
    X, y = history.X.astype(np.float64), history.y.astype(np.float64)
    N = len(y)
    wx = X @ np.array([w1, w2])
    z = wx + b
    p = sigmoid(z)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    dz = (p - y) / N  # dL/dz_k for the mean BCE

    node = trace.node
    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(node("x").value, X)
    np.testing.assert_allclose(node("w").value.ravel(), [w1, w2], **tol)
    np.testing.assert_allclose(node("matmul").value.ravel(), wx, **tol)
    np.testing.assert_allclose(node("add").value.ravel(), z, **tol)
    np.testing.assert_allclose(node("sigmoid").value.ravel(), p, **tol)
    np.testing.assert_allclose(node("bce").value.ravel(), bce, **tol)
    np.testing.assert_allclose(node("mean").value, bce.mean(), **tol)
    np.testing.assert_allclose(trace.loss, history.loss[step], rtol=1e-6)

    assert node("y").grad is None  # no gradient flows to the targets
    np.testing.assert_allclose(node("mean").grad, 1.0)
    np.testing.assert_allclose(node("bce").grad.ravel(), np.full(N, 1 / N))
    np.testing.assert_allclose(node("sigmoid").grad.ravel(), dz / (p * (1 - p)), **tol)
    np.testing.assert_allclose(node("add").grad.ravel(), dz, **tol)
    np.testing.assert_allclose(node("matmul").grad.ravel(), dz, **tol)
    np.testing.assert_allclose(node("b").grad, [dz.sum()], **tol)
    np.testing.assert_allclose(node("w").grad.ravel(), X.T @ dz, **tol)
    np.testing.assert_allclose(node("x").grad, np.outer(dz, [w1, w2]), **tol)
    # ... and backpropagation's recorded gradient for this step
    np.testing.assert_allclose(np.r_[node("w").grad.ravel(), node("b").grad], history.grads[step],
                               rtol=1e-5, atol=1e-7)


def test_per_sample_contributions_sum_to_recorded_gradient(history):
    step = 11
    trace = trace_history_step(history, step)
    w, b = trace.node("w"), trace.node("b")
    cw, cb = trace.contributions[w.id], trace.contributions[b.id]
    assert cw.shape == (4, 1, 2) and cb.shape == (4, 1)
    np.testing.assert_allclose(np.r_[cw.sum(0).ravel(), cb.sum(0)], history.grads[step], rtol=1e-5, atol=1e-7)

    w1, w2, bb = history.params[step].astype(np.float64)
    X, y = history.X.astype(np.float64), history.y.astype(np.float64)
    dz = (sigmoid(X @ [w1, w2] + bb) - y) / len(y)
    np.testing.assert_allclose(cw[:, 0, :], X * dz[:, None], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cb[:, 0], dz, rtol=1e-5, atol=1e-7)

    # numbers() picks one sample's row and that sample's share of the parameter gradient
    value, grad = trace.numbers(trace.node("sigmoid"), 2)
    np.testing.assert_allclose(value, trace.node("sigmoid").value[2])
    np.testing.assert_allclose(trace.numbers(w, 3)[1], cw[3])
    with pytest.raises(BackpropvizError, match=r"0\.\.3"):
        trace.numbers(w, 4)


def plain_mlp_step(model, X, y, loss_fn):
    """The same forward pass written out by hand, intermediate gradients kept with retain_grad."""
    (W1, b1), (W2, b2) = (model[0].weight, model[0].bias), (model[2].weight, model[2].bias)
    act = model[1]
    x = torch.as_tensor(X).clone().requires_grad_(True)
    m1 = x @ W1.T
    a1 = m1 + b1
    h = act(a1)
    m2 = h @ W2.T
    a2 = m2 + b2
    p = torch.sigmoid(a2)
    loss = loss_fn(p, torch.as_tensor(y).reshape(-1, 1))
    inter = [m1, a1, h, m2, a2, p]
    for t in inter:
        t.retain_grad()
    loss.backward()
    return x, inter, loss


@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid])
@pytest.mark.parametrize("loss_name", ["bce", "mse"])
def test_mlp_2_3_1_graph_nodes_edges_and_numbers(act, loss_name):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(2, 3), act(), nn.Linear(3, 1), nn.Sigmoid())
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, -1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0, 1], dtype=np.float32)
    loss_fn = {"bce": F.binary_cross_entropy, "mse": F.mse_loss}[loss_name]
    trace = trace_step(model, loss_fn, X, y)
    assert all(p.grad is None for p in model.parameters())  # tracing leaves .grad alone

    act_name = act.__name__.lower()
    assert trace.names() == ["x", "W1", "matmul", "b1", "add", act_name, "W2", "matmul", "b2", "add",
                             "sigmoid", "y", loss_name, "mean"]
    ids = [n.id for n in trace.nodes]
    expected = [(0, 2), (1, 2), (2, 4), (3, 4), (4, 5), (5, 7), (6, 7), (7, 9), (8, 9), (9, 10),
                (10, 12), (11, 12), (12, 13)]
    assert [(ids.index(e.src), ids.index(e.dst)) for e in trace.edges] == expected
    assert trace.node("W1").param_names == ("0.weight[0,0]", "0.weight[0,1]", "0.weight[1,0]",
                                            "0.weight[1,1]", "0.weight[2,0]", "0.weight[2,1]")

    x, inter, loss = plain_mlp_step(model, X, y, loss_fn)
    op_nodes = [n for n in trace.nodes if n.kind == "op"][:6]
    for node, ref in zip(op_nodes, inter):
        np.testing.assert_allclose(node.value, ref.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(node.grad, ref.grad.numpy(), rtol=1e-5, atol=1e-7)
    params = [n for n in trace.nodes if n.kind == "param"]
    for node, p in zip(params, model.parameters()):
        np.testing.assert_allclose(node.grad, p.grad.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(trace.contributions[node.id].sum(0), p.grad.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(trace.node("x").grad, x.grad.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(trace.loss, loss.item(), rtol=1e-6)


def test_collapsed_graph_has_one_node_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1),
                          nn.Sigmoid())
    X = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    trace = trace_step(model, F.binary_cross_entropy, X, y)  # auto: 16x16 weights collapse
    assert trace.collapsed
    assert trace.names() == ["x", "Linear 0", "ReLU 1", "Linear 2", "Tanh 3", "Linear 4", "Sigmoid 5",
                             "y", "bce", "mean"]
    assert len(trace.edges) == 9
    expanded = trace_step(model, F.binary_cross_entropy, X, y, collapse=False)
    assert not expanded.collapsed and len(expanded.nodes) == 1 + 3 * 5 + 3  # x, 3 x (W, matmul, b, add, act), y, bce, mean
    layer = trace.node("Linear 2")
    loss = F.binary_cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y).reshape(-1, 1))
    gW = torch.autograd.grad(loss, model[2].weight)[0].numpy()
    np.testing.assert_allclose(layer.layer_params["2.weight"][1], gW, rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        out2 = model[:3](torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(layer.value, out2, rtol=1e-5, atol=1e-6)


def test_dot_export_has_forward_and_backward_edges(history):
    trace = trace_history_step(history, 0)
    dot = trace.to_dot(sample=0)
    assert dot.startswith("digraph")
    assert dot.count("color=black") == len(trace.edges) == 8
    assert dot.count("color=red, style=dashed") == len(trace.backward_edges()) == 7  # none into y


def test_step_range_and_batches(history):
    assert check_step(history, -1) == history.n_steps - 1
    for bad in (history.n_steps, -history.n_steps - 1):
        with pytest.raises(BackpropvizError, match=rf"0\.\.{history.n_steps - 1}.*got {bad}"):
            trace_history_step(history, bad)
    batches = np.full((history.n_steps, 4), -1)
    batches[:, :2] = [0, 3]
    mini = dataclasses.replace(history, batches=batches)
    assert step_batch(mini, 5).tolist() == [0, 3]
    trace = trace_history_step(mini, 5)
    assert trace.n_samples == 2
    np.testing.assert_allclose(trace.node("x").value, history.X[[0, 3]])
    np.testing.assert_allclose(trace.node("y").value.ravel(), history.y[[0, 3]])


def recorded_vs_graph(history, step):
    trace = trace_history_step(history, step)
    params = [n for n in trace.nodes if n.kind == "param"]
    flat = np.concatenate([n.grad.ravel() for n in params])
    names = [name for n in params for name in n.param_names]
    order = [history.param_names.index(name) for name in names]
    return trace, flat, history.grads[step][order]


def test_mlp_spec_history_graph_matches_recorded_gradients():
    history = train(RunConfig(data="xor", model="mlp:3", epochs=20, lr=0.5))
    trace, graph_grads, recorded = recorded_vs_graph(history, 13)
    assert trace.names() == ["x", "W1", "matmul", "b1", "add", "tanh", "W2", "matmul", "b2", "add",
                             "sigmoid", "y", "bce", "mean"]
    np.testing.assert_allclose(graph_grads, recorded, rtol=1e-5, atol=1e-7)


def test_penalty_is_part_of_the_traced_loss():
    history = train(RunConfig(epochs=10, l1=0.01, l2=0.05))
    trace, graph_grads, recorded = recorded_vs_graph(history, 6)
    np.testing.assert_allclose(trace.loss, history.loss[6], rtol=1e-6)
    np.testing.assert_allclose(graph_grads, recorded, rtol=1e-5, atol=1e-7)
    w = trace.node("w")
    expected = 0.01 * np.sign(w.value) + 2 * 0.05 * w.value  # d/dw of l1|w| + l2 w^2
    np.testing.assert_allclose(trace.penalty_grads[w.id], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(trace.penalty_grads[trace.node("b").id], 0, atol=1e-7)


def test_minibatch_history_traces_the_recorded_batch():
    history = train(RunConfig(data="moons", model="mlp:4", n_samples=40, batch_size=8, epochs=2, lr=0.1))
    assert history.batches is not None
    step = 7
    trace, graph_grads, recorded = recorded_vs_graph(history, step)
    rows = history.batches[step][history.batches[step] >= 0]
    assert trace.n_samples == len(rows) == 8
    np.testing.assert_allclose(trace.node("x").value, history.X[rows])
    np.testing.assert_allclose(graph_grads, recorded, rtol=1e-5, atol=1e-7)


def test_multiclass_cross_entropy_graph():
    history = train(RunConfig(data="iris", model="mlp:4", loss="ce", epochs=3, lr=0.1))
    trace, graph_grads, recorded = recorded_vs_graph(history, 2)
    np.testing.assert_allclose(graph_grads, recorded, rtol=1e-5, atol=1e-7)
    assert "y" in trace.names() and trace.node("y").kind == "target"
    for node in trace.nodes:
        if node.kind == "param":
            np.testing.assert_allclose(trace.contributions[node.id].sum(0), node.grad, rtol=1e-4, atol=1e-7)


def test_collapsed_layers_keep_per_sample_shares():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Sigmoid())
    X = np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    trace = trace_step(model, F.binary_cross_entropy, X, y, collapse=True)
    layer = trace.node("Linear 2")
    shares = [trace.layer_param_numbers(layer, "2.weight", k)[1] for k in range(6)]
    np.testing.assert_allclose(np.sum(shares, axis=0), layer.layer_params["2.weight"][1], rtol=1e-5, atol=1e-8)
    # sample k's share of W2's gradient is dL/dz2_k times the hidden activation h_k
    with torch.no_grad():
        h = model[:2](torch.from_numpy(X)).numpy()
    dz2 = trace.node("Sigmoid 3").grad * trace.node("Sigmoid 3").value * (1 - trace.node("Sigmoid 3").value)
    np.testing.assert_allclose(shares[4], dz2[4, 0] * h[4][None, :], rtol=1e-4, atol=1e-8)
