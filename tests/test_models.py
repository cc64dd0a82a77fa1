"""Models: specs, parameter names and order, seeded initialisation, gradients vs finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.losses import get_loss
from backpropviz.models import build_model, get_flat, param_names, set_flat, unflatten
from backpropviz.train import model_at, predict, train

ACTIVATIONS_NP = {
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
}


def numpy_loss(flat, names, X, y, activation, loss):
    """The MLP's loss written from scratch in float64 numpy, reading weights by parameter name."""
    shapes = {}
    for name in names:  # "0.weight[1,0]" -> layer 0, weight, index (1, 0)
        key, idx = name.split("[")
        idx = tuple(int(i) for i in idx.rstrip("]").split(","))
        shapes[key] = tuple(max(a, b + 1) for a, b in zip(shapes.get(key, (0,) * len(idx)), idx))
    tensors, offset = {}, 0
    for key, shape in shapes.items():
        n = int(np.prod(shape))
        tensors[key] = flat[offset : offset + n].reshape(shape)
        offset += n
    layers = sorted({int(k.split(".")[0]) for k in tensors})
    h = X
    for i, layer in enumerate(layers):
        h = h @ tensors[f"{layer}.weight"].T + tensors[f"{layer}.bias"]
        if i < len(layers) - 1:
            h = ACTIVATIONS_NP[activation](h)
    if h.shape[1] == 1:
        p = 1 / (1 + np.exp(-h[:, 0]))
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)) if loss == "bce" else np.mean((p - y) ** 2)
    h = h - h.max(axis=1, keepdims=True)
    log_softmax = h - np.log(np.exp(h).sum(axis=1, keepdims=True))
    return -np.mean(log_softmax[np.arange(len(y)), y.astype(int)])


def finite_difference(f, x, eps=1e-6):
    g = np.empty_like(x)
    for i in range(len(x)):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "leaky_relu"])
@pytest.mark.parametrize("data,loss", [("moons", "bce"), ("moons", "mse"), ("iris", "ce")])
def test_mlp_gradient_matches_float64_finite_differences(activation, data, loss):
    history = train(RunConfig(data=data, n_samples=16, model="mlp:3,2", activation=activation,
                              loss=loss, optimizer="sgd", lr=0.1, epochs=2, seed=5))
    X, y = history.X.astype(np.float64), history.y.astype(np.float64)
    for step in (0, history.n_steps - 1):
        flat = history.params[step].astype(np.float64)
        # 1. autograd in float64 on our model equals finite differences of the numpy loss.
        model = model_at(history, step).double()
        out = model(torch.from_numpy(X))
        target = torch.from_numpy(y).reshape(-1, 1)
        value = get_loss(loss)(out, target)
        grads = torch.autograd.grad(value, list(model.parameters()))
        autograd64 = torch.cat([g.reshape(-1) for g in grads]).numpy()
        fd = finite_difference(lambda v: numpy_loss(v, history.param_names, X, y, activation, loss), flat)
        assert value.item() == pytest.approx(numpy_loss(flat, history.param_names, X, y, activation, loss),
                                             rel=1e-12)
        np.testing.assert_allclose(autograd64, fd, rtol=1e-6, atol=1e-9)
        # 2. the float32 gradient that training recorded agrees at float32 precision.
        np.testing.assert_allclose(history.grads[step], fd, rtol=2e-4, atol=2e-6)


def test_param_names_follow_named_parameters_row_major():
    model = build_model("mlp:3", 2, seed=0)
    names = param_names(model)
    assert names[:3] == ["0.weight[0,0]", "0.weight[0,1]", "0.weight[1,0]"]
    assert names[6:9] == ["0.bias[0]", "0.bias[1]", "0.bias[2]"]
    assert names[-1] == "2.bias[0]" and len(names) == 3 * 2 + 3 + 3 + 1
    flat = get_flat(model)
    assert flat[2].item() == model[0].weight[1, 0].item()
    assert param_names(build_model("perceptron", 2, seed=0)) == ["w1", "w2", "b"]
    assert param_names(build_model("perceptron", 2, seed=0, n_outputs=3))[0] == "0.weight[0,0]"


def test_set_flat_get_flat_and_unflatten_round_trip():
    model = build_model("mlp:4,2", 3, seed=1, activation="relu", n_outputs=3)
    values = torch.arange(get_flat(model).numel(), dtype=torch.float32)
    set_flat(model, values)
    assert torch.equal(get_flat(model), values)
    parts = unflatten(model, values)
    assert torch.equal(parts["2.weight"], model[2].weight.detach())


def test_seeded_initialisation_repeats_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = get_flat(build_model("mlp:4", 2, seed=7))
    assert torch.equal(torch.rand(1), before)  # building did not consume the global stream
    b = get_flat(build_model("mlp:4", 2, seed=7))
    c = get_flat(build_model("mlp:4", 2, seed=8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(get_flat(build_model("mlp:4", 2, seed=0)), get_flat(build_model("mlp:4", 2, seed=1)))


def test_output_heads():
    binary = build_model("mlp:4", 2, seed=0)
    multi = build_model("mlp:4", 2, seed=0, n_outputs=3)
    x = torch.randn(5, 2)
    p = binary(x)
    assert p.shape == (5, 1) and bool(((p > 0) & (p < 1)).all())
    assert multi(x).shape == (5, 3)
    assert isinstance(build_model("mlp:4", 2, seed=0, activation="leaky-relu")[1], torch.nn.LeakyReLU)


@pytest.mark.parametrize("spec,message", [
    ("mlp", "needs hidden-layer widths"),
    ("mlp:0", "needs hidden-layer widths"),
    ("mlp:4,x", "needs hidden-layer widths"),
    ("cnn", "choose one of: perceptron, mlp"),
    ("perceptron:3", "no hidden layers"),
])
def test_bad_specs_are_explained(spec, message):
    with pytest.raises(BackpropvizError, match=message):
        build_model(spec, 2, seed=0)


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(BackpropvizError, match="sigmoid, tanh, relu, leaky_relu"):
        build_model("mlp:2", 2, seed=0, activation="gelu")


def test_predict_multiclass_gives_probabilities():
    history = train(RunConfig(data="wine", model="mlp:4", loss="ce", lr=0.1, epochs=3))
    probs = predict(history)
    assert probs.shape == (len(history.y), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_models_built_in_threads_at_once_start_as_each_seed_alone():
    # (the playground builds a run's model in its worker while a command builds the next one's)
    import sys
    import threading

    seeds = list(range(40))
    alone = {s: get_flat(build_model("mlp:16,16", 2, seed=s)) for s in seeds}
    got, start = {}, threading.Barrier(4)

    def build(part):
        start.wait()
        for s in part:
            got[s] = get_flat(build_model("mlp:16,16", 2, seed=s))

    threads = [threading.Thread(target=build, args=(seeds[i::4],)) for i in range(4)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # (threads switch at every chance: a build is interleaved)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert [s for s in seeds if not torch.equal(got[s], alone[s])] == []
