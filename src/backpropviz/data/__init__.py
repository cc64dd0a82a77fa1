"""Datasets: every generator has one signature and sits in the ``DATASETS`` registry.

>>> from backpropviz.data import make_dataset
>>> make_dataset("and").y.tolist()
[0.0, 0.0, 0.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import choice_error


@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (N, D) float32 and targets ``y`` (N,): 0/1 floats for binary tasks."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...] = ("x1", "x2")
    class_names: tuple[str, ...] = ("0", "1")
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.X.ndim != 2 or self.y.shape != (self.X.shape[0],):
            raise ValueError(f"X must be (N, D) and y (N,); got {self.X.shape} and {self.y.shape}")

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, n={len(self.y)}, features={list(self.feature_names)})"


# A generator takes the options that a data set may use and ignores the rest, so that the CLI,
# a config file and tests call every one of them the same way.
Generator = Callable[..., Dataset]
DATASETS: dict[str, Generator] = {}


def register(name: str):
    def deco(fn: Generator) -> Generator:
        DATASETS[name] = fn
        return fn

    return deco


def make_dataset(name: str, *, n: int = 200, noise: float = 0.0, seed: int = 0) -> Dataset:
    """Build the data set called ``name`` (see ``DATASETS``)."""
    key = name.lower()
    if key not in DATASETS:
        raise choice_error("data set", name, DATASETS)
    return DATASETS[key](n=n, noise=noise, seed=seed)


from . import gates  # noqa: E402,F401  (fills the registry)
