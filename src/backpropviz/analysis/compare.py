"""Several runs of one model from the same initial parameters, and one loss slice for all paths.

``variants`` turns ``--vary optimizer=sgd,adam`` (and friends) into configurations that differ
only in what is varied: the seed, hence the data and the initial parameters, stays the same.
``comparison_slice`` evaluates the first run's objective on one plane of parameter space and
projects every run's path onto it: the (w1, w2) plane for a perceptron (the other parameters at
the mean of the runs' final values) or the plane through the common start spanned by the top two
principal directions of all paths together.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from ..config import RunConfig
from ..errors import BackpropvizError, choice_error

# --vary KEY -> RunConfig field. The seed (data, initial parameters) and the model's shape are
# not among them: every run must start from the same point of the same parameter space.
VARY_FIELDS = {
    "optimizer": "optimizer", "lr": "lr", "batch-size": "batch_size", "loss": "loss",
    "momentum": "momentum", "activation": "activation", "schedule": "schedule",
    "weight-decay": "weight_decay", "l1": "l1", "l2": "l2", "epochs": "epochs",
}
NUMERIC = {"lr", "momentum", "weight_decay", "l1", "l2"}
INTEGER = {"epochs"}
MAX_RUNS = 12
PLANES = ("auto", "params", "pca")


def parse_vary(text: str) -> tuple[str, list]:
    """``"lr=0.1,0.5"`` -> ``("lr", [0.1, 0.5])``; ``batch-size`` takes ``full`` for the whole set."""
    key, sep, rest = str(text).partition("=")
    key = key.strip().lower().replace("_", "-")
    if not sep or not rest.strip():
        raise BackpropvizError(f"--vary takes KEY=V1,V2,... such as optimizer=sgd,adam or lr=0.1,0.5; got {text!r}")
    if key not in VARY_FIELDS:
        raise choice_error("--vary key", key, VARY_FIELDS)
    field = VARY_FIELDS[key]
    raw = [v.strip() for v in rest.split(",")]
    if not all(raw):
        raise BackpropvizError(f"--vary {key}: empty value in {text!r}")
    values = []
    for v in raw:
        if field == "batch_size":
            if v.lower() in ("full", "none"):
                values.append(None)
                continue
            try:
                values.append(int(v))
            except ValueError:
                raise BackpropvizError(f"--vary batch-size takes whole numbers or 'full'; got {v!r}") from None
        elif field in NUMERIC or field in INTEGER:
            try:
                number = int(v) if field in INTEGER else float(v)
            except ValueError:
                kind = "whole numbers" if field in INTEGER else "numbers"
                raise BackpropvizError(f"--vary {key} takes {kind}; got {v!r}") from None
            if not math.isfinite(number):
                raise BackpropvizError(f"--vary {key} takes finite numbers; got {v!r}")
            values.append(number)
        else:
            values.append(v.lower())
    if len(set(map(str, values))) != len(values):
        raise BackpropvizError(f"--vary {key} names a value twice; got {text!r}")
    return field, values


def _show(field: str, value) -> str:
    key = next(k for k, f in VARY_FIELDS.items() if f == field)
    if field == "batch_size" and value is None:
        return f"{key}=full"
    return f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"


def variants(base: RunConfig, varies: list[tuple[str, list]]) -> list[tuple[str, RunConfig]]:
    """Every combination of the varied values on top of ``base``, each validated, with a label."""
    if not varies:
        raise BackpropvizError("compare needs at least one --vary KEY=V1,V2 (e.g. --vary optimizer=sgd,adam)")
    fields = [f for f, _ in varies]
    if len(set(fields)) != len(fields):
        raise BackpropvizError(f"--vary names the same setting twice; got {', '.join(fields)}")
    combos = list(itertools.product(*(values for _, values in varies)))
    if len(combos) > MAX_RUNS:
        raise BackpropvizError(f"compare draws at most {MAX_RUNS} runs on one figure; the --vary options "
                               f"give {len(combos)}")
    if len(combos) < 2:
        raise BackpropvizError("compare needs at least two runs; give --vary two or more values")
    out = []
    for combo in combos:
        changes = dict(zip(fields, combo))
        config = replace(base, **changes)
        label = ", ".join(_show(f, v) for f, v in changes.items())
        try:
            config.validate()
        except BackpropvizError as exc:
            raise BackpropvizError(f"run {label}: {exc}") from None
        out.append((label, config))
    return out


def check_same_start(histories) -> None:
    """All runs must start from the same parameters (the point of comparing them)."""
    first = histories[0]
    for h in histories[1:]:
        if list(h.param_names) != list(first.param_names) or not np.array_equal(h.params[0], first.params[0]):
            raise BackpropvizError("the runs do not start from the same parameters; compare varies only "
                                   "settings that keep the model and the seed")


@dataclass
class ComparisonSlice:
    """One plane of parameter space: the first run's objective on a grid, and every path on it."""

    alpha: np.ndarray  # (n,)
    beta: np.ndarray  # (m,)
    loss: np.ndarray  # (m, n)
    origin: np.ndarray  # (P,)
    directions: np.ndarray  # (2, P)
    paths: list  # per run, (T_k + 1, 2)
    residuals: list  # per run, (T_k + 1,): distance of each row from the plane
    axis_names: tuple[str, str]
    method: str  # "params" or "pca"
    fixed: dict  # params plane: name -> value held fixed
    explained: float | None = None  # pca: share of the paths' variance in the plane
    loss_name: str = "bce"

    @property
    def max_residual(self) -> float:
        return max((float(np.max(r)) for r in self.residuals if len(r)), default=0.0)

    def __repr__(self) -> str:
        return (f"ComparisonSlice(method={self.method!r}, axes={self.axis_names}, grid={self.loss.shape}, "
                f"runs={len(self.paths)})")


def _ranges(paths, keep, pad_fraction=0.15):
    """A window around the paths of the runs in ``keep`` (finite rows only)."""
    rows = [p[np.all(np.isfinite(p), axis=1)] for p, k in zip(paths, keep) if k]
    rows = [r for r in rows if len(r)] or [p[np.all(np.isfinite(p), axis=1)] for p in paths]
    pts = np.concatenate(rows)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    width = max(float(np.max(hi - lo)), 1e-3)
    pad = np.maximum(pad_fraction * (hi - lo), 0.5 * (0.25 * width - (hi - lo)))
    pad = np.maximum(pad, 0.02 * width)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def comparison_slice(histories, *, method: str = "auto", params: tuple[str, str] | None = None,
                     resolution: int = 61, finished=None) -> ComparisonSlice:
    """The plane, its loss grid and every path projected onto it.

    ``method``: ``params`` (two named parameters, default ``w1, w2``; the others fixed at the mean
    of the runs' final values), ``pca`` (through the common start along the top two principal
    directions of all paths), or ``auto`` (params for the perceptron, pca otherwise).
    ``finished``: which runs completed (diverged ones do not stretch the window).
    """
    from .directions import pca_directions, project
    from .landscape import history_evaluator

    key = str(method).lower()
    if key not in PLANES:
        raise choice_error("plane", method, PLANES)
    if not (isinstance(resolution, int) and 2 <= resolution <= 1000):
        raise BackpropvizError(f"--resolution must be an integer in [2, 1000]; got {resolution}")
    check_same_start(histories)
    first = histories[0]
    names = list(first.param_names)
    if key == "auto":
        key = "params" if (params is not None or names[:2] == ["w1", "w2"]) else "pca"
    finished = [True] * len(histories) if finished is None else list(finished)
    all_params = [np.asarray(h.params, dtype=np.float64) for h in histories]
    finals = np.stack([p[-1] for p, ok in zip(all_params, finished) if ok] or [p[-1] for p in all_params])
    fixed, explained = {}, None
    if key == "params":
        x_name, y_name = params if params is not None else (names[0], names[1] if len(names) > 1 else names[0])
        ix, iy = first.index(x_name), first.index(y_name)
        if ix == iy:
            raise BackpropvizError(f"--params needs two different parameters; got {x_name} twice")
        origin = finals.mean(axis=0)
        origin[[ix, iy]] = 0.0
        d = np.zeros((2, len(names)))
        d[0, ix] = d[1, iy] = 1.0
        fixed = {n: float(origin[i]) for i, n in enumerate(names) if i not in (ix, iy)}
        axis_names = (x_name, y_name)
    else:
        origin = all_params[0][0].copy()
        # Diverged runs would swamp the directions with their last huge steps.
        fit = [p for p, ok in zip(all_params, finished) if ok] or all_params
        stacked = np.concatenate([p[np.all(np.isfinite(p), axis=1)] for p in fit])
        d, share = pca_directions(stacked, origin)
        explained = float(np.sum(share))
        axis_names = ("PC1", "PC2")
    paths, residuals = [], []
    for p in all_params:
        coords, residual = project(np.where(np.isfinite(p), p, np.nan), origin, d)
        paths.append(coords)
        residuals.append(residual)
    (x0, x1), (y0, y1) = _ranges(paths, finished)
    alpha, beta = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    A, B = np.meshgrid(alpha, beta)
    ev = history_evaluator(first)
    surface = ev.plane(origin, d, np.stack([A.ravel(), B.ravel()], axis=1)).reshape(A.shape)
    return ComparisonSlice(alpha=alpha, beta=beta, loss=np.asarray(surface, dtype=np.float64), origin=origin,
                           directions=d, paths=paths, residuals=residuals, axis_names=axis_names, method=key,
                           fixed=fixed, explained=explained, loss_name=str(first.config.get("loss", "bce")))
