"""Models "a user brings" for explain and gradcheck: a CNN with BatchNorm and Dropout on 8x8 digits,
and a residual MLP. Factories for ``--model explainmodels:NAME`` (tests/ is on the path)."""

from __future__ import annotations

import torch
from torch import nn

N_IMAGES = 24  # enough for batch statistics and a loss that varies, few for a fast check


class DigitsCNN(nn.Module):
    """conv -> BatchNorm -> ReLU -> max pool -> Dropout -> flatten -> linear, for 1 x 8 x 8 images."""

    def __init__(self, channels: int = 4, p: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(p))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * 4 * 4, 10))

    def forward(self, x):
        return self.head(self.features(x))


class Block(nn.Module):
    """x + fc2(tanh(fc1(x))): the residual addition happens in this (non-leaf) module's forward."""

    def __init__(self, width: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class ResidualMLP(nn.Module):
    def __init__(self, n_in: int = 4, width: int = 6, n_out: int = 3):
        super().__init__()
        self.inp = nn.Linear(n_in, width)
        self.block1, self.block2 = Block(width), Block(width)
        self.out = nn.Linear(width, n_out)

    def forward(self, x):
        return self.out(self.block2(self.block1(self.inp(x))))


def digits_cnn() -> nn.Module:
    """DigitsCNN, seeded, in training mode (BatchNorm on batch statistics, Dropout drawing masks)."""
    torch.manual_seed(0)
    return DigitsCNN().train()


def residual_mlp() -> nn.Module:
    torch.manual_seed(1)
    return ResidualMLP()


def digits():
    """(X (N, 1, 8, 8) in [0, 1], y (N,) class indices): scikit-learn's digits."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.tensor(bunch.images[:N_IMAGES] / 16.0, dtype=torch.float32).unsqueeze(1)
    return X, torch.tensor(bunch.target[:N_IMAGES], dtype=torch.long)


def table():
    """(X (20, 4), y (20,) in 0..2) for the residual MLP."""
    g = torch.Generator().manual_seed(2)
    X = torch.randn(20, 4, generator=g)
    return X, (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
