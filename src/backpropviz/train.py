"""The one training loop. A recorder fills a ``History`` at every optimisation step.

>>> from backpropviz.config import RunConfig
>>> h = train(RunConfig(epochs=3))
>>> h.params.shape, h.grads.shape, h.loss.shape
((4, 3), (3, 3), (3,))
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .config import RunConfig
from .data import Dataset, make_dataset
from .errors import BackpropvizError, TrainingDiverged
from .history import History
from .losses import get_loss
from .models import build_model, get_flat, param_names, set_flat
from .optim import make_optimizer


class Recorder:
    """Preallocated buffers for parameters, gradients and losses; one ``record`` per step."""

    def __init__(self, flat0: torch.Tensor, n_steps: int):
        P = flat0.numel()
        self.params = torch.empty(n_steps + 1, P, dtype=flat0.dtype)
        self.grads = torch.empty(n_steps, P, dtype=flat0.dtype)
        self.loss = torch.empty(n_steps, dtype=flat0.dtype)
        self.epoch = np.empty(n_steps, dtype=np.int64)
        self.params[0] = flat0
        self.t = 0

    def record(self, epoch: int, loss: torch.Tensor, grads, params) -> None:
        t = self.t
        self.loss[t] = loss.detach()
        torch.cat([g.reshape(-1) for g in grads], out=self.grads[t])
        self.epoch[t] = epoch
        self.t = t + 1

    def record_params(self, params) -> None:
        torch.cat([p.detach().reshape(-1) for p in params], out=self.params[self.t])

    def arrays(self):
        t = self.t
        return (self.params[: t + 1].numpy().copy(), self.grads[:t].numpy().copy(),
                self.loss[:t].numpy().copy(), self.epoch[:t].copy())


def build(config: RunConfig, dataset: Dataset | None = None):
    """The data set and the initialised model that ``config`` describes."""
    config.validate()
    dataset = dataset if dataset is not None else make_dataset(config.data, seed=config.seed)
    model = build_model(config.model, dataset.n_features, seed=config.seed)
    if config.init is not None:
        n = sum(p.numel() for p in model.parameters())
        if len(config.init) != n:
            raise BackpropvizError(
                f"--init needs {n} values ({', '.join(param_names(model))}); got {len(config.init)}")
        set_flat(model, torch.tensor(config.init, dtype=torch.float32))
    return dataset, model


def train(config: RunConfig, dataset: Dataset | None = None, *, on_step=None) -> History:
    """Train the model of ``config`` and return the full history.

    Full-batch gradient descent over ``config.epochs`` steps (the article's loop: forward,
    loss, backward, update). Raises ``TrainingDiverged`` (carrying the history so far) when the
    loss becomes NaN or infinite.
    """
    dataset, model = build(config, dataset)
    loss_fn = get_loss(config.loss)
    params = list(model.parameters())
    optimizer = make_optimizer(config.optimizer, params, lr=config.lr, momentum=config.momentum)
    X = torch.from_numpy(dataset.X)
    y = torch.from_numpy(dataset.y).reshape(-1, 1)

    rec = Recorder(get_flat(model), config.epochs)
    status = "completed"
    for epoch in range(config.epochs):
        loss = loss_fn(model(X), y)
        if not math.isfinite(loss.item()):
            status = f"diverged at step {rec.t}: loss is {loss.item()}"
            break
        grads = torch.autograd.grad(loss, params)
        rec.record(epoch, loss, grads, params)
        optimizer.step(grads)
        rec.record_params(params)
        if on_step is not None:
            on_step(rec.t)

    p, g, l, e = rec.arrays()
    history = History(params=p, grads=g, loss=l, epoch=e, param_names=param_names(model),
                      X=dataset.X, y=dataset.y, config=config.to_dict(), status=status)
    if status != "completed":
        raise TrainingDiverged(
            f"training stopped: the loss became non-finite at step {rec.t} "
            f"(lr={config.lr}, loss={config.loss}); try a smaller --lr", history)
    return history


def model_at(history: History, step: int = -1) -> torch.nn.Module:
    """A fresh model of the history's kind holding ``params[step]``."""
    config = RunConfig.from_dict(history.config)
    model = build_model(config.model, history.X.shape[1], seed=config.seed)
    set_flat(model, torch.from_numpy(np.ascontiguousarray(history.params[step])))
    return model


@torch.no_grad()
def predict(history: History, step: int = -1, X: np.ndarray | None = None) -> np.ndarray:
    """The model's output probabilities at ``params[step]`` on ``X`` (default: the training data)."""
    model = model_at(history, step)
    X = history.X if X is None else X
    return model(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy().reshape(-1)


def truth_table(history: History, step: int = -1) -> list[str]:
    """The article's printout: ``0 & 1 = 0 (0.04)`` per row, with the gate's operator."""
    op = {"and": "&", "or": "|", "nand": "NAND", "nor": "NOR", "xor": "^", "xnor": "XNOR"}.get(
        str(history.config.get("data", "")).lower(), "?")
    probs = predict(history, step)
    return [f"{x1:.0f} {op} {x2:.0f} = {round(float(p))} ({p:.2f})"
            for (x1, x2), p in zip(history.X, probs)]
