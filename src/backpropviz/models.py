"""Models and the flat parameter bridge between a model and the recorder / landscape code.

The article's perceptron is ``Linear(2, 1)`` followed by ``Sigmoid``; its flat parameters are
``[w1, w2, b]``.  Every other model names its parameters after ``named_parameters()``, one
entry per element, row-major: ``0.weight[1,0]``.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .errors import BackpropvizError, choice_error

MODELS = ("perceptron",)


def perceptron(n_inputs: int = 2) -> nn.Sequential:
    """The article's model: one linear layer and a sigmoid, output a probability of class 1."""
    model = nn.Sequential(nn.Linear(n_inputs, 1), nn.Sigmoid())
    model.is_perceptron = True
    return model


def build_model(spec: str, n_inputs: int, *, seed: int) -> nn.Module:
    """Build the model named by ``spec`` with a seeded initialisation (torch's default init)."""
    name = spec.split(":", 1)[0].lower()
    if name not in MODELS:
        raise choice_error("model", spec, MODELS)
    torch.manual_seed(seed)
    return perceptron(n_inputs)


def param_names(model: nn.Module) -> list[str]:
    """Names of the flat parameters, in ``named_parameters()`` order, row-major."""
    if getattr(model, "is_perceptron", False):
        n_in = model[0].in_features
        return [f"w{i + 1}" for i in range(n_in)] + ["b"]
    names = []
    for name, p in model.named_parameters():
        if p.ndim == 0:
            names.append(name)
            continue
        for idx in itertools.product(*(range(s) for s in p.shape)):
            names.append(f"{name}[{','.join(map(str, idx))}]")
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


def unflatten(model: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """A flat vector as a ``{name: tensor}`` dict for ``torch.func.functional_call``."""
    out, offset = {}, 0
    for name, p in model.named_parameters():
        n = p.numel()
        out[name] = flat[offset : offset + n].view(p.shape)
        offset += n
    return out
