"""The traced graph against PyTorch's own autograd graph, for models beyond the built-in ones:
custom ``torch.autograd.Function``s and in-place operations.

The reference is the autograd graph of the same forward pass run here, walked from
``loss.grad_fn``: every non-leaf autograd node must be a node of the trace (views folded into
their edge and fused kernels split into two nodes are the trace's documented presentation), with
the same edges between them. Numbers are checked against plain PyTorch code written here.
"""

import re
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backpropviz.analysis.graph_trace import trace_history_step, trace_step
from backpropviz.config import RunConfig
from backpropviz.train import model_at, penalty_fn, train

# autograd nodes of ops that only re-index memory (or copy): the trace folds them into an edge
# (AsStrided: the view autograd makes anew after an in-place op wrote into it)
FOLDED = {"T", "View", "Expand", "Unsqueeze", "Squeeze", "Permute", "Transpose", "Alias", "Clone", "AsStrided",
          "ToCopy", "UnsafeView", "ReshapeAlias"}

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, -1.5]], dtype=np.float32)
Y = np.array([0, 1, 1, 0, 1], dtype=np.float32)


def _kind(fn):
    return re.sub(r"Backward\d*$", "", fn.name())


def autograd_structure(model, loss):
    """(node names, edges) of the autograd graph behind ``loss``, views followed through to the
    op or leaf they show; leaves are ``param:<torch name>`` or ``input``."""
    names = {id(p): f"param:{n}" for n, p in model.named_parameters()}

    def label(fn):
        while _kind(fn) in FOLDED:
            fn = next(c for c, _ in fn.next_functions if c is not None)
        return names.get(id(fn.variable), "input") if hasattr(fn, "variable") else fn.name()

    nodes, edges, seen, stack = Counter(), Counter(), set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(c for c, _ in fn.next_functions)
        if hasattr(fn, "variable") or _kind(fn) in FOLDED:
            continue
        nodes[fn.name()] += 1
        edges.update((label(c), fn.name()) for c, _ in fn.next_functions if c is not None)
    return nodes, edges


def trace_structure(trace):
    """The same (node names, edges) read from a trace: one entry per autograd node (the two
    nodes split from a fused kernel, or the nodes of a multi-output op's outputs, share one),
    targets and constants left out (no gradient)."""
    by_id = {n.id: n for n in trace.nodes}
    ops = [n for n in trace.nodes if n.kind == "op"]
    assert all(n.autograd_index >= 0 and n.autograd_node for n in ops)
    nodes = Counter(n.autograd_node for n in {n.autograd_index: n for n in ops}.values())

    def label(n):
        return f"param:{n.torch_name}" if n.kind == "param" else "input" if n.kind == "input" else n.autograd_node

    inputs = {n.id: Counter() for n in ops}  # each trace node's inputs from outside its autograd node
    for e in trace.edges:
        s, d = by_id[e.src], by_id[e.dst]
        if s.kind in ("target", "const") or (s.kind == "op" and s.autograd_index == d.autograd_index):
            continue
        inputs[d.id][label(s)] += 1
    groups = {}
    for n in ops:  # an autograd node's inputs: what any of its trace nodes takes
        groups[n.autograd_index] = groups.get(n.autograd_index, Counter()) | inputs[n.id]
    edges = Counter()
    for n in {n.autograd_index: n for n in ops}.values():
        edges.update({(src, n.autograd_node): k for src, k in groups[n.autograd_index].items()})
    return nodes, edges


def reference_loss(model, loss_fn, X, y, penalty=None):
    x = torch.as_tensor(X).clone().requires_grad_(True)  # the trace computes dL/dx too
    out = model(x)
    y = torch.as_tensor(y, dtype=out.dtype)
    loss = loss_fn(out, y.reshape(out.shape) if y.numel() == out.numel() else y)
    return loss if penalty is None else loss + penalty()


class MySigmoid(torch.autograd.Function):
    """The article series' next lesson: the sigmoid with a hand-written backward."""

    @staticmethod
    def forward(ctx, z):
        s = 1 / (1 + torch.exp(-z))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return g * s * (1 - s)


class WrongSigmoid(MySigmoid):
    """A backward with a mistake in it (a factor 3): the graph must show what it returned."""

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return 3 * g * s * (1 - s)


class LeakyFn(torch.autograd.Function):
    """A Function with a non-tensor argument, and work after the output is made."""

    @staticmethod
    def forward(ctx, z, slope):
        ctx.save_for_backward(z)
        ctx.slope = slope
        out = torch.where(z > 0, z, slope * z)
        ctx.positive = out > 0  # an op after the output is made
        return out

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * torch.where(z > 0, 1.0, ctx.slope), None


class BCEFn(torch.autograd.Function):
    """A loss Function: the target is an input without gradient."""

    @staticmethod
    def forward(ctx, p, y):
        ctx.save_for_backward(p, y)
        return (-(y * torch.log(p) + (1 - y) * torch.log(1 - p))).mean()

    @staticmethod
    def backward(ctx, g):
        p, y = ctx.saved_tensors
        return g * (p - y) / (p * (1 - p)) / p.numel(), None


class Net(nn.Module):
    """2-3-1 with a forward given per test."""

    def __init__(self, body):
        super().__init__()
        self.l1, self.l2, self.body = nn.Linear(2, 3), nn.Linear(3, 1), body

    def forward(self, x):
        return self.body(self, x)


def _then(h, effect, result):
    effect(h)
    return result(h)


MODELS = {
    "custom sigmoid": lambda m, x: MySigmoid.apply(m.l2(torch.tanh(m.l1(x)))),
    "custom twice": lambda m, x: MySigmoid.apply(m.l2(MySigmoid.apply(m.l1(x)))),
    "custom with a float argument": lambda m, x: torch.sigmoid(m.l2(LeakyFn.apply(m.l1(x), 0.1))),
    "relu_": lambda m, x: torch.sigmoid(m.l2(m.l1(x).relu_())),
    "ReLU(inplace=True)": lambda m, x: torch.sigmoid(m.l2(nn.ReLU(inplace=True)(m.l1(x)))),
    "h += b": lambda m, x: _then(m.l1(x), lambda h: h.__iadd__(m.l1.bias), lambda h: torch.sigmoid(m.l2(h))),
    "h *= 2": lambda m, x: _then(m.l1(x), lambda h: h.__imul__(2), lambda h: torch.sigmoid(m.l2(h))),
    "sigmoid_ on the output": lambda m, x: m.l2(torch.tanh(m.l1(x))).sigmoid_(),
    "h[:, :2].relu_()": lambda m, x: _then(m.l1(x), lambda h: h[:, :2].relu_(), lambda h: torch.sigmoid(m.l2(h))),
    "h[:, 0] = 0": lambda m, x: _then(m.l1(x), lambda h: h.__setitem__((slice(None), 0), 0.0),
                                      lambda h: torch.sigmoid(m.l2(h))),
    "h.view(...).relu_()": lambda m, x: _then(m.l1(x).view(-1, 3), lambda h: h.relu_(),
                                              lambda h: torch.sigmoid(m.l2(h))),
    "the slice written in place, used again": lambda m, x: (lambda h: (lambda v: (
        v.relu_(), torch.sigmoid(m.l2(h) + v.sum(1, keepdim=True)))[1])(h[:, :2]))(m.l1(x)),
    "split and cat": lambda m, x: torch.sigmoid(m.l2(torch.cat(
        (lambda a, b: [a * a, torch.tanh(b)])(*m.l1(x).split([1, 2], dim=1)), dim=1))),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_every_autograd_node_is_a_node_of_the_trace(name):
    torch.manual_seed(0)
    model = Net(MODELS[name])
    trace = trace_step(model, F.binary_cross_entropy, X, Y, collapse=False)
    assert trace_structure(trace) == autograd_structure(model, reference_loss(model, F.binary_cross_entropy, X, Y))
    # the layers are all there
    assert {n.torch_name for n in trace.nodes if n.kind == "param"} == {"l1.weight", "l1.bias", "l2.weight", "l2.bias"}


def test_custom_loss_function_takes_the_target():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    trace = trace_step(model, BCEFn.apply, X, Y, collapse=False)
    assert trace_structure(trace) == autograd_structure(model, reference_loss(model, BCEFn.apply, X, Y))
    assert trace.names()[-3:] == ["sigmoid", "y", "BCEFn"]
    assert ("y", "BCEFn") in trace.name_edges()
    p = trace.node("sigmoid").value
    np.testing.assert_allclose(trace.node("BCEFn").input_grads[0], (p - Y[:, None]) / (p * (1 - p)) / len(Y), rtol=1e-5)
    assert trace.node("BCEFn").input_grads[1] is None  # nothing for the target
    np.testing.assert_allclose(trace.loss, reference_loss(model, F.binary_cross_entropy, X, Y).item(), rtol=1e-6)


@pytest.mark.parametrize("config", [RunConfig(epochs=3, l1=0.01, l2=0.05),
                                    RunConfig(data="xor", model="mlp:3", activation="leaky_relu", epochs=3),
                                    RunConfig(data="iris", model="mlp:4", loss="ce", epochs=2)])
def test_recorded_runs_match_their_autograd_graph(config):
    history = train(config)
    trace = trace_history_step(history, 1, collapse=False)
    from backpropviz.losses import get_loss

    model = model_at(history, 1)
    idx = np.arange(len(history.y))
    penalty = penalty_fn(model, float(config.l1 or 0), float(config.l2 or 0))
    loss = reference_loss(model, get_loss(config.loss), history.X[idx], history.y[idx], penalty)
    assert trace_structure(trace) == autograd_structure(model, loss)


@pytest.mark.parametrize("fn_class, factor", [(MySigmoid, 1.0), (WrongSigmoid, 3.0)])
def test_custom_function_node_holds_its_value_and_what_its_backward_returned(fn_class, factor):
    torch.manual_seed(1)
    model = Net(lambda m, x: fn_class.apply(m.l2(torch.tanh(m.l1(x)))))
    trace = trace_step(model, F.binary_cross_entropy, X, Y)
    node = trace.node(fn_class.__name__)
    assert node.kind == "op" and node.autograd_node == f"{fn_class.__name__}Backward"
    assert trace.name_edges()[-4:] == [("add", fn_class.__name__), (fn_class.__name__, "bce"), ("y", "bce"),
                                       ("bce", "mean")]

    # plain float64 numbers, written here
    with torch.no_grad():
        W1, b1, W2, b2 = (p.double().numpy() for p in (model.l1.weight, model.l1.bias, model.l2.weight,
                                                        model.l2.bias))
    h = np.tanh(X.astype(np.float64) @ W1.T + b1)
    z = h @ W2.T + b2
    s = 1 / (1 + np.exp(-z))
    y = Y.astype(np.float64)[:, None]
    dL_ds = (s - y) / (s * (1 - s)) / len(y)  # the mean BCE's derivative
    dL_dz = factor * dL_ds * s * (1 - s)      # what this backward returns
    tol = dict(rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(node.value, s, **tol)
    np.testing.assert_allclose(node.grad, dL_ds, **tol)
    assert len(node.input_grads) == 1
    np.testing.assert_allclose(node.input_grads[0], dL_dz, **tol)
    z_node = [n for n in trace.nodes if n.name == "add"][-1]  # the Function's input
    np.testing.assert_allclose(z_node.value, z, **tol)
    np.testing.assert_allclose(z_node.grad, dL_dz, **tol)
    # ... and it is what training with this Function would use: W2's gradient follows from it
    w2 = next(n for n in trace.nodes if n.torch_name == "l2.weight")
    np.testing.assert_allclose(w2.grad, dL_dz.T @ h, **tol)
    np.testing.assert_allclose(trace.contributions[w2.id].sum(0), w2.grad, **tol)


def test_in_place_relu_keeps_the_value_before_and_after():
    torch.manual_seed(0)
    model = Net(MODELS["relu_"])
    trace = trace_step(model, F.binary_cross_entropy, X, Y, collapse=False)
    # the same model written without in-place operations, intermediate gradients kept
    x = torch.as_tensor(X)
    a1 = x @ model.l1.weight.T + model.l1.bias
    h = torch.relu(a1)
    p = torch.sigmoid(h @ model.l2.weight.T + model.l2.bias)
    for t in (a1, h, p):
        t.retain_grad()
    F.binary_cross_entropy(p, torch.as_tensor(Y)[:, None]).backward()
    assert (a1 < 0).any()  # so that relu changes something
    adds = [n for n in trace.nodes if n.name == "add"]
    for node, ref in [(adds[0], a1), (trace.node("relu"), h), (trace.node("sigmoid"), p)]:
        np.testing.assert_allclose(node.value, ref.detach().numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(node.grad, ref.grad.numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(next(n for n in trace.nodes if n.torch_name == "l1.weight").grad,
                               model.l1.weight.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_in_place_op_on_a_slice_is_the_whole_tensor_after_it():
    torch.manual_seed(0)
    model = Net(MODELS["h[:, :2].relu_()"])
    trace = trace_step(model, F.binary_cross_entropy, X, Y, collapse=False)
    x = torch.as_tensor(X)
    a1 = x @ model.l1.weight.T + model.l1.bias
    h = torch.cat([torch.relu(a1[:, :2]), a1[:, 2:]], dim=1)
    p = torch.sigmoid(h @ model.l2.weight.T + model.l2.bias)
    for t in (a1, h):
        t.retain_grad()
    F.binary_cross_entropy(p, torch.as_tensor(Y)[:, None]).backward()
    assert (a1[:, :2] < 0).any()
    relu = trace.node("relu")
    assert relu.autograd_node == "torch::autograd::CopySlices"
    for node, ref in [(next(n for n in trace.nodes if n.name == "add"), a1), (relu, h)]:
        np.testing.assert_allclose(node.value, ref.detach().numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(node.grad, ref.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_multi_output_op_has_a_node_per_output_and_cat_its_inputs():
    torch.manual_seed(0)
    model = Net(MODELS["split and cat"])
    trace = trace_step(model, F.binary_cross_entropy, X, Y, collapse=False)
    x = torch.as_tensor(X)
    h = x @ model.l1.weight.T + model.l1.bias
    a, b = (part.detach().clone().requires_grad_(True) for part in (h[:, :1], h[:, 1:]))  # leaves of their own
    p = torch.sigmoid(torch.cat([a * a, torch.tanh(b)], 1) @ model.l2.weight.T + model.l2.bias)
    F.binary_cross_entropy(p, torch.as_tensor(Y)[:, None]).backward()
    for k, ref in enumerate((a, b)):
        node = trace.node(f"split_with_sizes[{k}]")
        np.testing.assert_allclose(node.value, ref.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(node.grad, ref.grad.numpy(), rtol=1e-5, atol=1e-8)
    assert ("multiply", "cat") in trace.name_edges() and ("tanh", "cat") in trace.name_edges()
    assert trace.name_edges().count(("split_with_sizes[0]", "multiply")) == 2  # a * a


def test_tensor_made_before_the_forward_pass_is_a_constant_with_its_gradient():
    class Doubled(nn.Module):  # a weight derived once, outside forward: no op of this step made it
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 1)
            self.w = self.lin.weight * 2

        def forward(self, x):
            return torch.sigmoid(x @ self.w.T + self.lin.bias)

    torch.manual_seed(0)
    model = Doubled()
    trace = trace_step(model, F.binary_cross_entropy, X, Y)
    assert trace.names() == ["x", "const", "matmul", "b", "add", "sigmoid", "y", "bce", "mean"]
    w = model.w.detach().clone().requires_grad_(True)
    F.binary_cross_entropy(torch.sigmoid(torch.as_tensor(X) @ w.T + model.lin.bias),
                           torch.as_tensor(Y)[:, None]).backward()
    np.testing.assert_allclose(trace.node("const").value, w.detach().numpy())
    np.testing.assert_allclose(trace.node("const").grad, w.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_custom_function_draws_as_one_node(tmp_path):
    from backpropviz.render.graph import fmt_number, write_graph_figure

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1))
    model.forward = lambda x: MySigmoid.apply(model[0](x))
    trace = trace_step(model, F.binary_cross_entropy, X[:4], Y[:4])
    assert trace.names() == ["x", "w", "matmul", "b", "add", "MySigmoid", "y", "bce", "mean"]
    titles = {"en": "Computation graph, sample 1 (x = (0, 1), y = 1)",  # no step: not from a history
              "ja": "計算グラフ: サンプル 1 (x = (0, 1), y = 1)"}
    for lang in ("en", "ja"):
        display = write_graph_figure(trace, tmp_path / f"graph_{lang}.png", sample=1, lang=lang)
        assert len(display.boxes_) == 9 and len(display.forward_arrows_) == 8
        assert any(t.get_text() == "MySigmoid" for t in display.texts_)
        assert display.ax_.get_title() == titles[lang]
        # the Function's box says what its backward returned, for this sample
        returned = {"en": "backward returned", "ja": "backward の戻り値"}[lang]
        g = trace.node("MySigmoid").input_grads[0][1, 0]
        assert f"{returned} ∂L/∂add = {fmt_number(g)}" in display.lines[trace.node("MySigmoid").id][2]
        assert (tmp_path / f"graph_{lang}.png").stat().st_size > 0
