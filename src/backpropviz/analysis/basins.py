"""Convergence maps: train a K x K grid of starting points at once and map where each one went.

``train_many`` is the single-run trainer (``train.train``) vectorised over starts: the same
data, loss (plus L1/L2 terms), batches (the same seeded order for every start), learning-rate
schedule and optimiser (torch.optim's functional update, applied to a (S, P) tensor: every
optimiser here updates element by element, so each row gets its own run's update). Gradients
come from one backward pass through the functional loss batched with ``torch.func.vmap``: each
start's loss depends only on its own row, so the gradient of their sum is every start's own
gradient (and plain autograd, unlike ``torch.func.grad``, does not import torch._dynamo: a
second saved at every start-up).

``basin_map`` lays the starts on a plane (by default two named parameters, the others at the
run's initial values), trains them, and maps the final loss, the steps taken to reach a loss
threshold, the final accuracy (solved or stuck) and, for models with several minima, which
cluster of final parameters each start reached.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, vmap

from ..config import RunConfig
from ..errors import BackpropvizError
from ..history import atomic_write, read_npz
from ..losses import get_loss
from ..models import get_flat, param_names, unflatten
from .evaluator import DEFAULT_MEMORY_BUDGET

MAX_STARTS = 1 << 20


@dataclass
class MultiRun:
    """Many runs of one configuration from different starts.

    ``loss[s, t]`` is the loss start s saw at step t (as ``History.loss``); ``params`` holds
    every row (S, T + 1, P) when recorded, else None; ``final`` the last parameters (S, P);
    ``accuracy`` the final accuracy on the training data; ``diverged_at`` the step at which a
    start's loss or parameters became non-finite (-1: never; the start is then frozen).
    """

    loss: np.ndarray
    final: np.ndarray
    accuracy: np.ndarray
    final_loss: np.ndarray
    diverged_at: np.ndarray
    params: np.ndarray | None = None
    param_names: list[str] = field(default_factory=list)

    @property
    def n_starts(self) -> int:
        return self.final.shape[0]

    def __repr__(self) -> str:
        return (f"MultiRun(starts={self.n_starts}, steps={self.loss.shape[1]}, "
                f"params_recorded={self.params is not None}, diverged={int((self.diverged_at >= 0).sum())})")


def _prepare(config: RunConfig, dataset):
    from ..train import prepare

    train_set, _, model = prepare(config, dataset)
    return train_set, model


def train_many(config: RunConfig, starts, dataset=None, *, record_params: bool = False,
               memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: bool | None = None) -> MultiRun:
    """Train ``config`` from every row of ``starts`` (S, P) at once; see the module docstring.

    ``config.init`` is ignored (each start is an init). Raises BackpropvizError when the
    recorded arrays would not fit in ``memory_budget``.
    """
    from ..optim import lr_schedule, make_optimizer
    from ..train import batch_layout

    config.validate()
    train_set, model = _prepare(RunConfig.from_dict({**config.to_dict(), "init": None}), dataset)
    starts = torch.as_tensor(np.asarray(starts, dtype=np.float32))
    P = sum(p.numel() for p in model.parameters())
    if starts.ndim != 2 or starts.shape[1] != P:
        raise BackpropvizError(f"starts must be (S, {P}) for this model; got {tuple(starts.shape)}")
    S = starts.shape[0]
    if not 1 <= S <= MAX_STARTS:
        raise BackpropvizError(f"the number of starts must be in [1, {MAX_STARTS}]; got {S}")

    loss_fn = get_loss(config.loss)
    X = torch.from_numpy(train_set.X)
    y = torch.from_numpy(train_set.y).reshape(-1, 1)
    N = len(y)
    full_batch, width, steps_per_epoch = batch_layout(config, N)
    T = config.epochs * steps_per_epoch
    need = 4 * S * (T + (T + 1) * P * record_params + 6 * P) + 4 * S * N * 8
    if need > memory_budget:
        from .evaluator import format_bytes

        per_start = need / S
        fit = int(memory_budget // per_start)
        side = math.isqrt(fit)
        grid = f" ({math.isqrt(S)} x {math.isqrt(S)} grid)" if math.isqrt(S) ** 2 == S else ""
        if side >= 2:
            advice = (f"at most {fit} starts fit (--resolution {side} or less), or raise --memory-budget "
                      f"(or train fewer steps)")
        else:
            advice = (f"not even a 2 x 2 grid fits: raise --memory-budget to at least "
                      f"{format_bytes(4 * per_start)} (or train fewer steps)")
        raise BackpropvizError(
            f"training {S} starts{grid} for {T} steps needs about {format_bytes(need)} but --memory-budget is "
            f"{format_bytes(memory_budget)}; {advice}")

    weight_mask = torch.tensor([n.endswith("weight") for n, p in model.named_parameters() for _ in range(p.numel())])
    l1, l2 = config.l1, config.l2

    def objective(flat, Xb, yb):
        output = functional_call(model, unflatten(model, flat), (Xb,))
        data_loss = loss_fn(output, yb)
        loss = data_loss
        if l1 or l2:
            w = flat[weight_mask]
            total = 0.0
            if l1:
                total = total + l1 * w.abs().sum()
            if l2:
                total = total + l2 * (w * w).sum()
            loss = data_loss + total
        return loss

    batched_objective = vmap(objective, in_dims=(0, None, None))

    def step_fn(flat, Xb, yb):
        with torch.enable_grad():
            at = flat.detach().requires_grad_(True)
            loss = batched_objective(at, Xb, yb)
            (grads,) = torch.autograd.grad(loss.sum(), at)
        return grads, loss.detach()

    params = starts.clone()
    optimizer = make_optimizer(config.optimizer, [params], lr=config.lr, **config.optimizer_options())
    rates = lr_schedule(config.schedule, config.lr, config.epochs, step_size=config.step_size,
                        gamma=config.gamma, lr_min=config.lr_min, length=config.schedule_length)
    losses = torch.full((S, T), float("nan"))
    record = torch.empty(S, T + 1, P) if record_params else None
    if record is not None:
        record[:, 0] = params
    diverged_at = torch.full((S,), -1, dtype=torch.long)
    alive = torch.ones(S, dtype=torch.bool)
    shuffler = np.random.default_rng(config.seed)
    from .evaluator import _Progress

    bar = _Progress(progress, T)
    t = 0
    try:
        for epoch in range(config.epochs):
            optimizer.lr = rates[epoch]
            if full_batch:
                batches = [None]
            else:
                order = shuffler.permutation(N) if config.shuffle else np.arange(N)
                batches = torch.from_numpy(order).split(width)
            for batch in batches:
                Xb, yb = (X, y) if batch is None else (X[batch], y[batch])
                grads, loss = step_fn(params, Xb, yb)
                previous = params.clone()
                optimizer.step([grads])
                bad = ~torch.isfinite(loss) | ~torch.isfinite(params).all(1)
                newly = bad & alive
                if bool(newly.any()):
                    diverged_at[newly] = t
                    alive &= ~newly
                if not bool(alive.all()):
                    # Frozen where diverged, so that one start cannot poison the batched loss.
                    params[~alive] = previous[~alive]
                losses[:, t] = torch.where(alive | newly, loss, torch.full_like(loss, float("nan")))
                t += 1
                if record is not None:
                    record[:, t] = params
                bar.advance(1)
    finally:
        bar.close()

    with torch.no_grad():
        out = vmap(lambda flat: functional_call(model, unflatten(model, flat), (X,)))(params)
        final_loss = vmap(lambda o: loss_fn(o, y))(out)
        # in float64: float32's 0.7 lies below 7/10, and a start with 7 of 10 right would miss
        # --solved-accuracy 0.7
        if out.shape[-1] == 1:
            acc = ((out >= 0.5).to(y.dtype) == y).double().mean((1, 2))
        else:
            acc = (out.argmax(-1) == y.reshape(1, -1).long()).double().mean(1)
    final_loss = torch.where(alive, final_loss, torch.full_like(final_loss, float("nan")))
    return MultiRun(loss=losses.numpy(), final=params.numpy().copy(), accuracy=acc.numpy(),
                    final_loss=final_loss.numpy(), diverged_at=diverged_at.numpy(),
                    params=None if record is None else record.numpy(), param_names=param_names(model))


@dataclass
class BasinMap:
    """Where each start of a K x K grid went. Maps are (K, K): ``[j, i]`` is the start at
    ``(alpha[i], beta[j])`` on the plane ``origin + alpha d[0] + beta d[1]``."""

    alpha: np.ndarray
    beta: np.ndarray
    origin: np.ndarray
    directions: np.ndarray
    axis_names: tuple[str, str]
    final_loss: np.ndarray
    steps_to_threshold: np.ndarray  # first step whose loss < threshold; -1: never
    final_accuracy: np.ndarray
    solved: np.ndarray  # final accuracy >= solved_accuracy
    cluster: np.ndarray  # index into cluster_centers; -1 where the start diverged
    cluster_centers: np.ndarray
    diverged: np.ndarray
    threshold: float
    config: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        K = self.final_loss.shape
        return (f"BasinMap(grid={K}, solved={int(self.solved.sum())}/{self.solved.size}, "
                f"clusters={len(self.cluster_centers)}, threshold={self.threshold}, "
                f"diverged={int(self.diverged.sum())})")

    def save(self, path) -> Path:
        arrays = {k: getattr(self, k) for k in ("alpha", "beta", "origin", "directions", "final_loss",
                                                "steps_to_threshold", "final_accuracy", "solved", "cluster",
                                                "cluster_centers", "diverged")}
        arrays.update(axis_names=np.array(self.axis_names), threshold=np.array(self.threshold),
                      method=np.array("basins"), config=np.array(json.dumps(self.config, sort_keys=True)))
        path = Path(path)
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
        return path

    @classmethod
    def load(cls, path) -> "BasinMap":
        a = read_npz(path, "basin map file", ("alpha", "beta", "origin", "directions", "axis_names",
                                               "final_loss", "steps_to_threshold", "final_accuracy", "solved",
                                               "cluster", "cluster_centers", "diverged", "threshold", "config"))
        return cls(alpha=a["alpha"], beta=a["beta"], origin=a["origin"], directions=a["directions"],
                   axis_names=tuple(str(s) for s in a["axis_names"]), final_loss=a["final_loss"],
                   steps_to_threshold=a["steps_to_threshold"], final_accuracy=a["final_accuracy"],
                   solved=a["solved"], cluster=a["cluster"], cluster_centers=a["cluster_centers"],
                   diverged=a["diverged"], threshold=float(a["threshold"]), config=json.loads(str(a["config"])))


def steps_to_threshold(loss: np.ndarray, threshold: float) -> np.ndarray:
    """First step index whose loss is below ``threshold`` for each row of ``loss`` (S, T); -1 if none."""
    below = np.asarray(loss) < threshold
    first = np.argmax(below, axis=1)
    return np.where(below.any(axis=1), first, -1)


# Two final parameter vectors belong to one minimum when they lie closer than this fraction of
# the parameters' size (the median norm of the finals): distinct minima of a network (hidden
# units swapped, signs flipped) lie about that size apart, while the rounding and the unfinished
# convergence of one minimum's starts leave them far closer. The spread of the finals cannot be
# the scale: on a convex problem every start ends at one point, and a fraction of that spread
# (1e-5 for the article's AND with L2) would split it into several "minima".
CLUSTER_RTOL = 0.1
# The size used is at least this, so that finals near the origin (a perceptron stuck on XOR
# ends with weights of ~1e-7) are not split by float32 noise.
CLUSTER_MIN_SIZE = 0.01


def cluster_radius(final: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The distance under which two finals count as one minimum: ``CLUSTER_RTOL`` times the
    median norm of the valid finals (at least ``CLUSTER_MIN_SIZE``).

    >>> cluster_radius(np.array([[3.0, 4.0], [3.0, 4.0], [0.0, 50.0]]))  # median norm 5
    0.5
    """
    final = np.asarray(final, dtype=np.float64)
    pts = final if valid is None else final[np.asarray(valid, dtype=bool)]
    size = float(np.median(np.linalg.norm(pts, axis=1))) if len(pts) else 0.0
    return CLUSTER_RTOL * max(size, CLUSTER_MIN_SIZE)


def cluster_finals(final: np.ndarray, valid: np.ndarray, *, radius: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Group final parameter vectors by leader clustering.

    Each start, in order of its distance to the median final, joins the nearest cluster whose
    first member lies within ``radius`` (default: :func:`cluster_radius`, a fraction of the
    parameters' size), else starts a new one. Returns ``(labels, centres)``; clusters are
    numbered by size, largest first; invalid (diverged) starts get -1.
    """
    final = np.asarray(final, dtype=np.float64)
    labels = np.full(len(final), -1)
    ok = np.flatnonzero(valid)
    if len(ok) == 0:
        return labels, np.zeros((0, final.shape[1]))
    pts = final[ok]
    z = pts - np.median(pts, axis=0)
    if radius is None:
        radius = cluster_radius(pts)
    centres: list[np.ndarray] = []
    members: list[list[int]] = []
    assign = np.empty(len(pts), dtype=int)
    for k in np.argsort(np.linalg.norm(z, axis=1), kind="stable"):
        if centres:
            dist = np.linalg.norm(np.asarray(centres) - z[k], axis=1)
            c = int(np.argmin(dist))
            if dist[c] <= radius:
                members[c].append(k)
                assign[k] = c
                continue
        centres.append(z[k].copy())
        members.append([k])
        assign[k] = len(centres) - 1
    order = np.argsort([-len(m) for m in members], kind="stable")
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order))
    labels[ok] = rank[assign]
    centres_out = np.stack([pts[members[c]].mean(axis=0) for c in order])
    return labels, centres_out


def start_centred_axis(start: float, half: float, resolution: int) -> np.ndarray:
    """``resolution`` evenly spaced values over about ``start +- half`` with ``start`` one of them.

    An odd count centres on the start; an even one has no middle point, so the axis runs from
    ``start - half`` to one spacing short of ``start + half`` (the run's own start stays a start).
    """
    if resolution % 2:
        return np.linspace(start - half, start + half, resolution)
    h = 2.0 * half / resolution
    return start + h * (np.arange(resolution) - resolution // 2)


def basin_map(config: RunConfig, *, x_name: str | None = None, y_name: str | None = None, resolution: int = 64,
              span: float | None = None, x_range=None, y_range=None, threshold: float = 0.1,
              solved_accuracy: float = 1.0, dataset=None, cluster_radius: float | None = None,
              method: str = "params", seed: int = 0, memory_budget: int = DEFAULT_MEMORY_BUDGET,
              progress: bool | None = None) -> BasinMap:
    """Train a ``resolution`` x ``resolution`` grid of starts on a plane through the run's start.

    ``method="params"``: two named parameters vary (over their initial values +-``span``,
    default 8), the others start at the run's own initial values (``config.init``, or the
    model's seeded initialisation). ``method="random"``: the starts are
    ``init + a d1 + b d2`` with two filter-normalised random directions (seed ``seed``; every
    weight moves, each filter by up to ``span`` times its own size, default 1).
    """
    from .directions import parameter_shapes, random_directions

    if not (isinstance(resolution, (int, np.integer)) and 2 <= resolution <= 1024):
        raise BackpropvizError(f"--resolution must be an integer in [2, 1024]; got {resolution}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise BackpropvizError(f"--threshold must be a loss > 0; got {threshold}")
    if not 0 < solved_accuracy <= 1:
        raise BackpropvizError(f"--solved-accuracy must be in (0, 1]; got {solved_accuracy}")
    if method not in ("params", "random"):
        raise BackpropvizError(f"unknown basin method {method!r}; choose one of: params, random")
    if span is not None and not (math.isfinite(span) and span > 0):
        raise BackpropvizError(f"--range as one number is a half-width and must be > 0; got {span}")
    train_set, model = _prepare(config, dataset)
    if train_set.is_regression:
        raise BackpropvizError(
            "basins tells solved starts from stuck ones by their final accuracy, and a regression run has "
            "none; compare runs with `compare`, or map the loss around one with `landscape`")
    names = param_names(model)
    init = get_flat(model).double().numpy()
    if method == "params":
        x_name = x_name or names[0]
        y_name = y_name or names[1 if len(names) > 1 else 0]
        for n in (x_name, y_name):
            if n not in names:
                raise BackpropvizError(f"no parameter {n!r}; this model has: {', '.join(names[:12])}"
                                       + (" ..." if len(names) > 12 else ""))
        ix, iy = names.index(x_name), names.index(y_name)
        if ix == iy:
            raise BackpropvizError(f"the two axes must differ; got {x_name!r} twice")
        d = np.zeros((2, len(init)))
        d[0, ix] = d[1, iy] = 1.0
        origin = init.copy()
        origin[[ix, iy]] = 0.0
        start = [float(init[ix]), float(init[iy])]
        half = 8.0 if span is None else span
        fixed = {n: float(init[k]) for k, n in enumerate(names) if k not in (ix, iy)}
        axis_names = (x_name, y_name)
    else:
        if x_name or y_name:
            raise BackpropvizError("--x-param and --y-param need --method params")
        d = random_directions(init, parameter_shapes(model), seed=seed)
        if not np.any(d):
            raise BackpropvizError("random directions are zero for this model (all its weights are zero)")
        origin, start, half, fixed = init.copy(), [0.0, 0.0], 1.0 if span is None else span, {}
        axis_names = ("random direction 1", "random direction 2")
    xs = np.linspace(*x_range, resolution) if x_range else start_centred_axis(start[0], half, resolution)
    ys = np.linspace(*y_range, resolution) if y_range else start_centred_axis(start[1], half, resolution)
    A, B = np.meshgrid(xs, ys)
    starts = origin[None, :] + A.reshape(-1, 1) * d[0] + B.reshape(-1, 1) * d[1]
    run = train_many(config, starts, dataset, memory_budget=memory_budget, progress=progress)
    diverged = run.diverged_at >= 0
    labels, centres = cluster_finals(run.final, ~diverged, radius=cluster_radius)
    shape = A.shape
    return BasinMap(
        alpha=xs, beta=ys, origin=origin, directions=d, axis_names=axis_names,
        final_loss=run.final_loss.reshape(shape),
        steps_to_threshold=steps_to_threshold(run.loss, threshold).reshape(shape),
        final_accuracy=run.accuracy.reshape(shape),
        solved=(run.accuracy >= solved_accuracy - 1e-12).reshape(shape) & ~diverged.reshape(shape),
        cluster=labels.reshape(shape), cluster_centers=centres, diverged=diverged.reshape(shape),
        threshold=float(threshold),
        config={"run": config.to_dict(), "fixed": fixed, "solved_accuracy": solved_accuracy, "method": method,
                "seed": int(seed), "run_start": start, "steps": int(run.loss.shape[1]),
                "resolution": int(resolution)})
