"""Loss functions ``fn(output, targets) -> mean loss``, for binary and multi-class models alike.

A binary model outputs probabilities (N, 1) after its sigmoid, and the loss is taken on them,
as the article applies ``BCELoss`` after ``Sigmoid``. A multi-class model outputs logits (N, K):
cross-entropy then uses ``F.cross_entropy`` (log-softmax inside, numerically sound for any logit
size), and MSE compares the softmax probabilities with one-hot targets. Targets are class
indices, shaped (N,) or (N, 1); each function looks at the output's last dimension to know
which case it is in, so the same name works for training, landscapes and ``vmap``.

- ``bce``: binary cross-entropy (two classes only);
- ``ce``: cross-entropy: BCE for two classes, softmax cross-entropy for more;
- ``mse``: mean squared error between probabilities and targets (one-hot for K classes); for a
  regression model (one output, no sigmoid) between its values and the targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import BackpropvizError, choice_error


def bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on probabilities (the article's ``BCELoss``)."""
    if output.shape[-1] != 1:
        raise BackpropvizError("bce needs a binary task (one sigmoid output); use --loss ce for "
                               f"{output.shape[-1]} classes")
    return F.binary_cross_entropy(output, target)


def cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE for a sigmoid output; softmax cross-entropy on logits for K > 1 outputs."""
    if output.shape[-1] == 1:
        return F.binary_cross_entropy(output, target)
    return F.cross_entropy(output, target.reshape(-1).long())


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of the probabilities: against 0/1 (binary) or one-hot targets (multi-class)."""
    if output.shape[-1] == 1:
        return F.mse_loss(output, target)
    one_hot = F.one_hot(target.reshape(-1).long(), output.shape[-1]).to(output.dtype)
    return F.mse_loss(torch.softmax(output, dim=-1), one_hot)


LOSSES = {"bce": bce, "ce": cross_entropy, "mse": mse}


def get_loss(name: str):
    """The loss function called ``name``: ``fn(output, targets) -> mean loss``."""
    key = str(name).lower()
    if key not in LOSSES:
        raise choice_error("loss", name, LOSSES)
    return LOSSES[key]


def check_loss_for_task(name: str, n_classes: int, task: str = "classification") -> None:
    """Raise a clear error when a loss cannot serve the task (BCE with three classes, a
    cross-entropy for a regression target)."""
    get_loss(name)
    if task == "regression":
        if str(name).lower() != "mse":
            raise BackpropvizError(f"--loss {name} is for classes; a regression target (a number to predict) "
                                   "needs --loss mse")
        return
    if str(name).lower() == "bce" and n_classes > 2:
        raise BackpropvizError(f"--loss bce needs two classes; this data has {n_classes}: use --loss ce")
