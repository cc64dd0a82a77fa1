"""Models and the flat parameter bridge between a model and the recorder / landscape code.

The article's perceptron is ``Linear(2, 1)`` followed by ``Sigmoid``; its flat parameters are
``[w1, w2, b]``.  Every other model names its parameters after ``named_parameters()``, one
entry per element, row-major: ``0.weight[1,0]``.
"""

from __future__ import annotations

import itertools
import threading

import torch
from torch import nn

from .errors import BackpropvizError, choice_error

MODELS = ("perceptron", "mlp")

# Hidden-layer activations; "leaky-relu" is accepted for "leaky_relu".
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}
MAX_WIDTH = 4096
MAX_LAYERS = 16

# ``--init`` schemes for the weight matrices (torch.nn.init); every bias starts at 0.
# ``normal:SCALE`` draws each weight from N(0, SCALE^2).
INIT_SCHEMES = ("xavier", "he", "normal:SCALE")


def perceptron(n_inputs: int = 2, n_outputs: int = 1, regression: bool = False) -> nn.Sequential:
    """The article's model: one linear layer and a sigmoid, output a probability of class 1.

    With ``n_outputs > 1`` (a multi-class task) the layer outputs one logit per class instead,
    and the loss applies the softmax (see ``losses``). With ``regression`` the output is the
    linear layer's value itself (linear regression).
    """
    layers = [nn.Linear(n_inputs, n_outputs)]
    if n_outputs == 1 and not regression:
        layers.append(nn.Sigmoid())
    model = nn.Sequential(*layers)
    model.is_perceptron = n_outputs == 1
    return model


def mlp(n_inputs: int, hidden: tuple[int, ...], activation: str = "tanh", n_outputs: int = 1,
        regression: bool = False) -> nn.Sequential:
    """Linear layers of widths ``hidden`` with ``activation`` between them.

    Binary tasks (``n_outputs == 1``) end in a sigmoid (a probability, as the perceptron);
    multi-class tasks end in one logit per class; regression in the last layer's value. Layers are numbered as ``nn.Sequential``
    numbers them, so ``mlp:4`` has parameters ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``.
    """
    make_activation = get_activation(activation)
    layers, width = [], n_inputs
    for h in hidden:
        layers += [nn.Linear(width, h), make_activation()]
        width = h
    layers.append(nn.Linear(width, n_outputs))
    if n_outputs == 1 and not regression:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def get_activation(name: str):
    """The activation module class (a factory) called ``name``."""
    key = str(name).lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise choice_error("activation", name, ACTIVATIONS)
    return ACTIVATIONS[key]


def parse_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """``"mlp:4,4"`` -> ``("mlp", (4, 4))``; ``"perceptron"`` -> ``("perceptron", ())``."""
    name, _, rest = str(spec).strip().partition(":")
    name = name.lower()
    if name not in MODELS:
        raise choice_error("model", spec, ["perceptron", "mlp:H1,H2,... (e.g. mlp:4,4)"])
    if name == "perceptron":
        if rest.strip():
            raise BackpropvizError(f"the perceptron has no hidden layers; got model {spec!r}")
        return name, ()
    try:
        hidden = tuple(int(h) for h in rest.split(","))
    except ValueError:
        hidden = ()
    if not hidden or not all(1 <= h <= MAX_WIDTH for h in hidden) or len(hidden) > MAX_LAYERS:
        raise BackpropvizError(
            f"--model mlp needs hidden-layer widths, e.g. mlp:4 or mlp:8,8 (1 to {MAX_WIDTH} units, "
            f"at most {MAX_LAYERS} layers); got {spec!r}")
    return name, hidden


_BUILD_LOCK = threading.Lock()


def build_model(spec: str, n_inputs: int, *, seed: int, activation: str = "tanh",
                n_outputs: int = 1, regression: bool = False) -> nn.Module:
    """Build the model named by ``spec`` with a seeded initialisation (torch's default init).

    ``n_outputs`` is 1 for binary tasks (a sigmoid probability) and the number of classes for
    multi-class tasks (logits); with ``regression``, one output without a sigmoid. The global
    torch random state is left as it was.

    >>> sum(p.numel() for p in build_model("mlp:4", 2, seed=0).parameters())  # 2*4 + 4 + 4*1 + 1
    17
    """
    name, hidden = parse_spec(spec)
    # torch's default init draws from its global generator: one build at a time, or two threads
    # (the playground's run worker and the next run's command) draw from each other's seed.
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        # The CPU generator only, as fork_rng(devices=[]) restores only it: torch.manual_seed also
        # queues the seeding of CUDA's, MPS's and XPU's generators, each with a saved traceback
        # (1.5 ms of a new playground run's ~10 before its first step).
        torch.default_generator.manual_seed(seed)
        if name == "perceptron":
            return perceptron(n_inputs, n_outputs, regression)
        return mlp(n_inputs, hidden, activation, n_outputs, regression)


def parse_init_scheme(scheme: str) -> tuple[str, float | None]:
    """``"xavier"`` -> ``("xavier", None)``; ``"normal:0.1"`` -> ``("normal", 0.1)``."""
    name, colon, rest = str(scheme).strip().lower().partition(":")
    if name in ("xavier", "he") and not colon:
        return name, None
    if name == "normal":
        try:
            scale = float(rest)
        except ValueError:
            scale = float("nan")
        if 0 < scale < float("inf"):
            return name, scale
        raise BackpropvizError(f"--init normal:SCALE needs a standard deviation > 0, e.g. normal:0.1; got {scheme!r}")
    raise BackpropvizError(
        f"--init must be comma-separated numbers, random, {', '.join(INIT_SCHEMES)}; got {scheme!r}")


@torch.no_grad()
def initialise(model: nn.Module, scheme: str, seed: int) -> None:
    """Draw the weight matrices of ``model`` by ``scheme`` (see ``INIT_SCHEMES``), biases 0.

    ``xavier``: Glorot uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out));
    ``he``: Kaiming normal for ReLU, N(0, 2 / fan_in); ``normal:SCALE``: N(0, SCALE^2).
    The draws come from a generator seeded by ``seed``, in ``named_parameters()`` order, so the
    same seed gives the same start bit for bit (the global torch random state is not touched).
    """
    name, scale = parse_init_scheme(scheme)
    generator = torch.Generator().manual_seed(seed)
    for pname, p in model.named_parameters():
        if p.ndim < 2:  # biases (and any other vector)
            p.zero_()
        elif name == "xavier":
            nn.init.xavier_uniform_(p, generator=generator)
        elif name == "he":
            nn.init.kaiming_normal_(p, nonlinearity="relu", generator=generator)
        else:
            nn.init.normal_(p, 0.0, scale, generator=generator)


def param_names(model: nn.Module) -> list[str]:
    """Names of the flat parameters, in ``named_parameters()`` order, row-major."""
    if getattr(model, "is_perceptron", False):
        n_in = model[0].in_features
        return [f"w{i + 1}" for i in range(n_in)] + ["b"]
    names = []
    for name, p in model.named_parameters():
        if p.ndim == 0:
            names.append(name)
        elif p.ndim == 2:  # the weight matrices: spelled out directly, as they are most names
            rows, cols = p.shape
            names += [f"{name}[{i},{j}]" for i in range(rows) for j in range(cols)]
        else:
            names += [f"{name}[{','.join(map(str, idx))}]"
                      for idx in itertools.product(*(range(s) for s in p.shape))]
    return names


def get_flat(model: nn.Module) -> torch.Tensor:
    """All parameters as one detached 1-D tensor (a copy)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


@torch.no_grad()
def set_flat(model: nn.Module, flat) -> None:
    """Write a flat vector (from ``get_flat`` or a History row) back into the model."""
    flat = torch.as_tensor(flat)
    total = sum(p.numel() for p in model.parameters())
    if flat.shape != (total,):
        raise BackpropvizError(f"expected {total} parameter values, got {tuple(flat.shape)}")
    offset = 0
    for p in model.parameters():
        n = p.numel()
        p.copy_(flat[offset : offset + n].view_as(p))
        offset += n


@torch.no_grad()
def flat_storage(model: nn.Module) -> torch.Tensor:
    """Move the model's parameters into one contiguous 1-D tensor and return it.

    Each parameter becomes a view of its slice (same values, same shapes, same
    ``named_parameters()`` order), so in-place optimiser updates show up in the flat tensor
    and reading all parameters is a single copy.
    """
    params = list(model.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat[offset : offset + n].view_as(p)
        offset += n
    return flat


def unflatten(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat vector as a ``{name: tensor}`` dict for ``torch.func.functional_call``."""
    out, offset = {}, 0
    for name, p in model.named_parameters():
        n = p.numel()
        out[name] = flat[offset : offset + n].view(p.shape)
        offset += n
    return out
