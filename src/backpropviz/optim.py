"""Optimisers: torch.optim's own update rules, called through its functional API.

``torch.optim.SGD(...)`` and its ``step()`` import ``torch._dynamo`` on first use, which costs
close to a second of start-up for a run that itself takes a tenth of that. torch.optim also
exports each algorithm as a function (``torch.optim.sgd.sgd``); the classes call exactly these
functions (single-tensor path on the CPU), so the updates are the same bits. Tests check every
optimiser here against the torch.optim class.
"""

from __future__ import annotations

import torch
from torch.optim.sgd import sgd as _sgd

from .errors import BackpropvizError, choice_error


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


OPTIMIZERS = {"sgd": SGD}


def make_optimizer(name: str, params, *, lr: float, momentum: float = 0.0, **extra):
    """Build the optimiser called ``name`` over ``params``."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise choice_error("optimizer", name, OPTIMIZERS)
    if not lr > 0:
        raise BackpropvizError(f"learning rate must be > 0; got {lr}")
    return OPTIMIZERS[key](params, lr=lr, momentum=momentum, **extra)
