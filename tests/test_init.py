"""--init xavier | he | normal:SCALE: torch.nn.init schemes for the weights, biases 0, seeded by --seed."""

import math

import numpy as np
import pytest
import torch
from clihelpers import one_line_error

from backpropviz.config import RunConfig
from backpropviz.history import History
from backpropviz.models import get_flat
from backpropviz.train import prepare, train


def start(scheme, model="mlp:256,256", seed=3):
    _, _, net = prepare(RunConfig(data="moons", model=model, init=None, init_scheme=scheme, seed=seed,
                                  epochs=1))
    return dict(net.named_parameters())


def reference_start(scheme, sizes, seed):
    """The same start written out with plain torch: one generator seeded by ``seed``, the
    weight matrices drawn in layer order, every bias 0."""
    g = torch.Generator().manual_seed(seed)
    flat = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        w = torch.empty(n_out, n_in)
        if scheme == "xavier":
            bound = math.sqrt(6.0 / (n_in + n_out))
            w.uniform_(-bound, bound, generator=g)
        elif scheme == "he":
            w.normal_(0.0, math.sqrt(2.0 / n_in), generator=g)
        else:
            w.normal_(0.0, float(scheme.split(":")[1]), generator=g)
        flat += [w.reshape(-1), torch.zeros(n_out)]
    return torch.cat(flat)


@pytest.mark.parametrize("scheme", ["xavier", "he", "normal:0.3"])
def test_scheme_start_equals_plain_torch_draws_bit_for_bit(scheme):
    _, _, net = prepare(RunConfig(data="xor", model="mlp:5,3", init=None, init_scheme=scheme, seed=11, epochs=1))
    expected = reference_start(scheme, [2, 5, 3, 1], seed=11)
    assert torch.equal(get_flat(net), expected)


def test_xavier_weights_have_glorot_bound_and_variance():
    w = start("xavier")["2.weight"].detach().double()  # 256 x 256
    bound = math.sqrt(6.0 / 512)
    assert w.abs().max() <= bound
    assert w.var().item() == pytest.approx(2.0 / 512, rel=0.03)  # U(-a, a): a^2 / 3


def test_he_weights_have_kaiming_variance_and_zero_biases():
    params = start("he")
    assert params["2.weight"].detach().double().std().item() == pytest.approx(math.sqrt(2.0 / 256), rel=0.03)
    assert params["0.weight"].detach().double().std().item() == pytest.approx(1.0, rel=0.1)  # fan_in 2
    for name in ("0.bias", "2.bias", "4.bias"):
        assert torch.count_nonzero(params[name]) == 0


def test_normal_scale_sets_the_standard_deviation():
    w = start("normal:0.05")["2.weight"].detach().double()
    assert w.std().item() == pytest.approx(0.05, rel=0.03)
    assert abs(w.mean().item()) < 0.002


def test_scheme_starts_differ_by_seed_and_repeat_bit_for_bit():
    a = train(RunConfig(data="xor", model="mlp:4", init=None, init_scheme="he", seed=1, epochs=20))
    b = train(RunConfig(data="xor", model="mlp:4", init=None, init_scheme="he", seed=1, epochs=20))
    c = train(RunConfig(data="xor", model="mlp:4", init=None, init_scheme="he", seed=2, epochs=20))
    assert np.array_equal(a.params, b.params) and np.array_equal(a.grads, b.grads)
    assert not np.array_equal(a.params[0], c.params[0])
    default = train(RunConfig(data="xor", model="mlp:4", init=None, seed=1, epochs=1))
    assert not np.array_equal(a.params[0], default.params[0])  # the scheme is not torch's default


def test_perceptron_takes_a_scheme_instead_of_the_article_start():
    _, _, net = prepare(RunConfig(init_scheme="normal:1", seed=5))  # init left at the article's default
    expected = reference_start("normal:1", [2, 1], seed=5)
    assert torch.equal(get_flat(net), expected)


def test_cli_init_scheme_is_saved_in_the_config(cli, tmp_path):
    path = tmp_path / "h.npz"
    r = cli("run", "--data", "xor", "--model", "mlp:3", "--init", "xavier", "--seed", "4", "--epochs", "5",
            "--views", "metrics", "--out", tmp_path, "--save-history", path)
    assert r.code == 0, r
    h = History.load(path)
    assert h.config["init_scheme"] == "xavier" and h.config["init"] is None
    assert np.array_equal(h.params[0], reference_start("xavier", [2, 3, 1], seed=4).numpy())


@pytest.mark.parametrize("text,fragment", [
    ("normal:0", "normal:SCALE needs a standard deviation > 0"),
    ("normal:x", "normal:SCALE"),
    ("glorot", "random, xavier, he, normal:SCALE"),
    ("1,a,0", "random, xavier, he, normal:SCALE"),
])
def test_bad_init_scheme_is_one_line(cli, tmp_path, text, fragment):
    one_line_error(cli("run", "--init", text, "--out", tmp_path), "--init", fragment)


def test_scheme_and_values_together_are_refused():
    from backpropviz.errors import BackpropvizError

    with pytest.raises(BackpropvizError, match="not both"):
        RunConfig(init=(1.0, 2.0, 3.0), init_scheme="he").validate()
