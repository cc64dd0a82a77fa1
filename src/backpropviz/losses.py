"""Loss functions, on the model's output probabilities (the article applies BCELoss after Sigmoid)."""

from __future__ import annotations

import torch.nn.functional as F

from .errors import choice_error

LOSSES = {
    "bce": F.binary_cross_entropy,
    "mse": F.mse_loss,
}


def get_loss(name: str):
    """The loss function called ``name``: ``fn(probabilities, targets) -> mean loss``."""
    key = name.lower()
    if key not in LOSSES:
        raise choice_error("loss", name, LOSSES)
    return LOSSES[key]
