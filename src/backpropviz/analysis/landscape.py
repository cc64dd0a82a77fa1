"""Loss landscapes: the loss over a plane (or a line) of parameter space, evaluated in batches.

A plane is ``origin + a * directions[0] + b * directions[1]``. Ways to choose it (see
``directions.py``): two named parameters (``param_plane``, the article's slice: every other
parameter fixed at the centre step's value), two filter-normalised random directions, the top
two principal directions of the recorded path, the top two eigenvectors of the Hessian at the
centre step, or two directions the user gives (all through ``plane``). ``interpolation`` gives the loss along the straight line between two parameter
vectors (two steps, or two runs).

The recorded path is projected onto the plane. A ``Landscape`` keeps, for every path row, the
loss of the projected point *on the plane* (``path_loss``), the whole training set's loss at the
row's own parameters (``set_loss``, what the plane's loss is compared with), the loss training saw
(``train_loss``: with mini-batches, each step's batch loss, which is noisy and not comparable
with a whole-set surface) and the distance of the row from the plane (``path_residual``), so that
a figure can show when the picture misleads.

Evaluation is batched (``evaluator.LossEvaluator``, re-exported here with ``evaluate`` and
``evaluate_plane``): any ``nn.Module`` and any (X, y) or DataLoader.

>>> from backpropviz.config import RunConfig                     # doctest: +SKIP
>>> from backpropviz.train import train                          # doctest: +SKIP
>>> land = plane(train(RunConfig()), "pca", resolution=51)       # doctest: +SKIP
>>> land.explained_variance, land.relative_residual, land.loss_gap  # doctest: +SKIP

Any model and data: ``evaluate_plane(model, F.cross_entropy, X, y, origin, directions, alpha,
beta)`` or ``LossEvaluator(model, loss_fn, loader).grid(...)`` with a DataLoader.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..errors import BackpropvizError
from ..history import History, atomic_write, read_npz
from ..losses import get_loss
from . import directions as dirs
from .evaluator import (DEFAULT_MEMORY_BUDGET, GRID_BYTES_PER_POINT, ChunkPlan, LossEvaluator,  # noqa: F401
                        _Progress, batched_loss, evaluate, evaluate_plane, parse_memory, plan_chunks)

METHODS = ("params", "random", "pca", "hessian", "custom")
# Above these the picture misleads however few rows are off: a loss gap of a quarter of the
# training loss's range, or a path that lies half its own extent away from the plane.
LARGE_GAP = 0.25
LARGE_DISTANCE = 0.5


@dataclass
class Landscape:
    """The landscape file of DESIGN.md: ``loss[j, i]`` is the loss at ``(alpha[i], beta[j])``.

    Path arrays have one row per recorded parameter row (T + 1): ``path`` the coordinates of
    the projection onto the plane, ``path_loss`` the loss there, ``set_loss`` the whole training
    set's loss at the row itself (the same objective as the surface: this is what the verdict
    compares ``path_loss`` with), ``train_loss`` the loss training saw at that row (a mini-batch
    run's batch loss; the last row, which no step saw, holds the whole-set loss) and
    ``path_residual`` the distance of the row from the plane.
    """

    alpha: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    origin: np.ndarray
    directions: np.ndarray
    path: np.ndarray
    method: str
    config: dict = field(default_factory=dict)
    axis_names: tuple[str, str] = ("alpha", "beta")
    path_loss: np.ndarray | None = None  # loss of each projected path point on this plane
    train_loss: np.ndarray | None = None  # loss training saw at each path row (batch loss with mini-batches)
    set_loss: np.ndarray | None = None  # whole training set's loss at each path row
    path_residual: np.ndarray | None = None  # distance of each path row from the plane
    explained_variance: np.ndarray | None = None  # PCA: fraction of path variance per axis

    @property
    def fixed(self) -> dict[str, float]:
        """Parameters held fixed on this plane (name -> value), as recorded in ``config``."""
        return dict(self.config.get("fixed", {}))

    @property
    def relative_residual(self) -> float:
        """Largest distance of the path from the plane, relative to the path's largest distance
        from the centre (0: the path lies in the plane; near 1: the plane shows little of it)."""
        if self.path_residual is None:
            return float("nan")
        extent = float(self.config.get("path_extent", 0.0))
        big = float(np.max(self.path_residual)) if len(self.path_residual) else 0.0
        return big / extent if extent > 0 else 0.0

    @property
    def status(self) -> str:
        """How the run drawn ended, as its history says (``completed``, ``diverged at step N: ...``);
        empty for a file written before it was recorded."""
        return str(self.config.get("status", ""))

    @property
    def minibatch(self) -> bool:
        """True when the run's steps saw batches smaller than the training set, so that the
        loss each step saw (``train_loss``) is not the loss of the surface (``set_loss``)."""
        return bool(self.config.get("minibatch", False))

    @property
    def reference_loss(self) -> np.ndarray | None:
        """The loss the plane's loss under the path is compared with: the whole training set's
        at each row (``set_loss``); files written before it was stored fall back to ``train_loss``."""
        return self.set_loss if self.set_loss is not None else self.train_loss

    @property
    def loss_gaps(self) -> np.ndarray:
        """Per path row, the difference between the loss on the plane under the path and the
        whole training set's loss at the row itself, relative to that loss's range along the
        path (0: the picture shows it)."""
        reference = self.reference_loss
        if self.path_loss is None or reference is None:
            return np.full(len(self.path), np.nan)
        ref = np.asarray(reference, dtype=float)
        gap = np.abs(np.asarray(self.path_loss, dtype=float) - ref)
        span = float(np.nanmax(ref) - np.nanmin(ref)) if ref.size else 0.0
        return gap / max(span, 1e-12)

    @property
    def loss_gap(self) -> float:
        """The largest of ``loss_gaps``."""
        gaps = self.loss_gaps
        return float(np.nanmax(gaps)) if np.isfinite(gaps).any() else float("nan")

    @property
    def by_construction(self) -> bool:
        """True for a path-following surface: the heights under the path are the training losses
        because each grid point borrows the other parameters from the path, not because the
        surface is one slice of the loss."""
        return bool(self.config.get("follow_path"))

    def fidelity(self, tolerance: float = 0.05) -> tuple[str, int]:
        """``(verdict, rows off)``: whether the picture shows the path as training saw it.

        Rows are "off" when the loss under the path differs from the whole training set's loss at
        the row (``reference_loss``) by more than ``tolerance`` of that loss's range. The verdict is

        * ``"construction"``: a path-following surface (the match holds by construction);
        * ``"faithful"``: no row off, and the path stays within ``LARGE_DISTANCE`` of its
          extent from the plane;
        * ``"mostly"``: a few rows off (at most a tenth, typically the first steps), each by at
          most ``LARGE_GAP`` of the range, and the path near the plane;
        * ``"misleading"``: otherwise: many rows off, or one off by a large amount, or the path
          far from the plane (its picture is then a shadow of where training went).
        """
        gaps = self.loss_gaps
        if self.by_construction:
            return "construction", 0
        if not np.isfinite(gaps).any():
            return "misleading", len(gaps)
        off = int(np.sum(~(gaps <= tolerance)))
        rel = self.relative_residual
        far = math.isfinite(rel) and rel > LARGE_DISTANCE
        if far or not (self.loss_gap <= LARGE_GAP) or off > 0.1 * len(gaps):
            return "misleading", off
        return ("faithful" if off == 0 else "mostly"), off

    def __repr__(self) -> str:
        return (f"Landscape(method={self.method!r}, axes={tuple(self.axis_names)}, grid={self.loss.shape}, "
                f"loss=[{np.nanmin(self.loss):.4g}, {np.nanmax(self.loss):.4g}], "
                f"path_rows={len(self.path)}, relative_residual={self.relative_residual:.3g})")

    def save(self, path) -> Path:
        """Write the landscape ``.npz`` (atomic)."""
        arrays = dict(alpha=self.alpha, beta=self.beta, loss=self.loss, origin=self.origin,
                      directions=self.directions, path=self.path, method=np.array(self.method),
                      axis_names=np.array(self.axis_names),
                      config=np.array(json.dumps(self.config, sort_keys=True)))
        for name in ("path_loss", "train_loss", "set_loss", "path_residual", "explained_variance"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value
        path = Path(path)
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
        return path

    @classmethod
    def load(cls, path) -> "Landscape":
        """Read a landscape file written by ``save``."""
        a = read_npz(path, "landscape file", ("alpha", "beta", "loss", "origin", "directions", "path", "method"))
        return cls(alpha=a["alpha"], beta=a["beta"], loss=a["loss"], origin=a["origin"],
                   directions=a["directions"], path=a["path"], method=str(a["method"]),
                   config=json.loads(str(a.get("config", "{}"))),
                   axis_names=tuple(str(s) for s in a.get("axis_names", ("alpha", "beta"))),
                   path_loss=a.get("path_loss"), train_loss=a.get("train_loss"), set_loss=a.get("set_loss"),
                   path_residual=a.get("path_residual"), explained_variance=a.get("explained_variance"))


@dataclass
class LossLine:
    """The loss along ``theta(t) = (1 - t) * start + t * end``; ``t = 0`` and ``t = 1`` are the ends."""

    t: np.ndarray
    loss: np.ndarray
    start: np.ndarray
    end: np.ndarray
    labels: tuple[str, str] = ("start", "end")
    config: dict = field(default_factory=dict)

    @property
    def distance(self) -> float:
        """Euclidean distance between the two ends."""
        return float(np.linalg.norm(np.asarray(self.end, float) - np.asarray(self.start, float)))

    @property
    def end_losses(self) -> tuple[float, float]:
        """The loss at ``t = 0`` and at ``t = 1`` (the nearest points of ``t``)."""
        t = np.asarray(self.t, dtype=float)
        return tuple(float(self.loss[int(np.argmin(np.abs(t - v)))]) for v in (0.0, 1.0))

    @property
    def barrier(self) -> float:
        """The barrier height between the ends (as Frankle et al. 2020 define the error barrier of
        linear mode connectivity): the largest excess, over ``0 <= t <= 1``, of the loss over the
        straight line between the ends' losses, ``max_t L(t) - ((1 - t) L(0) + t L(1))``; 0 when the
        loss never rises above that line (the ends are linearly connected)."""
        t = np.asarray(self.t, dtype=float)
        inside = (t >= 0) & (t <= 1)
        if not inside.any():
            return float("nan")
        l0, l1 = self.end_losses
        excess = np.asarray(self.loss, dtype=float)[inside] - ((1 - t[inside]) * l0 + t[inside] * l1)
        return max(0.0, float(np.nanmax(excess))) if np.isfinite(excess).any() else float("nan")

    @property
    def barrier_t(self) -> float:
        """Where on the line (``t``) the barrier's excess is largest."""
        t = np.asarray(self.t, dtype=float)
        inside = np.flatnonzero((t >= 0) & (t <= 1))
        l0, l1 = self.end_losses
        excess = np.asarray(self.loss, dtype=float)[inside] - ((1 - t[inside]) * l0 + t[inside] * l1)
        return float(t[inside[int(np.nanargmax(excess))]]) if np.isfinite(excess).any() else float("nan")

    def __repr__(self) -> str:
        return (f"LossLine({self.labels[0]!r} -> {self.labels[1]!r}, points={len(self.t)}, "
                f"distance={self.distance:.4g}, max_loss={np.nanmax(self.loss):.4g}, barrier={self.barrier:.4g})")

    def save(self, path) -> Path:
        arrays = dict(t=self.t, loss=self.loss, start=self.start, end=self.end,
                      labels=np.array(self.labels), method=np.array("line"),
                      config=np.array(json.dumps(self.config, sort_keys=True)))
        path = Path(path)
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
        return path


# -- histories ---------------------------------------------------------------------------------
def model_and_loss(history: History):
    """A model skeleton of the history's kind and its loss function (for functional calls)."""
    from ..train import model_at

    config = RunConfig.from_dict(history.config)
    return model_at(history, -1), get_loss(config.loss)


def history_penalty(history: History, model: nn.Module):
    """``penalty(points (k, P)) -> (k,)``: the run's L1/L2 terms (on weight matrices, as training
    adds them to the loss), or None when the run has none."""
    l1, l2 = float(history.config.get("l1", 0) or 0), float(history.config.get("l2", 0) or 0)
    if not (l1 or l2):
        return None
    mask = []
    for name, p in model.named_parameters():
        mask += [name.endswith("weight")] * p.numel()
    weight = torch.tensor(mask)

    def penalty(points: torch.Tensor) -> torch.Tensor:
        w = points[:, weight]
        total = torch.zeros(points.shape[0], dtype=points.dtype)
        if l1:
            total = total + l1 * w.abs().sum(1)
        if l2:
            total = total + l2 * (w * w).sum(1)
        return total

    return penalty


def history_evaluator(history: History, *, dtype=torch.float32, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                      progress: bool | None = None) -> LossEvaluator:
    """An evaluator for the history's model, loss and training data: the objective training
    minimised (data loss plus the run's L1/L2 terms)."""
    model, loss_fn = model_and_loss(history)
    return LossEvaluator(model, loss_fn, history.X, history.y, dtype=dtype, memory_budget=memory_budget,
                         progress=progress, penalty=history_penalty(history, model))


def grid_axis(center: float, span: float, resolution: int) -> np.ndarray:
    return np.linspace(center - span, center + span, resolution)


def _step_index(history: History, step: int, option: str = "--center-step") -> int:
    """A parameter row (0..T; negative counts from the end, -1 is row T), or an error naming ``option``."""
    n_rows = history.params.shape[0]
    if not -n_rows <= step < n_rows:
        raise BackpropvizError(
            f"{option} takes parameter rows in [0, {n_rows - 1}] (row 0 is the start, row t the state after "
            f"step t; negative counts from the end, -1 is row {n_rows - 1}); got {step}")
    return step % n_rows


def _check_grid(resolution: int, span) -> None:
    if not (isinstance(resolution, (int, np.integer)) and resolution >= 2):
        raise BackpropvizError(f"surface resolution must be an integer >= 2; got {resolution}")
    if span is not None and not (math.isfinite(span) and span > 0):
        raise BackpropvizError(f"surface span must be > 0; got {span}")


def history_bytes(n_rows: int, n_params: int, x_nbytes: int) -> int:
    """Memory a landscape keeps for a history beside the grid: its parameter rows (float32)
    and their float64 copies, and the data with its working copies."""
    return int(n_rows) * int(n_params) * 4 * 3 + int(x_nbytes) * 4


def planned_history_bytes(config: RunConfig, dataset=None) -> int:
    """``history_bytes`` of the run ``config`` would record, known before training it."""
    from ..train import batch_layout, check_run_fits, prepare

    train_set, _, model = prepare(config, dataset)
    _, _, steps_per_epoch = batch_layout(config, len(train_set.y))
    n_params = sum(p.numel() for p in model.parameters())
    check_run_fits(config, len(train_set.y), n_params)  # a run too long to record is refused as such
    x_nbytes = np.asarray(train_set.X, dtype=np.float32).nbytes
    return history_bytes(config.epochs * steps_per_epoch + 1, n_params, x_nbytes)


def check_grid_memory(resolution: int, memory_budget: int, history: History | None = None, *,
                      fixed_bytes: int | None = None) -> None:
    """Refuse, before anything is allocated, a grid whose arrays (with the history's, when
    given as ``history`` or as ``fixed_bytes``) exceed the budget.

    The message names the largest resolution that fits with the same history, so that asking
    for it succeeds. (Working memory per chunk is sized to the budget later, so it never
    refuses a request on its own.)
    """
    if fixed_bytes is None:
        fixed_bytes = 0 if history is None else history_bytes(*history.params.shape, history.X.nbytes)
    if history is not None:
        # The evaluations need their own room beside the grid: the data and one point's working
        # set for the grid, and the path's T + 1 rows (independent of the resolution).
        ev = history_evaluator(history, memory_budget=memory_budget, progress=False)
        ev_fixed, per_point = ev.footprint()
        rows = history.params.shape[0]
        need = rows * GRID_BYTES_PER_POINT + ev_fixed + per_point
        if need > memory_budget:
            from .evaluator import format_bytes

            raise BackpropvizError(
                f"evaluating the loss along the path ({rows} parameter rows) needs about {format_bytes(need)} "
                f"but --memory-budget is {format_bytes(memory_budget)}; raise --memory-budget to at least "
                f"{format_bytes(need)}")
        fixed_bytes = max(int(fixed_bytes), ev_fixed + per_point)
    plan_chunks(int(resolution) ** 2, 0, int(fixed_bytes), memory_budget)


def _check_range(r, name: str):
    if r is None:
        return None
    lo, hi = float(r[0]), float(r[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise BackpropvizError(f"{name} must be two finite numbers LOW < HIGH; got {tuple(r)}")
    return lo, hi


def path_losses(history: History, evaluator: LossEvaluator) -> tuple[np.ndarray, np.ndarray]:
    """``(train_loss, set_loss)`` at each params row: the loss training saw (``history.loss``,
    a mini-batch run's batch losses, then the last row's whole-set loss) and the whole training
    set's loss at every row (the objective the surface shows, penalty included)."""
    set_loss = evaluator.points(history.params.astype(np.float64)).astype(np.float64)
    train_loss = np.concatenate([np.asarray(history.loss, dtype=np.float64), set_loss[-1:]])
    return train_loss, set_loss


def param_plane(history: History, x_name: str = "w1", y_name: str = "w2", *, center_step: int = -1,
                span: float = 8.0, resolution: int = 50,
                x_range: tuple[float, float] | None = None,
                y_range: tuple[float, float] | None = None, follow_path: bool = False,
                dtype=torch.float32, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                progress: bool | None = None) -> Landscape:
    """The loss over two named parameters, the others fixed at ``params[center_step]``.

    The default is the article's slice: (w1, w2) over final value +-8 at 50 x 50 points, b fixed
    at its final value. ``path`` is the recorded trajectory in (x, y); ``path_loss`` is the loss
    of each path point *on this slice* (what the article draws), which differs from the loss
    training saw (``train_loss``) whenever a fixed parameter moved during training; the
    distance it moved is ``path_residual``.

    With ``follow_path=True`` the other parameters are not fixed: at each grid point they take
    the values of the nearest point of the recorded path (in the (x, y) plane, interpolated
    between steps), so the path lies on the surface and its heights are the training losses.
    """
    _check_grid(resolution, span)
    check_grid_memory(resolution, memory_budget, history)
    ix, iy = history.index(x_name), history.index(y_name)
    if ix == iy:
        raise BackpropvizError(f"the two surface axes must differ; got {x_name!r} twice")
    step = _step_index(history, center_step)
    x_range, y_range = _check_range(x_range, "--x-range"), _check_range(y_range, "--y-range")
    center = history.params[step].astype(np.float64)
    xs = np.linspace(*x_range, resolution) if x_range else grid_axis(center[ix], span, resolution)
    ys = np.linspace(*y_range, resolution) if y_range else grid_axis(center[iy], span, resolution)
    directions = dirs.param_directions(len(center), ix, iy)
    origin = center.copy()
    origin[[ix, iy]] = 0.0
    params = history.params.astype(np.float64)
    ev = history_evaluator(history, dtype=dtype, memory_budget=memory_budget, progress=progress)
    train_loss, set_loss = path_losses(history, ev)
    if follow_path:
        grid = np.stack([np.tile(xs, len(ys)), np.repeat(ys, len(xs))], axis=1)
        make = _path_following_points(params, ix, iy, grid)
        surface = ev.points_from(make, len(grid), grid_side=True).reshape(len(ys), len(xs))
        path_loss = set_loss.copy()
        residual = np.zeros(len(params))
        fixed = {}
    else:
        surface = ev.grid(origin, directions, xs, ys)
        _, residual = dirs.project(params, origin, directions)
        path_loss = ev.plane(origin, directions, params[:, [ix, iy]], grid_side=False)
        fixed = {n: float(center[k]) for k, n in enumerate(history.param_names) if k not in (ix, iy)}
    extent = float(np.max(np.linalg.norm(params - center, axis=1)))
    return Landscape(
        alpha=xs, beta=ys, loss=surface, origin=origin, directions=directions,
        path=params[:, [ix, iy]], method="params", axis_names=(x_name, y_name), path_loss=path_loss,
        train_loss=train_loss, set_loss=set_loss, path_residual=residual,
        config={"fixed": fixed, "center_step": int(step), "span": span, "resolution": int(resolution),
                "follow_path": bool(follow_path), "path_extent": extent,
                "minibatch": history.batches is not None,
                "x_range": list(xs[[0, -1]]), "y_range": list(ys[[0, -1]]),
                "dtype": str(dtype).replace("torch.", ""), "run": history.config, "status": str(history.status)})


def _path_following_points(params: np.ndarray, ix: int, iy: int, grid: np.ndarray, block: int = 1024):
    """``make(start, stop)`` giving, for grid points, the path's parameters at the nearest point of
    the path's (x, y) polyline, with (x, y) replaced by the grid point's own."""
    a, b = params[:-1][:, [ix, iy]], params[1:][:, [ix, iy]]
    seg = b - a
    seg_len2 = np.einsum("ij,ij->i", seg, seg)
    safe = np.where(seg_len2 > 0, seg_len2, 1.0)
    single = len(params) == 1

    def make(start, stop):
        g = grid[start:stop]
        out = np.empty((len(g), params.shape[1]))
        for s in range(0, len(g), block):
            q = g[s: s + block]
            if single:
                out[s: s + len(q)] = params[0]
            else:
                rel = q[:, None, :] - a[None, :, :]  # (k, T, 2)
                u = np.clip(np.einsum("kti,ti->kt", rel, seg) / safe, 0.0, 1.0)
                u = np.where(seg_len2 > 0, u, 0.0)
                d2 = np.sum((rel - u[..., None] * seg[None]) ** 2, axis=2)
                k = np.argmin(d2, axis=1)
                uk = u[np.arange(len(q)), k][:, None]
                out[s: s + len(q)] = params[k] + uk * (params[k + 1] - params[k])
            out[s: s + len(q), ix] = q[:, 0]
            out[s: s + len(q), iy] = q[:, 1]
        return torch.from_numpy(out)

    return make


def plane(history: History, method: str = "params", *, x_name: str | None = None, y_name: str | None = None,
          center_step: int = -1, span: float | None = None, resolution: int = 51,
          x_range=None, y_range=None, seed: int = 0, normalization: str = "filter", bias: str = "zero",
          directions=None, follow_path: bool = False, dtype=torch.float32,
          memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: bool | None = None) -> Landscape:
    """A landscape of ``history`` by ``method`` (params, random, pca, hessian or custom).

    Coordinates: for ``params`` the parameters' own values (default: centre +-8); otherwise
    multiples of the directions from the centre step's parameters (default range: +-1 for
    ``random``, the projected path plus a margin for ``pca``, ``hessian`` and ``custom``; for
    ``hessian`` at least a tenth of the path's extent either way, so that a path that barely
    moves along the sharpest directions still gets a window that shows their curvature).
    """
    key = str(method).lower()
    if key not in METHODS:
        raise BackpropvizError(f"unknown landscape method {method!r}; choose one of: {', '.join(METHODS)}")
    if follow_path and key != "params":
        raise BackpropvizError(f"--follow-path needs --method params; got --method {key}")
    if key == "params":
        names = history.param_names
        x_name = x_name or names[0]
        y_name = y_name or (names[1] if len(names) > 1 else names[0])
        return param_plane(history, x_name, y_name, center_step=center_step,
                           span=8.0 if span is None else span, resolution=resolution,
                           x_range=x_range, y_range=y_range, follow_path=follow_path, dtype=dtype,
                           memory_budget=memory_budget, progress=progress)
    _check_grid(resolution, span)
    check_grid_memory(resolution, memory_budget, history)
    step = _step_index(history, center_step)
    x_range, y_range = _check_range(x_range, "--x-range"), _check_range(y_range, "--y-range")
    params = history.params.astype(np.float64)
    center = params[step]

    def hessian_pairs():
        from .curvature import top_eigenvectors

        return top_eigenvectors(history, step, k=2)

    rows = PathRows(params)
    d, axis_names, explained, extra = plane_directions(
        key, center, rows, lambda: dirs.parameter_shapes(model_and_loss(history)[0]), seed=seed,
        normalization=normalization, bias=bias, directions=directions, hessian=hessian_pairs)
    coords, residual = rows.project(center, d)
    extent = rows.extent(center)
    x_range, y_range = plane_window(key, coords, extent, span, x_range, y_range)
    xs, ys = np.linspace(*x_range, resolution), np.linspace(*y_range, resolution)
    ev = history_evaluator(history, dtype=dtype, memory_budget=memory_budget, progress=progress)
    surface = ev.grid(center, d, xs, ys)
    path_loss = ev.plane(center, d, coords, grid_side=False)
    train_loss, set_loss = path_losses(history, ev)
    return Landscape(
        alpha=xs, beta=ys, loss=surface, origin=center, directions=d, path=coords, method=key,
        axis_names=axis_names, path_loss=path_loss, train_loss=train_loss, set_loss=set_loss,
        path_residual=residual, explained_variance=explained,
        config={"fixed": held_fixed(d, center, history.param_names), "center_step": int(step), "span": span,
                "resolution": int(resolution), "minibatch": history.batches is not None,
                "path_extent": extent, "x_range": list(x_range), "y_range": list(y_range),
                "dtype": str(dtype).replace("torch.", ""), "run": history.config, "status": str(history.status),
                **extra})


class PathRows:
    """The rows (K, P) of a path drawn on a plane, held in memory: what the planes read of them.
    ``recording_views.SnapshotRows`` has the same methods and reads the rows from a recording's
    snapshot files instead, one at a time (``model_plane(path=...)`` takes either)."""

    def __init__(self, params):
        self.params = np.atleast_2d(np.asarray(params, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"PathRows({self.params.shape[0]} rows, n_params={self.n_params})"

    @property
    def n_params(self) -> int:
        return self.params.shape[1]

    @property
    def held_bytes(self) -> int:
        """What the rows cost in memory while a plane is made of them."""
        return history_bytes(len(self), self.n_params, 0)

    def row(self, i: int) -> np.ndarray:
        return self.params[i]

    def pca(self, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dirs.pca_directions(self.params, center)

    def project(self, center: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dirs.project(self.params, center, d)

    def extent(self, center: np.ndarray) -> float:
        """The largest distance of a row from ``center``."""
        return float(np.max(np.linalg.norm(self.params - center, axis=1)))

    def losses(self, evaluator: LossEvaluator) -> np.ndarray:
        return evaluator.points(self.params).astype(np.float64)


def plane_directions(key: str, center: np.ndarray, rows, shapes, *, seed: int = 0,
                     normalization: str = "filter", bias: str = "zero", directions=None, hessian=None):
    """``(directions (2, P), axis names, explained variance or None, config extras)`` of a plane
    by method ``key`` (random, pca, hessian or custom) through ``center``. ``rows`` are the path's
    rows (a ``PathRows`` or a ``recording_views.SnapshotRows``: PCA takes them, the Hessian's
    eigenvectors are signed by the first), ``shapes()`` the parameter shapes (filter
    normalisation), ``hessian()`` the top two ``(eigenvalues, eigenvectors)`` at the centre."""
    explained, extra = None, {}
    if key == "random":
        d = dirs.random_directions(center, shapes(), seed=seed, normalization=normalization, bias=bias)
        extra = {"seed": int(seed), "normalization": normalization, "bias": bias}
        axis_names = ("random direction 1", "random direction 2")
    elif key == "pca":
        d, explained = rows.pca(center)
        axis_names = ("PC1", "PC2")
        extra = {"explained_variance": [float(v) for v in explained]}
    elif key == "hessian":
        values, d = hessian()
        d = dirs.oriented(d, rows.row(0) - center)
        axis_names = ("Hessian eigenvector 1", "Hessian eigenvector 2")
        extra = {"hessian_eigenvalues": [float(v) for v in values]}
    elif key == "custom":
        if directions is None:
            raise BackpropvizError("--method custom needs two directions (--directions FILE.npy with shape (2, P))")
        d = dirs.custom_directions(directions, rows.n_params)
        axis_names = ("direction 1", "direction 2")
    else:
        raise BackpropvizError(f"unknown plane method {key!r}; choose one of: {', '.join(METHODS[1:])}")
    return d, axis_names, explained, extra


def plane_window(key: str, coords: np.ndarray, extent: float, span, x_range, y_range):
    """The plotted window ``(x_range, y_range)``: the ranges given, else +-``span``, else by method:
    +-1 (Li et al.'s window) for ``random``, widened when the path's projection reaches further,
    so that the start and the whole path are on the picture; the path plus a margin otherwise
    (for ``hessian`` at least a tenth of the path's extent, its rows' largest distance from the
    centre, either way)."""
    if x_range is not None and y_range is not None:
        return x_range, y_range
    if span is not None:
        auto = [(-span, span), (-span, span)]
    elif key == "random":
        reach = float(np.max(np.abs(coords))) if coords.size else 0.0
        half = max(1.0, 1.05 * reach)
        auto = [(-half, half), (-half, half)]
    else:
        lo, hi = coords.min(axis=0), coords.max(axis=0)
        if key == "hessian":
            floor = 0.1 * extent
            lo, hi = np.minimum(lo, -floor), np.maximum(hi, floor)
        # A margin around the path; the narrower axis spans at least half the wider one:
        # drawn to equal scale (the default), the window then fills a panel that is at most
        # twice as wide as tall, and shows the loss on both sides of a thin path.
        width = max(float(np.max(hi - lo)), 1e-3)
        pad = np.maximum(0.25 * (hi - lo), 0.5 * (0.5 * width - (hi - lo)))
        pad = np.maximum(pad, 1e-3 * width)
        auto = [(float(lo[k] - pad[k]), float(hi[k] + pad[k])) for k in range(2)]
    return x_range or auto[0], y_range or auto[1]


def model_plane(model: nn.Module, loss_fn, data, y=None, *, method: str = "random", path=None,
                center_row: int = -1, span: float | None = None, resolution: int = 51, x_range=None, y_range=None,
                seed: int = 0, normalization: str = "filter", bias: str = "zero", directions=None,
                row_losses=None, labels=None, dtype=torch.float32, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                progress: bool | None = None) -> Landscape:
    """A landscape of any ``nn.Module``: the loss ``loss_fn(model(X), y)`` over a plane (``random``,
    ``pca``, ``hessian`` or ``custom``) through one of ``path``'s rows, on ``data`` (``X`` with ``y``,
    or a DataLoader of ``(X, y)`` batches, evaluated batch by batch within ``memory_budget``).

    ``path`` (K, P) holds parameter vectors drawn on the plane (snapshots, checkpoints), in the
    flat order of ``models.get_flat``; default the model's own parameters (one row). The centre
    is ``path[center_row]``. ``path`` may also be a ``recording_views.SnapshotRows`` (a
    recording's snapshots, read one at a time and never all held: the PCA directions come from
    their Gram matrix) or a ``PathRows``. The model is evaluated as it is in eval mode: BatchNorm on its
    buffers (running statistics, the same at every point of the plane) and Dropout off.
    ``row_losses`` (K,) are the losses at the rows when they are known otherwise (each checkpoint
    with its own buffers): the faithfulness check compares the plane's loss under the path with
    them; default, the loss at each row with the model's buffers. ``labels`` name the rows.
    A model on a GPU is evaluated on a copy of it on the CPU, its data brought there too.

    With a one-row path the default window is +-1 for ``random`` (Li et al.'s) and ``custom``, and
    for ``hessian`` +-sqrt(2 L / lambda_1): along the sharpest direction a quadratic loss doubles
    (rises by the centre's loss L) at the window's edge.

    >>> land = model_plane(net, F.cross_entropy, loader, method="random", resolution=31)  # doctest: +SKIP
    """
    from ..models import param_names
    from ..usermodel import cpu_model, data_on_cpu, flat_params, host_array, on_cpu

    key = str(method).lower()
    if key not in METHODS[1:]:
        raise BackpropvizError(f"unknown landscape method {method!r} for a model of your own; choose one of: "
                               f"{', '.join(METHODS[1:])}")
    _check_grid(resolution, span)
    if not on_cpu(model):  # the evaluator runs on the CPU
        model, (data, y) = cpu_model(model), data_on_cpu(data, y)
    directions = host_array(directions)
    from .recording_views import SnapshotRows

    rows = (path if isinstance(path, (PathRows, SnapshotRows))
            else PathRows(flat_params(model)[None] if path is None else host_array(path)))
    n_params = sum(p.numel() for p in model.parameters())
    if rows.n_params != n_params:
        raise BackpropvizError(f"path rows must have the model's {n_params} parameters; got {rows.n_params}")
    if not -len(rows) <= center_row < len(rows):
        raise BackpropvizError(f"--center-step takes rows in [0, {len(rows) - 1}] of the {len(rows)} "
                               f"checkpoint(s) (negative counts from the end); got {center_row}")
    row = center_row % len(rows)
    center = rows.row(row)
    x_range, y_range = _check_range(x_range, "--x-range"), _check_range(y_range, "--y-range")
    check_grid_memory(resolution, memory_budget, fixed_bytes=rows.held_bytes)
    ev = LossEvaluator(model, loss_fn, data, y, dtype=dtype, memory_budget=memory_budget, progress=progress)
    if key == "pca" and len(rows) < 2:
        raise BackpropvizError("--method pca needs at least two parameter vectors (several --checkpoint files "
                               "or snapshots); got one")

    def hessian_pairs():
        from .curvature import eigenpairs

        return eigenpairs(ev.model, loss_fn, data, y, center, k=2, tol=1e-6)

    d, axis_names, explained, extra = plane_directions(
        key, center, rows, lambda: dirs.parameter_shapes(model), seed=seed, normalization=normalization,
        bias=bias, directions=directions, hessian=hessian_pairs)
    coords, residual = rows.project(center, d)
    extent = rows.extent(center)
    if span is None and len(rows) == 1 and key in ("hessian", "custom"):
        center_loss = float(ev.points(center[None])[0])
        lam = extra.get("hessian_eigenvalues", [0.0])[0]
        span = math.sqrt(2 * abs(center_loss) / lam) if key == "hessian" and lam > 0 and center_loss else 1.0
    x_range, y_range = plane_window(key, coords, extent, span, x_range, y_range)
    xs, ys = np.linspace(*x_range, resolution), np.linspace(*y_range, resolution)
    surface = ev.grid(center, d, xs, ys)
    path_loss = ev.plane(center, d, coords, grid_side=False)
    set_loss = (rows.losses(ev) if row_losses is None
                else np.asarray(row_losses, dtype=np.float64).reshape(-1))
    if set_loss.shape != (len(rows),):
        raise BackpropvizError(f"row_losses must have one loss per path row ({len(rows)}); got {set_loss.shape}")
    names = param_names(model)
    buffers = [n for n, _ in model.named_buffers() if not n.endswith("num_batches_tracked")]
    return Landscape(
        alpha=xs, beta=ys, loss=surface, origin=center, directions=d, path=coords, method=key,
        axis_names=axis_names, path_loss=path_loss, train_loss=None, set_loss=set_loss,
        path_residual=residual, explained_variance=explained,
        config={"fixed": held_fixed(d, center, names), "center_step": int(row), "span": span,
                "resolution": int(resolution), "minibatch": False, "path_kind": "checkpoints",
                "path_labels": [str(v) for v in labels] if labels is not None else [],
                "buffers": buffers, "own_buffers": row_losses is not None, "eval_mode": True, "path_extent": extent,
                "x_range": list(x_range), "y_range": list(y_range),
                "dtype": str(dtype).replace("torch.", ""), "run": {}, "status": "", **extra})


def held_fixed(directions: np.ndarray, center: np.ndarray, names) -> dict[str, float]:
    """The parameters a plane leaves at the centre's values: those whose component is zero in
    both directions (e.g. the biases of filter-normalised random directions), name -> value."""
    d = np.abs(np.asarray(directions, dtype=float))
    tiny = 1e-12 * max(float(d.max()) if d.size else 0.0, 1e-300)
    still = np.flatnonzero((d[0] <= tiny) & (d[1] <= tiny))
    return {str(names[k]): float(center[k]) for k in still}


def interpolation(model: nn.Module, loss_fn, X, y, start, end, *, t=None, labels=("start", "end"),
                  dtype=torch.float32, memory_budget: int = DEFAULT_MEMORY_BUDGET, buffers=None) -> LossLine:
    """Loss along ``(1 - t) * start + t * end`` (default ``t`` from -0.25 to 1.25, 61 points; the
    ends ``t = 0`` and ``t = 1`` are always among them). ``X`` may be a DataLoader (``y=None``).
    The model's buffers (BatchNorm statistics) are the same at every ``t``, unless ``buffers`` gives
    ``(start's, end's)`` (``{name: tensor}``): then the floating-point ones are interpolated with
    the parameters, ``(1 - s) * start + s * end`` with ``s = t`` clipped to [0, 1] (past an end,
    that end's: a variance extrapolated could turn negative), one point after another. A model on a
    GPU is evaluated on a copy of it on the CPU, its data brought there too."""
    from ..usermodel import cpu_model, data_on_cpu, host_array, on_cpu

    if not on_cpu(model):  # the evaluator runs on the CPU
        model, (X, y) = cpu_model(model), data_on_cpu(X, y)
    start = np.asarray(host_array(start), dtype=np.float64)
    end = np.asarray(host_array(end), dtype=np.float64)
    if start.shape != end.shape:
        raise BackpropvizError(f"the two ends must have the same number of parameters; got {start.size} and {end.size}")
    t = np.linspace(-0.25, 1.25, 61) if t is None else np.asarray(t, dtype=np.float64).reshape(-1)
    if not (t.size and np.all(np.isfinite(t))):
        raise BackpropvizError(f"the line's points t must be finite numbers; got {t.size} of them")
    t = np.union1d(t[(np.abs(t) > 1e-12) & (np.abs(t - 1) > 1e-12)], [0.0, 1.0])
    ev = LossEvaluator(model, loss_fn, X, y, dtype=dtype, memory_budget=memory_budget)
    if buffers is not None:
        return LossLine(t=t, loss=_losses_with_buffers(ev, start, end, t, *buffers), start=start, end=end,
                        labels=tuple(labels))
    loss = ev.plane(start, np.stack([end - start, np.zeros_like(start)]), np.stack([t, np.zeros_like(t)], 1),
                    grid_side=False)
    return LossLine(t=t, loss=loss, start=start, end=end, labels=tuple(labels))


@torch.no_grad()
def _losses_with_buffers(ev: LossEvaluator, start, end, t, start_buffers, end_buffers) -> np.ndarray:
    """Loss at each ``(1 - t) start + t end`` with the floating buffers interpolated alike (``t``
    clipped to [0, 1] for them), one point at a time over the evaluator's batches."""
    from torch.func import functional_call

    from ..models import unflatten

    model = ev.model
    device = next(model.parameters()).device  # the buffers given may be elsewhere (the user's GPU)
    names = [n for n, b in model.named_buffers() if b.is_floating_point() and n in start_buffers and n in end_buffers]
    a = torch.as_tensor(start).to(device, ev.dtype)
    b = torch.as_tensor(end).to(device, ev.dtype)
    totals, seen = np.zeros(len(t)), 0
    for X, yb in ev.batches():
        for k, tk in enumerate(t):
            s = float(min(max(tk, 0.0), 1.0))
            state = unflatten(model, (1 - tk) * a + tk * b)
            state.update({n: (1 - s) * start_buffers[n].to(device, ev.dtype) + s * end_buffers[n].to(device, ev.dtype)
                          for n in names})
            totals[k] += float(ev.loss_fn(functional_call(model, state, (X,)), yb)) * len(X)
        seen += len(X)
    if seen == 0:
        raise BackpropvizError("the data loader yielded no batches")
    return totals / seen


def line_between_steps(history: History, step_a: int = 0, step_b: int = -1, *, t=None,
                       dtype=torch.float32) -> LossLine:
    """Loss along the straight line from ``params[step_a]`` to ``params[step_b]`` of one run."""
    a, b = _step_index(history, step_a, "--line"), _step_index(history, step_b, "--line")
    model, loss_fn = model_and_loss(history)
    line = interpolation(model, loss_fn, history.X, history.y, history.params[a], history.params[b], t=t,
                         labels=(f"step {a}", f"step {b}"), dtype=dtype)
    line.config = {"kind": "steps", "steps": [a, b], "run": history.config}
    return line


def line_between_runs(history_a: History, history_b: History, *, step_a: int = -1, step_b: int = -1, t=None,
                      dtype=torch.float32) -> LossLine:
    """Loss along the line between two saved runs (same model), on the first run's data."""
    if list(history_a.param_names) != list(history_b.param_names):
        raise BackpropvizError(
            f"the two runs must have the same parameters; got {len(history_a.param_names)} "
            f"and {len(history_b.param_names)} ({history_a.param_names[:3]} vs {history_b.param_names[:3]})")
    a, b = _step_index(history_a, step_a), _step_index(history_b, step_b)
    model, loss_fn = model_and_loss(history_a)
    line = interpolation(model, loss_fn, history_a.X, history_a.y, history_a.params[a], history_b.params[b],
                         t=t, labels=(f"run A step {a}", f"run B step {b}"), dtype=dtype)
    line.config = {"kind": "runs", "steps": [a, b], "run": history_a.config, "run_b": history_b.config,
                   "data": "run A's"}
    return line


def losses_along_path(history: History) -> np.ndarray:
    """Loss on the whole training set at every recorded parameter row (T + 1 values)."""
    return history_evaluator(history).points(history.params)
