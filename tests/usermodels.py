"""Factories of models, data and losses "a user brings", for ``--model tests.usermodels:NAME``.

Importable as ``tests.usermodels`` from the project root (the CLI puts the current folder on the
path) and as ``usermodels`` from tests (conftest puts tests/ on the path). Each factory is called
with no arguments, as the CLI calls it; the broken ones fail in the ways the CLI must report.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N_DIGITS = 96  # images: enough for a loss that varies, few enough for fast tests


class SmallConv(nn.Module):
    """A conv net with BatchNorm for 1 x 8 x 8 images, 10 classes (about 1,000 parameters)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.bn(self.conv(x)))).flatten(1))


def conv_net() -> nn.Module:
    """SmallConv with seeded weights and BatchNorm statistics that are not the defaults."""
    torch.manual_seed(0)
    model = SmallConv()
    with torch.no_grad():  # running statistics as after some training: eval mode must use these
        model.bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
        model.bn.running_var.copy_(torch.tensor([0.5, 2.0, 1.5, 1.0]))
    return model


def mlp() -> nn.Module:
    """An MLP for 2-D points, 3 classes."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))


def tiny() -> nn.Module:
    """A model small enough for its exact Hessian: 2 -> 3 -> 3 classes (21 parameters)."""
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 3))


def digits_images():
    """(X (N, 1, 8, 8) float32 scaled to [0, 1], y (N,) class indices)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.tensor(bunch.images[:N_DIGITS] / 16.0, dtype=torch.float32).unsqueeze(1)
    return X, torch.tensor(bunch.target[:N_DIGITS], dtype=torch.long)


def digits_loader() -> DataLoader:
    """The same images as a DataLoader of uneven batches (40, 40, 16)."""
    return DataLoader(TensorDataset(*digits_images()), batch_size=40, shuffle=False)


def digits_dataset():
    """The same images as a Dataset."""
    return TensorDataset(*digits_images())


def blobs():
    """(X (60, 2), y (60,)): three Gaussian blobs."""
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    y = np.repeat(np.arange(3), 20)
    X = centres[y] + 0.8 * rng.standard_normal((60, 2))
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y)


def blobs_loader() -> DataLoader:
    return DataLoader(TensorDataset(*blobs()), batch_size=25, shuffle=False)


def train_briefly(model: nn.Module, X, y, steps: int, lr: float = 0.1) -> nn.Module:
    """A plain SGD loop (train mode: BatchNorm statistics move), for checkpoints at two points."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return model.eval()


def half_loss(output, target):
    """A loss of the user's own: half the cross-entropy."""
    return 0.5 * nn.functional.cross_entropy(output, target)


# -- broken factories ----------------------------------------------------------------------------
def raises():
    raise RuntimeError("the factory failed on purpose")


def not_a_module():
    return {"weights": torch.zeros(3)}


def wrong_shape_images():
    """Images of 1 x 6 x 6 for a model made for 8 x 8."""
    X, y = digits_images()
    return X[:, :, :6, :6], y


def mismatched_rows():
    X, y = blobs()
    return X, y[:10]


def wrong_batches() -> list:
    return [torch.zeros(4, 2)]


WRONG_TYPE = 42
