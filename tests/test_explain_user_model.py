"""explain and gradcheck on models backpropviz did not build: a CNN on 8x8 digits with BatchNorm and
Dropout in training mode, and a residual MLP. The traced graph is checked against the module outputs
forward hooks capture here and against torch.autograd.grad; the gradient check against finite
differences computed here; the CLI for its output and its one-line errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.path import Path as MplPath
from torch import nn

import backpropviz
import backpropviz.errors
import explainmodels as em
from backpropviz.analysis.gradcheck import gradcheck_module
from backpropviz.analysis.graph_trace import trace_step
from backpropviz.render.base import new_figure
from backpropviz.render.fonts import use_language
from backpropviz.render.graph import ComputationGraphDisplay
from clihelpers import one_line_error

SEED = 7


def leaf_modules(model):
    return [(name, m) for name, m in model.named_modules() if name and not any(True for _ in m.children())]


def hooked_step(model, loss_fn, X, y, names):
    """The loss, the outputs of the modules ``names`` (captured by forward hooks) and
    dL/d(output) and dL/d(parameter) by torch.autograd.grad, with the random stream at SEED."""
    modules = dict(model.named_modules())
    outputs, handles = {}, []
    for name in names:
        handles.append(modules[name].register_forward_hook(
            lambda m, i, o, name=name: outputs.__setitem__(name, o)))
    torch.manual_seed(SEED)
    try:
        loss = loss_fn(model(X), y)
    finally:
        for h in handles:
            h.remove()
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, [outputs[n] for n in names] + list(params.values()))
    out_grads = dict(zip(names, grads[:len(names)]))
    param_grads = dict(zip(params, grads[len(names):]))
    return float(loss.detach()), {n: o.detach().double().numpy() for n, o in outputs.items()}, \
        {n: g.double().numpy() for n, g in out_grads.items()}, {n: g.double().numpy() for n, g in param_grads.items()}


def traced(model, loss_fn, X, y, **kw):
    torch.manual_seed(SEED)  # the trace draws dropout's masks from a copy of this state
    return trace_step(model, loss_fn, X, y, **kw)


@pytest.fixture(scope="module")
def digits():
    return em.digits()


def test_cnn_trace_values_and_gradients_equal_hooks_and_autograd(digits):
    X, y = digits
    model = em.digits_cnn()
    names = [n for n, _ in leaf_modules(model)]
    trace = traced(model, F.cross_entropy, X, y, collapse=True)
    loss, outs, out_grads, param_grads = hooked_step(model, F.cross_entropy, X, y, names)

    layers = [n for n in trace.nodes if n.kind == "layer"]
    # one node per leaf module, in the model's order, named by class and module path
    assert [n.name for n in layers] == [f"{type(m).__name__} {name}" for name, m in leaf_modules(model)]
    assert np.isclose(trace.loss, loss, rtol=1e-6)
    for node in layers:
        np.testing.assert_allclose(node.value, outs[node.module], rtol=1e-5, atol=1e-6, err_msg=node.name)
        np.testing.assert_allclose(node.grad, out_grads[node.module], rtol=1e-4, atol=1e-8, err_msg=node.name)
        for pname, (value, grad) in node.layer_params.items():
            np.testing.assert_allclose(grad, param_grads[pname], rtol=1e-4, atol=1e-8, err_msg=pname)
    # the dropout really dropped (training mode), and the graph says which mode each layer ran in
    dropout = trace.node("Dropout features.4")
    assert (dropout.value == 0).mean() > (outs["features.3"] == 0).mean()
    assert dropout.mode == "train" and dropout.mode_of == "dropout"
    assert trace.node("BatchNorm2d features.1").mode == "train"
    assert trace.node("Conv2d features.0").mode == ""
    # edges follow the data: input -> each layer -> the next -> the loss
    chain = ["x"] + [n.name for n in layers] + ["log_softmax", "nll_loss"]
    assert all(pair in trace.name_edges() for pair in zip(chain, chain[1:]))
    assert trace.node("x").shape == (len(X), 1, 8, 8)


def test_trace_leaves_the_model_its_buffers_and_the_random_stream_as_they_were(digits):
    X, y = digits
    model = em.digits_cnn()
    before = copy.deepcopy(model.state_dict())
    torch.manual_seed(3)
    rng = torch.get_rng_state()
    trace_step(model, F.cross_entropy, X, y)
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # running_mean, running_var, num_batches_tracked too
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_batch_norm_uses_running_statistics_and_says_so(digits):
    X, y = digits
    model = em.digits_cnn().eval()
    with torch.no_grad():
        model.features[1].running_mean.fill_(0.3)
    trace = traced(model, F.cross_entropy, X, y, collapse=True)
    _, outs, _, _ = hooked_step(model, F.cross_entropy, X, y, ["features.1"])
    bn = trace.node("BatchNorm2d features.1")
    assert bn.mode == "eval"
    np.testing.assert_allclose(bn.value, outs["features.1"], rtol=1e-5, atol=1e-6)
    # eval-mode dropout passes its input through: no operation, so no node
    assert "Dropout features.4" not in trace.names()


def test_residual_mlp_trace_shows_the_skip_connections():
    X, y = em.table()
    model = em.residual_mlp()
    names = [n for n, _ in leaf_modules(model)] + ["block1", "block2"]
    trace = traced(model, F.cross_entropy, X, y, collapse=True)
    _, outs, out_grads, _ = hooked_step(model, F.cross_entropy, X, y, names)
    adds = [n for n in trace.nodes if n.name == "add"]
    assert len(adds) == 2
    by_id = {n.id: n for n in trace.nodes}
    into = [sorted(by_id[e.src].name for e in trace.edges if e.dst == a.id) for a in adds]
    # block1 adds its input (inp's output) to fc2's; block2 adds block1's sum to its own fc2's
    assert into == [["Linear block1.fc2", "Linear inp"], ["Linear block2.fc2", "add"]]
    assert any(e.src == adds[0].id and e.dst == adds[1].id for e in trace.edges)
    for add, block in zip(adds, ["block1", "block2"]):  # the sum is the (non-leaf) block's output
        np.testing.assert_allclose(add.value, outs[block], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(add.grad, out_grads[block], rtol=1e-4, atol=1e-8)
    for node in (n for n in trace.nodes if n.kind == "layer"):
        np.testing.assert_allclose(node.value, outs[node.module], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(node.grad, out_grads[node.module], rtol=1e-4, atol=1e-8)


class FixedMask(nn.Module):
    """Dropout with a given mask: the test's own way of holding the network fixed."""

    def __init__(self, mask):
        super().__init__()
        self.mask = mask

    def forward(self, x):
        return x * self.mask


def finite_differences(model, loss_fn, X, y, indices, eps=1e-6):
    """Central differences of the loss in float64, one flat parameter at a time (a plain loop)."""
    params = list(model.parameters())
    flat_of = []
    for k, p in enumerate(params):
        flat_of += [(k, j) for j in range(p.numel())]
    out = []
    with torch.no_grad():
        for i in indices:
            k, j = flat_of[i]
            view = params[k].view(-1)
            keep = view[j].item()
            view[j] = keep + eps
            up = float(loss_fn(model(X), y))
            view[j] = keep - eps
            down = float(loss_fn(model(X), y))
            view[j] = keep
            out.append((up - down) / (2 * eps))
    return np.array(out)


def test_gradcheck_of_the_cnn_agrees_with_finite_differences_computed_here(digits):
    X, y = digits
    model = em.digits_cnn()
    check = gradcheck_module(model, F.cross_entropy, X, y, per_tensor=4, seed=SEED)
    assert check.sampled and len(check.param_names) == sum(min(4, p.numel()) for p in model.parameters())

    # the float32 backprop with the masks drawn at seed SEED (gradcheck_module's own seed here)
    torch.manual_seed(SEED)
    masks = {}
    hook = model.features[4].register_forward_hook(
        lambda m, i, o: masks.__setitem__("m", torch.where(i[0] != 0, o / i[0], torch.zeros_like(o))))
    loss = F.cross_entropy(model(X), y)
    hook.remove()
    flat32 = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])
    np.testing.assert_allclose(check.recorded, flat32.double().numpy()[check.indices], rtol=1e-6, atol=1e-9)

    # finite differences here: a float64 copy whose dropout multiplies by those masks
    model64 = copy.deepcopy(model).double()
    model64.features[4] = FixedMask(masks["m"].double())
    fd = finite_differences(model64, F.cross_entropy, X.double(), y, check.indices)
    big = np.abs(fd) > 1e-7  # (a conv bias before BatchNorm has gradient 0: both sides ~1e-10)
    np.testing.assert_allclose(check.finite_diff[big], fd[big], rtol=1e-5)
    np.testing.assert_allclose(check.backprop[big], fd[big], rtol=1e-5)
    assert np.all(np.abs(check.backprop[~big]) < 1e-7)
    assert check.passed(1e-5)
    # per layer: every tensor sampled, totals as the model has them
    rows = {r["layer"]: r for r in check.layers()}
    assert list(rows) == ["features.0", "features.1", "head.1"]
    assert rows["head.1"]["total"] == 10 * 64 + 10 and rows["head.1"]["checked"] == 8
    assert all(p.grad is None for p in model.parameters())


def test_gradcheck_of_the_residual_mlp_checks_every_parameter():
    X, y = em.table()
    model = em.residual_mlp()
    check = backpropviz.check_gradients(model, F.cross_entropy, X, y)
    n = sum(p.numel() for p in model.parameters())
    assert not check.sampled and len(check.param_names) == n
    indices = np.arange(0, n, 5)
    fd = finite_differences(copy.deepcopy(model).double(), F.cross_entropy, X.double(), y, indices)
    np.testing.assert_allclose(check.finite_diff[indices], fd, rtol=1e-6, atol=1e-10)
    assert check.max_rel_error < 1e-6
    assert [r["layer"] for r in check.layers()] == ["inp", "block1.fc1", "block1.fc2", "block2.fc1", "block2.fc2",
                                                   "out"]


def test_a_wrong_backward_inside_a_user_model_is_found():
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.tanh(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (1 - torch.tanh(x))  # should be 1 - tanh^2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.out = nn.Linear(4, 5), nn.Linear(5, 3)

        def forward(self, x):
            return self.out(Wrong.apply(self.fc(x)))

    torch.manual_seed(0)
    X, y = em.table()
    check = gradcheck_module(Net(), F.cross_entropy, X, y)
    rows = {r["layer"]: r for r in check.layers()}
    assert rows["fc"]["max_rel_error"] > 1e-2 and rows["out"]["max_rel_error"] < 1e-6


def boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_rendered_graphs_of_both_models_keep_boxes_and_texts_apart(digits, tmp_path, lang):
    X, y = digits
    for model, (Xb, yb) in ((em.digits_cnn(), (X, y)), (em.residual_mlp(), em.table())):
        trace = backpropviz.explain_step(model, F.cross_entropy, Xb, yb, out=tmp_path, lang=lang)
        assert (tmp_path / "graph.png").read_bytes()[:4] == b"\x89PNG"
        d = ComputationGraphDisplay(trace, lang=lang)
        with use_language(lang):  # as write_graph_figure draws it
            fig = new_figure(d.figsize(), layout="constrained")
            d.plot(ax=fig.add_subplot())
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [b.get_window_extent(renderer) for b in d.boxes_.values()]
        assert not any(boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        for text in d.texts_:  # every line of text inside one box
            ext = text.get_window_extent(renderer)
            assert sum(b.x0 - 1 <= ext.x0 and ext.x1 <= b.x1 + 1 and b.y0 - 1 <= ext.y0 and ext.y1 <= b.y1 + 1
                       for b in boxes) == 1, text.get_text()
        # no edge runs through a box it does not start or end at (residual bends, routes between bands)
        ends = [(e.src, e.dst) for e in trace.edges] + [(e.src, e.dst) for e in trace.backward_edges()]
        for arrow, (src, dst) in zip(d.forward_arrows_ + d.backward_arrows_, ends):
            patch = arrow.arrow_patch
            path = patch.get_path().transformed(patch.get_transform())  # display coordinates
            lines = [MplPath(line) for line in path.to_polygons(closed_only=False)]  # the shaft, the head
            for key, box in d.boxes_.items():
                if key not in (src, dst):
                    extent = box.get_window_extent(renderer)
                    assert not any(line.intersects_bbox(extent, filled=False) for line in lines), (src, dst, key)
        texts = " ".join(t.get_text() for t in d.texts_)
        if model.__class__.__name__ == "DigitsCNN":
            assert ("学習モード" if lang == "ja" else "training mode") in texts
            assert "μ = " in texts and "σ = " in texts


def test_explain_cli_on_the_cnn(cli, tmp_path):
    out = tmp_path / "ex"
    r = cli("explain", "--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits", "--out", out,
            "--lang", "ja", "--dot")
    assert r.code == 0, r
    assert "モデルは学習モード" in r.out and "BatchNorm2d features.1" in r.out and "Dropout features.4" in r.out
    assert (out / "graph.png").read_bytes()[:4] == b"\x89PNG"
    assert "Conv2d features.0" in (out / "graph.dot").read_text()
    r = cli("explain", "--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits", "--out", out,
            "--eval-mode", "--batch-size", "5", "--lang", "en")
    assert r.code == 0, r
    assert "in eval mode" in r.out and "loss" in r.out and " 5 samples" in r.out


def test_gradcheck_cli_on_the_residual_mlp_and_a_sampled_cnn(cli, tmp_path):
    r = cli("gradcheck", "--model", "explainmodels:residual_mlp", "--data", "explainmodels:table", "--lang", "en")
    assert r.code == 0, r
    for layer in ("inp", "block1.fc1", "block2.fc2", "out"):
        assert any(line.startswith(layer + " ") for line in r.out.splitlines()), layer
    r = cli("gradcheck", "--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits", "--per-tensor",
            "2", "--out", tmp_path, "--lang", "en")
    assert r.code == 0, r
    assert "a sample (seed 0) of up to 2 elements of each parameter tensor, 12 of" in r.out
    assert (tmp_path / "gradcheck.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_user_models_are_one_line_errors_and_write_nothing(cli, tmp_path):
    other = tmp_path / "other.pt"
    torch.save(em.residual_mlp().state_dict(), other)
    out = tmp_path / "never"
    cases = [
        (("--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits", "--checkpoint", other),
         "does not fit"),
        (("--model", "explainmodels:nothing", "--data", "explainmodels:digits"), "has no attribute"),
        (("--model", "explainmodels:digits_cnn", "--data", "explainmodels:table"), "does not fit --model"),
        (("--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits", "--step", "2"), "--step"),
        (("--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits", "--epochs", "9"), "--epochs 9"),
        (("--checkpoint", other), "--checkpoint needs --model"),
    ]
    for command in ("explain", "gradcheck"):
        for args, fragment in cases:
            r = cli(command, *args, "--out", out)
            one_line_error(r, fragment)
            assert not out.exists(), (command, args)
    one_line_error(cli("gradcheck", "--model", "explainmodels:digits_cnn", "--data", "explainmodels:digits",
                       "--per-tensor", "-1"), "--per-tensor")


def test_gradcheck_refuses_a_forward_that_draws_new_random_numbers_each_time():
    class FunctionalDropout(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(F.dropout(x, 0.5, self.training))

    X, y = em.table()
    with pytest.raises(backpropviz.errors.BackpropvizError, match="not the same twice"):
        gradcheck_module(FunctionalDropout(), F.cross_entropy, X, y)
    assert gradcheck_module(FunctionalDropout().eval(), F.cross_entropy, X, y).passed()


@pytest.mark.parametrize("command", ["explain", "gradcheck"])
def test_help_names_the_user_model_options_literally(cli, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    r = cli(command, "--help")
    assert r.code == 0
    # rich turns ':name:' into an emoji; every 'package.module:factory' must stay as typed
    assert "🏭" not in r.out and r.out.count("package.module:factory") >= 4
    for option in ("--checkpoint", "--eval-mode", "--data", "--model"):
        assert option in r.out


def test_a_module_called_twice_gets_a_node_per_call_and_its_whole_gradient():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.act, self.out = nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3)

        def forward(self, x):
            return self.out(self.act(self.fc(self.act(self.fc(x)))))

    torch.manual_seed(0)
    model = Twice()
    X, y = em.table()
    trace = trace_step(model, F.cross_entropy, X, y, collapse=True)
    assert [n.name for n in trace.nodes if n.kind == "layer"] == [
        "Linear fc", "Tanh act", "Linear fc#2", "Tanh act#2", "Linear out"]
    assert all(n.id.isidentifier() for n in trace.nodes)  # valid Graphviz ids
    weight = torch.autograd.grad(F.cross_entropy(model(X), y), model.fc.weight)[0]  # both uses
    np.testing.assert_allclose(trace.node("Linear fc").layer_params["fc.weight"][1], weight.double().numpy(),
                               rtol=1e-5, atol=1e-8)
