"""Datasets: every generator has one signature and sits in the ``DATASETS`` registry.

A generator is called as ``fn(n=..., noise=..., seed=..., **options)`` and returns a
``Dataset``; it uses what applies to it and ignores the rest (a gate has 4 rows whatever
``n`` says). ``noise=None`` means the generator's own default. Options: ``features`` (tables,
CSV: the sets in ``FEATURE_DATASETS``; refused for the others, which have two fixed inputs),
``path`` and ``target`` (CSV), ``max_rows`` (CSV), ``points`` (``points``: the drawn
``(x1, x2, class)`` triples).

Targets ``y`` are float32 class indices 0..K-1: 0/1 for binary tasks, as the article's BCE wants;
for a regression set (``task == "regression"``: ``reg-plane``, ``reg-gauss``, a CSV file with a
numeric target) they are the continuous values to predict, and there are no classes.

>>> from backpropviz.data import make_dataset
>>> make_dataset("and").y.tolist()
[0.0, 0.0, 0.0, 1.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..errors import BackpropvizError, choice_error

# More rows than this would make recording every step's batch heavy for no insight.
MAX_SAMPLES = 100_000


@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (N, D) float32 and targets ``y`` (N,) float32: class indices (0/1 for binary
    tasks), or the values to predict when ``task`` is ``"regression"`` (then ``class_names`` is empty)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...] = ("x1", "x2")
    class_names: tuple[str, ...] = ("0", "1")
    meta: dict = field(default_factory=dict)
    task: str = "classification"

    def __post_init__(self):
        if self.X.ndim != 2 or self.y.shape != (self.X.shape[0],):
            raise ValueError(f"X must be (N, D) and y (N,); got {self.X.shape} and {self.y.shape}")

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"

    @property
    def is_binary(self) -> bool:
        """Two classes: one sigmoid output and BCE, as in the article."""
        return self.n_classes <= 2

    def __repr__(self) -> str:
        names = list(self.feature_names[:6]) + (["..."] if self.n_features > 6 else [])
        return f"Dataset({self.name!r}, n={len(self.y)}, features={names} ({self.n_features}))"


# A generator takes the options that a data set may use and ignores the rest, so that the CLI,
# a config file and tests call every one of them the same way.
Generator = Callable[..., Dataset]
DATASETS: dict[str, Generator] = {}
# The data sets whose columns ``features`` chooses (tables and CSV); the gates and toy sets have
# exactly two inputs, x1 and x2.
FEATURE_DATASETS: list[str] = []
# The data sets whose targets are continuous values (regression); CSV files may be either.
REGRESSION_DATASETS: list[str] = []
TASKS = ("auto", "classification", "regression")
# The data sets that are drawn afresh (the toy sets): ``n`` and ``noise`` apply to them only;
# the gates, tables and CSV files have fixed rows.
GENERATED_DATASETS: list[str] = []


def register(name: str, *, takes_features: bool = False, generated: bool = False, regression: bool = False):
    def deco(fn: Generator) -> Generator:
        DATASETS[name] = fn
        if regression:
            REGRESSION_DATASETS.append(name)
        if takes_features:
            FEATURE_DATASETS.append(name)
        if generated:
            GENERATED_DATASETS.append(name)
        return fn

    return deco


def check_features_apply(name: str, features) -> None:
    """Refuse ``features`` for a data set that has no columns to choose (a gate, a toy set)."""
    if features is not None and str(name).lower() not in FEATURE_DATASETS:
        shown = ",".join(map(str, features)) if not isinstance(features, str) else features
        raise BackpropvizError(
            f"--features applies only to the tables and CSV ({', '.join(FEATURE_DATASETS)}); "
            f"data set {name!r} has two fixed inputs (x1, x2); got --features {shown}")


def make_dataset(name: str, *, n: int = 200, noise: float | None = None, seed: int = 0,
                 **options) -> Dataset:
    """Build the data set called ``name`` (see ``DATASETS``).

    >>> make_dataset("moons", n=100, noise=0.1, seed=1).X.shape
    (100, 2)
    """
    key = str(name).lower()
    if key not in DATASETS:
        raise choice_error("data set", name, DATASETS)
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_SAMPLES:
        raise BackpropvizError(f"--n-samples must be an integer in [2, {MAX_SAMPLES}]; got {n!r}")
    if noise is not None and not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise BackpropvizError(f"--noise must be a number >= 0; got {noise!r}")
    check_features_apply(key, options.get("features"))
    task = str(options.get("task") or "auto").lower()
    if task not in TASKS:
        raise choice_error("task", task, TASKS)
    dataset = DATASETS[key](n=n, noise=noise, seed=seed, **options)
    if task != "auto" and dataset.task != task:
        raise BackpropvizError(
            f"data set {name!r} is a {dataset.task} set; --task {task} applies to "
            + ("the regression sets (" + ", ".join(REGRESSION_DATASETS) + ") and CSV files with a numeric target"
               if task == "regression" else "the classification sets and CSV files"))
    return dataset


def train_test_split(dataset: Dataset, test_fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """Split ``dataset`` into (train, test), stratified by class, shuffled with ``seed``.

    Each class (for regression: the whole set) sends ``round(test_fraction * its size)`` rows to
    the test set; rows keep their
    original order inside each part. ``test_fraction=0`` returns ``(dataset, None)``.
    """
    if not 0 <= test_fraction < 1:
        raise BackpropvizError(f"--test-fraction must be in [0, 1); got {test_fraction}")
    if test_fraction == 0:
        return dataset, None
    rng = np.random.default_rng(seed)
    test_rows = []
    # A regression target has no classes to stratify by: the rows are drawn from all of them.
    groups = [np.zeros(len(dataset.y))] if dataset.is_regression else [dataset.y]
    for c in np.unique(groups[0]):
        rows = np.flatnonzero(groups[0] == c)
        k = int(round(test_fraction * len(rows)))
        test_rows.append(rng.permutation(rows)[:k])
    is_test = np.zeros(len(dataset.y), dtype=bool)
    is_test[np.concatenate(test_rows)] = True
    if is_test.all() or not is_test.any():
        raise BackpropvizError(
            f"--test-fraction {test_fraction} leaves {'no training' if is_test.all() else 'no test'} "
            f"rows out of {len(dataset.y)}; choose a fraction that puts rows on both sides")

    def part(mask, suffix):
        return replace(dataset, name=f"{dataset.name}{suffix}", X=dataset.X[mask], y=dataset.y[mask],
                       meta={**dataset.meta, "rows": np.flatnonzero(mask).tolist()})

    return part(~is_test, ""), part(is_test, " (test)")


def linearly_separable(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether one straight line (a hyperplane) puts every row of each class on its own side.

    For two classes: is there ``(w, b)`` with ``(2y - 1)(w.x + b) >= 1`` for every row (a linear
    program, solved by scipy's HiGHS)? For more classes: is there one linear score per class
    that ranks each row's own class first by a margin of 1 (what a softmax perceptron needs)?

    >>> from backpropviz.data import make_dataset
    >>> [linearly_separable(make_dataset(g).X, make_dataset(g).y) for g in ("and", "xor")]
    [True, False]
    """
    from scipy.optimize import linprog

    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y).astype(np.int64).reshape(-1)
    classes = np.unique(labels)
    if len(classes) < 2:
        return True
    Xb = np.hstack([X, np.ones((len(X), 1))])  # the bias as one more weight
    d = Xb.shape[1]
    if len(classes) == 2:
        sign = np.where(labels == classes[1], 1.0, -1.0)
        A = -sign[:, None] * Xb  # -(s * (w.x + b)) <= -1
    else:
        index = {c: k for k, c in enumerate(classes)}
        rows = []
        for x, c in zip(Xb, labels):
            own = index[c]
            for k in range(len(classes)):
                if k != own:
                    row = np.zeros(len(classes) * d)
                    row[own * d:(own + 1) * d] = -x  # -(score_own - score_k) <= -1
                    row[k * d:(k + 1) * d] = x
                    rows.append(row)
        A = np.array(rows)
    result = linprog(np.zeros(A.shape[1]), A_ub=A, b_ub=-np.ones(len(A)), bounds=(None, None),
                     method="highs")
    return bool(result.status == 0)


def standardize(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns scaled to mean 0 and standard deviation 1 (a constant column only centred)."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ((X - mean) / std).astype(np.float32), mean, std


from . import gates, toy, tables, csvdata, points  # noqa: E402,F401,I001  (fill the registry, in this order)
