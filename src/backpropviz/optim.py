"""Optimisers: torch.optim's own update rules, called through its functional API.

``torch.optim.SGD(...)`` and its ``step()`` import ``torch._dynamo`` on first use, which costs
close to a second of start-up for a run that itself takes a tenth of that. torch.optim also
exports each algorithm as a function (``torch.optim.sgd.sgd``, ``torch.optim.adam.adam``, ...);
the classes call exactly these functions (single-tensor path on the CPU), so the updates are
the same bits. Each class below keeps the state that the torch.optim class keeps, created the
same way (e.g. Adam's ``step`` counters are float32 scalar tensors, its moments zeros), and
passes it to the function. Tests check every optimiser here against the torch.optim class.

Hyperparameters left as ``None`` take the torch.optim class's default for that optimiser
(``DEFAULTS``); ``momentum`` and ``nesterov`` are SGD with momentum 0.9 by default.
"""

from __future__ import annotations

import math

import torch
from torch.optim.adagrad import adagrad as _adagrad
from torch.optim.adam import adam as _adam
from torch.optim.rmsprop import rmsprop as _rmsprop
from torch.optim.sgd import sgd as _sgd

from .errors import BackpropvizError, choice_error


def _zeros_like(params):
    return [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]


def _step_counters(params):
    # torch.optim keeps each parameter's step count as a float32 scalar tensor on the CPU.
    return [torch.tensor(0.0, dtype=torch.get_default_dtype()) for _ in params]


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum and weight decay."""

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        self.params = list(params)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self._buffers: list = [None] * len(self.params)

    @torch.no_grad()
    def step(self, grads) -> None:
        """Update the parameters in place from ``grads`` (one tensor per parameter)."""
        _sgd(self.params, list(grads), self._buffers, foreach=False,
             weight_decay=self.weight_decay, momentum=self.momentum, lr=self.lr,
             dampening=self.dampening, nesterov=self.nesterov, maximize=False)

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, momentum={self.momentum}, nesterov={self.nesterov})"


class Adagrad:
    """Adagrad: each parameter's step divided by the root of its summed squared gradients."""

    def __init__(self, params, lr: float, eps: float = 1e-10, weight_decay: float = 0.0,
                 lr_decay: float = 0.0, initial_accumulator_value: float = 0.0):
        self.params = list(params)
        self.lr, self.eps, self.weight_decay, self.lr_decay = lr, eps, weight_decay, lr_decay
        self.sums = [torch.full_like(p, initial_accumulator_value, memory_format=torch.preserve_format)
                     for p in self.params]
        self.steps = _step_counters(self.params)

    @torch.no_grad()
    def step(self, grads) -> None:
        _adagrad(self.params, list(grads), self.sums, self.steps, foreach=False,
                 lr=self.lr, weight_decay=self.weight_decay, lr_decay=self.lr_decay,
                 eps=self.eps, maximize=False)

    def __repr__(self) -> str:
        return f"Adagrad(lr={self.lr}, eps={self.eps}, weight_decay={self.weight_decay})"


class RMSprop:
    """RMSprop: steps scaled by a running average (``alpha``) of squared gradients."""

    def __init__(self, params, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        self.params = list(params)
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.weight_decay, self.momentum, self.centered = weight_decay, momentum, centered
        self.square_avgs = _zeros_like(self.params)
        self.momentum_buffers = _zeros_like(self.params) if momentum > 0 else []
        self.grad_avgs = _zeros_like(self.params) if centered else []
        self.steps = _step_counters(self.params)

    @torch.no_grad()
    def step(self, grads) -> None:
        _rmsprop(self.params, list(grads), self.square_avgs, self.grad_avgs, self.momentum_buffers,
                 self.steps, foreach=False, lr=self.lr, alpha=self.alpha, eps=self.eps,
                 weight_decay=self.weight_decay, momentum=self.momentum, centered=self.centered)

    def __repr__(self) -> str:
        return f"RMSprop(lr={self.lr}, alpha={self.alpha}, eps={self.eps}, momentum={self.momentum})"


class Adam:
    """Adam; with ``decoupled_weight_decay=True`` it is AdamW (as ``torch.optim.AdamW`` is)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                 decoupled_weight_decay: bool = False):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, tuple(float(b) for b in betas), eps
        self.weight_decay, self.amsgrad = weight_decay, amsgrad
        self.decoupled_weight_decay = decoupled_weight_decay
        self.exp_avgs = _zeros_like(self.params)
        self.exp_avg_sqs = _zeros_like(self.params)
        self.max_exp_avg_sqs = _zeros_like(self.params) if amsgrad else []
        self.steps = _step_counters(self.params)

    @torch.no_grad()
    def step(self, grads) -> None:
        _adam(self.params, list(grads), self.exp_avgs, self.exp_avg_sqs, self.max_exp_avg_sqs,
              self.steps, foreach=False, decoupled_weight_decay=self.decoupled_weight_decay,
              amsgrad=self.amsgrad, beta1=self.betas[0], beta2=self.betas[1], lr=self.lr,
              weight_decay=self.weight_decay, eps=self.eps, maximize=False)

    def __repr__(self) -> str:
        kind = "AdamW" if self.decoupled_weight_decay else "Adam"
        return f"{kind}(lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})"


# name -> (class, fixed settings, defaults of the tunable hyperparameters: torch.optim's own)
OPTIMIZERS = {
    "sgd": (SGD, {}, {"momentum": 0.0, "weight_decay": 0.0}),
    "momentum": (SGD, {}, {"momentum": 0.9, "weight_decay": 0.0}),
    "nesterov": (SGD, {"nesterov": True}, {"momentum": 0.9, "weight_decay": 0.0}),
    "adagrad": (Adagrad, {}, {"eps": 1e-10, "weight_decay": 0.0}),
    "rmsprop": (RMSprop, {}, {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0}),
    "adam": (Adam, {}, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    "adamw": (Adam, {"decoupled_weight_decay": True},
              {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2}),
}
DEFAULTS = {name: defaults for name, (_, _, defaults) in OPTIMIZERS.items()}


def optimizer_settings(name: str, **given) -> dict:
    """The hyperparameters ``name`` will use: ``given`` values that are not None, else defaults.

    Raises for a value the optimiser does not take (``--momentum`` with Adam) or out of range.
    """
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise choice_error("optimizer", name, OPTIMIZERS)
    defaults = DEFAULTS[key]
    settings = dict(defaults)
    for option, value in given.items():
        if value is None or (option == "momentum" and value == 0 and option not in defaults):
            continue  # "no momentum" is what an optimiser without momentum does anyway
        if option not in defaults:
            takes = ", ".join(f"--{o.replace('_', '-')}" for o in defaults)
            raise BackpropvizError(f"--{option.replace('_', '-')} does not apply to {key}; it takes {takes}")
        settings[option] = value
    _check_ranges(key, settings)
    return settings


_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _real(value) -> bool:
    """A number torch's float32 update can take as a scalar: finite, within float32's range, not a bool."""
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and abs(value) <= _FLOAT32_MAX)


def _check_ranges(name: str, s: dict) -> None:
    def bad(option, rule, value):
        return BackpropvizError(f"--{option} for {name} must be {rule}; got {value}")

    if "momentum" in s and not 0 <= s["momentum"] < 1:
        raise bad("momentum", "in [0, 1)", s["momentum"])
    if name == "nesterov" and not s["momentum"] > 0:
        raise bad("momentum", "> 0 (Nesterov needs momentum)", s["momentum"])
    if "weight_decay" in s and not (_real(s["weight_decay"]) and s["weight_decay"] >= 0):
        raise bad("weight-decay", f">= 0 (at most {_FLOAT32_MAX:.3g}, float32's largest)", s["weight_decay"])
    if "eps" in s and not (_real(s["eps"]) and s["eps"] > 0):
        raise bad("eps", f"> 0 (at most {_FLOAT32_MAX:.3g}, float32's largest)", s["eps"])
    if "alpha" in s and not 0 <= s["alpha"] < 1:
        raise bad("alpha", "in [0, 1)", s["alpha"])
    if "betas" in s:
        betas = tuple(s["betas"])
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise bad("betas", "two numbers in [0, 1), e.g. 0.9,0.999", s["betas"])


def make_optimizer(name: str, params, *, lr: float, momentum: float | None = None, **extra):
    """Build the optimiser called ``name`` over ``params``.

    ``extra`` takes ``betas``, ``eps``, ``weight_decay`` and ``alpha`` where the optimiser
    uses them; ``None`` means torch.optim's default.

    >>> make_optimizer("adam", [torch.zeros(2, requires_grad=True)], lr=0.01)
    Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)
    """
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise BackpropvizError(f"learning rate must be > 0; got {lr}")
    settings = optimizer_settings(name, momentum=momentum, **extra)
    cls, fixed, _ = OPTIMIZERS[str(name).lower()]
    return cls(params, lr=lr, **fixed, **settings)


# -- learning-rate schedules ----------------------------------------------------------------
SCHEDULES = ("constant", "step", "cosine")


def lr_schedule(kind: str, lr: float, epochs: int, *, step_size: int = 100, gamma: float = 0.1,
                lr_min: float = 0.0, length: int | None = None) -> list[float]:
    """The learning rate of each epoch, as torch's schedulers stepped once per epoch give it.

    - ``constant``: ``lr`` throughout;
    - ``step``: multiplied by ``gamma`` every ``step_size`` epochs (``torch.optim.lr_scheduler.StepLR``);
    - ``cosine``: from ``lr`` down to ``lr_min`` along half a cosine over ``length`` epochs
      (default: all of them; ``CosineAnnealingLR`` with ``T_max = length``, ``eta_min = lr_min``).

    The values follow the schedulers' own recursive formulas (each epoch's rate from the
    previous one), not the closed forms, so that they are the same floats the schedulers give.

    >>> lr_schedule("step", 1.0, 5, step_size=2, gamma=0.5)
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    key = str(kind).lower()
    if key not in SCHEDULES:
        raise choice_error("lr schedule", kind, SCHEDULES)
    if key == "constant":  # (the loop below takes ~10 ms for 100,000 epochs: a live run's first step waits for it)
        return [float(lr)] * max(epochs, 1)
    rates = [float(lr)]
    T = epochs if length is None else length
    for k in range(1, epochs):  # k is the scheduler's last_epoch after its k-th step()
        prev = rates[-1]
        if key == "constant":
            rates.append(prev)
        elif key == "step":
            rates.append(prev * gamma if k % step_size == 0 else prev)
        elif (k - 1 - T) % (2 * T) == 0:
            rates.append(prev + (lr - lr_min) * (1 - math.cos(math.pi / T)) / 2)
        else:
            rates.append((1 + math.cos(math.pi * k / T)) / (1 + math.cos(math.pi * (k - 1) / T))
                         * (prev - lr_min) + lr_min)
    return rates
