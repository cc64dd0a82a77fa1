"""Batched loss evaluation at many parameter points: the engine under the landscapes.

``LossEvaluator(model, loss_fn, X, y)`` (or a DataLoader instead of ``X, y``) gives the loss at
rows of a (G, P) array (``points``), at ``origin + coords @ directions`` (``plane``) or over a grid
of a plane (``grid``), in chunks sized to a memory budget, float32 or float64, with a progress
bar (stderr) once the work looks longer than a moment.

Any ``nn.Module`` goes through ``torch.func.functional_call`` under ``vmap``. Models that start
with an ``nn.Linear`` inside an ``nn.Sequential`` (the perceptron, MLPs) use that the first
layer's pre-activations on a plane are linear in the plane's coordinates: with ``c = [1, a, b]``
they are ``c @ Z`` where ``Z`` stacks ``X @ W^T + bias`` for the origin and the two directions,
computed once; later Linear layers run as batched products, element-wise layers on whole chunks.
Losses we know (BCE, cross-entropy, MSE, as torch and the built-in losses define them) are
computed per point with vectorised operations; any other goes through ``vmap``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from ..errors import BackpropvizError
from ..models import unflatten

DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes
# Bytes kept per grid point whatever the chunking: coordinates (float64 and the evaluation
# dtype), the loss, and the copies that a Landscape and its file hold.
GRID_BYTES_PER_POINT = 48
# Working memory of one point is this many times its activations (outputs, temporaries, loss).
ACTIVATION_FACTOR = 4
PROGRESS_AFTER_S = 1.0  # show a progress bar when the work is expected to last longer
# Chunks whose widest activation stays near this size keep the per-operation overhead small
# without spending their time moving memory (measured on the digits MLP, 64 units x 1,797
# samples: 24-32 points per chunk best, 8 points 10% slower, 200 points 2x slower).
CACHE_CHUNK_BYTES = 12 << 20
SMALL_WORK = 1 << 20  # activation numbers in a whole request under which one thread is faster


# -- memory planning ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkPlan:
    """How many points go through the model at once, and what that costs."""

    chunk: int
    bytes_per_point: int
    fixed_bytes: int

    def __repr__(self) -> str:
        return (f"ChunkPlan(chunk={self.chunk}, bytes_per_point={self.bytes_per_point}, "
                f"fixed_bytes={self.fixed_bytes})")


def plan_chunks(n_points: int, bytes_per_point: int, fixed_bytes: int, memory_budget: int,
                *, what: str = "landscape", grid_side: bool = True) -> ChunkPlan:
    """Size chunks to ``memory_budget``; refuse a request that cannot fit at all.

    The result arrays grow with the number of points whatever the chunking; one point's working
    set and the fixed cost (data, precomputed products) must fit beside them.
    """
    if memory_budget <= 0:
        raise BackpropvizError(f"--memory-budget must be > 0 bytes; got {memory_budget}")
    grid_bytes = n_points * GRID_BYTES_PER_POINT
    room = memory_budget - fixed_bytes - grid_bytes
    if room < bytes_per_point:
        spare = memory_budget - fixed_bytes - bytes_per_point
        fit = max(0, spare // GRID_BYTES_PER_POINT)
        side = math.isqrt(fit)
        need = fixed_bytes + grid_bytes + bytes_per_point
        if (side >= 2) if grid_side else (fit >= 1):
            largest = (f"the largest resolution that fits is {side}" if grid_side else f"at most {fit} points fit")
            advice = f"{largest}, or raise --memory-budget"
        else:
            least = fixed_bytes + bytes_per_point + (4 if grid_side else 1) * GRID_BYTES_PER_POINT
            advice = (f"not even a {'2 x 2 grid' if grid_side else 'single point'} fits: raise --memory-budget "
                      f"to at least {format_bytes(least)}")
        raise BackpropvizError(
            f"the {what} ({_points_text(n_points)}) needs about {format_bytes(need)} but --memory-budget is "
            f"{format_bytes(memory_budget)}; {advice}")
    chunk = int(max(1, min(n_points, room // max(1, bytes_per_point))))
    return ChunkPlan(chunk=chunk, bytes_per_point=int(bytes_per_point), fixed_bytes=int(fixed_bytes))


def _points_text(n: int) -> str:
    side = math.isqrt(n)
    return f"{side} x {side} = {n} points" if side * side == n else f"{n} points"


def parse_memory(text) -> int:
    """``'1GiB'``, ``'512MB'``, ``'2e9'`` -> bytes."""
    if isinstance(text, (int, float)):
        return int(text)
    s = str(text).strip().lower().replace(" ", "")
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9,
             "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "b": 1}
    for suffix, mult in units.items():
        if s.endswith(suffix):
            number, scale = s[: -len(suffix)], mult
            break
    else:
        number, scale = s, 1
    try:
        value = float(number) * scale
    except ValueError:
        raise BackpropvizError(f"--memory-budget must be a size such as 1GiB, 512MiB or 2e9; got {text!r}") from None
    if not value > 0:
        raise BackpropvizError(f"--memory-budget must be > 0; got {text!r}")
    most = physical_memory()
    if not value <= most:  # inf (1e400) included
        raise BackpropvizError(f"--memory-budget can be at most this machine's memory, {format_bytes(most)}; "
                               f"got {text!r}")
    return int(value)


def physical_memory() -> int:
    """Bytes of memory this machine has (1 TiB where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 1 << 40


def format_bytes(n: float) -> str:
    """A size with the unit that shows its digits: '512 B', '3.5 KiB', '1.2 MiB', '2.0 GiB'."""
    n = float(n)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _mib(n: int) -> str:
    return format_bytes(n)


# -- the evaluator -----------------------------------------------------------------------------
# Element-wise modules: they act on a chunk of points (an extra leading axis) unchanged.
_ELEMENTWISE = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.GELU, nn.ELU, nn.SELU, nn.SiLU,
                nn.Softplus, nn.Identity, nn.Dropout, nn.Hardtanh, nn.ReLU6, nn.Mish)


def _batched_sequential(rest: nn.Sequential, rest_basis: torch.Tensor):
    """``forward(c, h)``: ``rest`` with parameters ``c @ rest_basis`` per point, or None when
    ``rest`` holds a module other than Linear and element-wise ones.

    ``h`` is laid out feature-major, (k points, features, N samples): each Linear layer is one
    batched product ``W (k, out, in) @ h (k, in, N)``, and reductions over the classes at the
    end run across long contiguous rows of samples.
    """
    modules = list(rest)
    if not all(isinstance(m, (nn.Linear, *_ELEMENTWISE)) for m in modules):
        return None
    plan, offset = [], 0
    for m in modules:
        if isinstance(m, nn.Linear):
            n_w = m.weight.numel()
            n_b = m.bias.numel() if m.bias is not None else 0
            plan.append(("linear", offset, n_w, n_b, m.out_features, m.in_features))
            offset += n_w + n_b
        else:
            plan.append(("elementwise", m))

    def forward(c, h):
        for step in plan:
            if step[0] == "elementwise":
                m = step[1]
                h = h.clamp_min_(0) if type(m) is nn.ReLU else m(h)
                continue
            _, off, n_w, n_b, out_f, in_f = step
            W = (c @ rest_basis[:, off: off + n_w]).reshape(-1, out_f, in_f)
            if n_b:
                b = c @ rest_basis[:, off + n_w: off + n_w + n_b]
                h = torch.baddbmm(b[:, :, None], W, h)
            else:
                h = torch.bmm(W, h)
        return h

    return forward


def _vmap_sequential(rest: nn.Sequential, rest_basis: torch.Tensor):
    """``forward(c, h)`` for any ``rest`` through vmap; ``h`` is (k, N, features)."""
    def forward(c, h):
        params = c @ rest_basis
        if params.shape[1] == 0:
            return vmap(rest)(h)
        return vmap(lambda p, x: functional_call(rest, unflatten(rest, p), (x,)))(params, h)

    return forward


def feature_major_loss(loss_fn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-point loss from outputs laid out (k, classes, N)."""
    from .. import losses as L
    import torch.nn.functional as F

    k, C, N = out.shape
    if C > 1 and y.ndim <= 2 and (loss_fn is F.cross_entropy or loss_fn is L.cross_entropy):
        # log-softmax over the class axis, each step across a contiguous row of samples
        top = out.amax(1, keepdim=True)
        lse = (out - top).exp_().sum(1).log_() + top[:, 0]
        picked = out.gather(1, y.reshape(1, 1, N).long().expand(k, 1, N))[:, 0]
        return (lse - picked).mean(1)
    return batched_loss(loss_fn, out.transpose(1, 2), y)


def _bce_mean(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-point mean of torch's BCE terms ``-(y max(log p, -100) + (1 - y) max(log(1 - p), -100))``.

    torch's kernel is a scalar loop (20x slower over a grid); this is the same formula with
    vectorised operations (``log(1 - p)`` for ``log1p(-p)``: equal to float rounding, and both
    clamp to -100 where ``p`` rounds to 1). With 0/1 targets each term needs one logarithm:
    ``q = (1 - y) + (2y - 1) p`` is exactly ``p`` or ``1 - p``, all in place on one buffer.
    """
    G = p.shape[0]
    y = y.expand_as(p[0])
    if bool(((y == 0) | (y == 1)).all()):
        q = torch.addcmul(1 - y, p, 2 * y - 1)
        return q.log_().clamp_min_(-100).reshape(G, -1).mean(1).neg_()
    terms = (y - 1) * torch.log(1 - p).clamp_min(-100) - y * torch.log(p).clamp_min(-100)
    return terms.reshape(G, -1).mean(1)


def _is_bce(loss_fn) -> bool:
    """Whether ``loss_fn`` is binary cross-entropy on one probability (as the built-in losses are
    for one-output models)."""
    from .. import losses as L
    import torch.nn.functional as F

    return loss_fn in (F.binary_cross_entropy, L.bce, L.cross_entropy)


def _samples_major_loss(loss_fn, n_outputs: int):
    """For one-output models with a loss we know: ``rows(out (N, k), y (N, 1)) -> (k,)``, the
    mean loss of each of k points from outputs laid out samples-major. None otherwise."""
    from .. import losses as L
    import torch.nn.functional as F

    if n_outputs != 1:
        return None
    if _is_bce(loss_fn):
        def bce_rows(p, y):
            if bool(((y == 0) | (y == 1)).all()):
                q = torch.addcmul(1 - y, p, 2 * y - 1)  # exactly p where y = 1, 1 - p where y = 0
                return q.log_().clamp_min_(-100).mean(0).neg_()
            terms = (y - 1) * torch.log(1 - p).clamp_min(-100) - y * torch.log(p).clamp_min(-100)
            return terms.mean(0)
        return bce_rows
    if loss_fn in (F.mse_loss, L.mse):
        return lambda p, y: (p - y).square_().mean(0)
    return None


def batched_loss(loss_fn, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``loss_fn(out[g], y)`` for every g, as one computation where the loss is one we know.

    Known: the built-in losses and torch's ``binary_cross_entropy``, ``cross_entropy`` and
    ``mse_loss`` with mean reduction. Anything else goes through ``vmap``.
    """
    from .. import losses as L
    import torch.nn.functional as F

    G = out.shape[0]
    binary = out.shape[-1] == 1
    if loss_fn is F.binary_cross_entropy or (loss_fn in (L.bce, L.cross_entropy) and binary):
        return _bce_mean(out, y)
    if loss_fn is F.mse_loss or (loss_fn is L.mse and binary):
        return (out - y).square().reshape(G, -1).mean(1)
    if (loss_fn is F.cross_entropy and out.ndim == 3 and y.ndim == 1) or (loss_fn is L.cross_entropy and not binary):
        # log-softmax written out: torch's kernel is slow over a last axis of a few classes.
        top = out.amax(-1, keepdim=True)
        lse = (out - top).exp_().sum(-1).log_() + top.squeeze(-1)
        picked = out.gather(-1, y.reshape(1, -1, 1).long().expand(G, -1, 1)).squeeze(-1)
        return (lse - picked).mean(1)
    return vmap(loss_fn, in_dims=(0, None))(out, y)


def _is_loader(data) -> bool:
    return not isinstance(data, (np.ndarray, torch.Tensor, list, tuple)) and hasattr(data, "__iter__")


def _linear_front(model: nn.Module):
    """``(first Linear, the remaining Sequential)`` when the model starts with an nn.Linear."""
    if not (isinstance(model, nn.Sequential) and len(model) >= 1 and isinstance(model[0], nn.Linear)):
        return None
    first, rest = model[0], model[1:]
    n_model = sum(p.numel() for p in model.parameters())
    n_first = sum(p.numel() for p in first.parameters())
    n_rest = sum(p.numel() for p in rest.parameters())
    if n_first + n_rest != n_model:  # shared parameters: the flat order would not split cleanly
        return None
    return first, rest


class LossEvaluator:
    """Loss of one model skeleton on fixed data at many parameter points, in batched chunks.

    ``data`` is ``X`` (with ``y``) or an iterable of ``(X, y)`` batches such as a DataLoader;
    over batches the loss is the size-weighted mean of the batch losses (exact for losses
    with mean reduction). ``loss_fn(output, target)`` must return a mean loss. Float targets
    of shape (N,) are reshaped to (N, 1) when the model's output has one column (as the
    built-in models train).

    >>> ev = LossEvaluator(model, F.cross_entropy, X, y, dtype=torch.float64)   # doctest: +SKIP
    >>> ev.points(np.stack([flat0, flat1]))                                      # doctest: +SKIP
    """

    def __init__(self, model: nn.Module, loss_fn, data, y=None, *, dtype=torch.float32,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: bool | None = None,
                 chunk: int | None = None, penalty=None):
        if dtype not in (torch.float32, torch.float64):
            raise BackpropvizError(f"dtype must be float32 or float64; got {dtype}")
        import copy

        # The model's own parameters are never used for the loss (points bring their own);
        # a copy is needed only to change the dtype of buffers and the probe pass.
        # Dropout and batch norm are evaluated in eval mode, so that the surface is deterministic.
        first = next(iter(model.parameters()), None)
        modal = any(isinstance(m, (nn.Dropout, nn.modules.batchnorm._BatchNorm)) for m in model.modules())
        if (first is not None and first.dtype != dtype) or (modal and model.training):
            model = copy.deepcopy(model).to(dtype).eval()
        self.model = model
        self.loss_fn = loss_fn
        self.dtype = dtype
        self.memory_budget = int(memory_budget)
        self.progress = progress
        self.chunk = chunk
        self.penalty = penalty  # penalty(points (k, P)) -> (k,), added to the loss
        self.n_params = sum(p.numel() for p in self.model.parameters())
        if _is_loader(data):
            if y is not None:
                raise BackpropvizError("give either a DataLoader (yielding (X, y)) or X and y, not both")
            self._loader, self._batches = data, None
        else:
            if y is None:
                raise BackpropvizError("y is required when data is an array")
            self._loader, self._batches = None, [self._tensors(data, y)]
        self._reshape_target: bool | None = None
        self._act_width: int | None = None
        self._act_max: int | None = None
        self.front = _linear_front(self.model)
        self.last_plan: ChunkPlan | None = None

    def __repr__(self) -> str:
        return (f"LossEvaluator(model={type(self.model).__name__}, params={self.n_params}, "
                f"dtype={self.dtype}, linear_front={self.front is not None}, "
                f"memory_budget={_mib(self.memory_budget)})")

    # -- data ----------------------------------------------------------------------------------
    def _tensors(self, X, y):
        X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).to(self.dtype)
        y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
        y = y.to(self.dtype) if y.is_floating_point() else y.long()
        if X.ndim < 2 or y.shape[0] != X.shape[0]:
            raise BackpropvizError(f"X must be (N, ...) with one target per row; got X {tuple(X.shape)}, y {tuple(y.shape)}")
        return X, y

    def batches(self):
        """``(X, y)`` tensors in the evaluation dtype, target shaped for the loss."""
        source = self._batches if self._loader is None else (
            self._tensors(*batch[:2]) for batch in self._loader)
        for X, y in source:
            if self._reshape_target is None:
                with torch.no_grad():
                    out = self.model(X[:1])
                self._reshape_target = bool(y.is_floating_point() and y.ndim == 1 and out.shape == (1, 1))
                self._act_width, self._act_max = self._activation_width(X[:1])
            if self._reshape_target:
                y = y.reshape(-1, 1)
            yield X, y

    @torch.no_grad()
    def _activation_width(self, x1) -> tuple[int, int]:
        """Numbers that one sample's forward pass produces: the sum over leaf modules' outputs,
        and the largest one."""
        sizes = []
        hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.numel() if isinstance(o, torch.Tensor) else 0))
                 for m in self.model.modules() if not list(m.children())]
        try:
            self.model(x1)
        finally:
            for h in hooks:
                h.remove()
        return max(1, sum(sizes)), max([1, *sizes])

    # -- planning ------------------------------------------------------------------------------
    def footprint(self) -> tuple[int, int]:
        """``(fixed bytes, working bytes per point)`` of an evaluation on the first batch: what
        ``plan_chunks`` is given, so a caller can check a request before making it."""
        X, _ = next(iter(self.batches()))
        plan = self._footprint(X)
        return plan

    def _footprint(self, X) -> tuple[int, int]:
        item = torch.finfo(self.dtype).bits // 8
        n = X.shape[0]
        per_point = item * (self.n_params + ACTIVATION_FACTOR * n * (self._act_width or 1))
        fixed = item * (X.numel() + 3 * self.n_params) + (3 * item * n * self.front[0].out_features
                                                          if self.front is not None else 0)
        return fixed, per_point

    def _plan(self, n_points: int, X, *, grid_side: bool) -> ChunkPlan:
        item = torch.finfo(self.dtype).bits // 8
        n = X.shape[0]
        per_point = item * (self.n_params + ACTIVATION_FACTOR * n * (self._act_width or 1))
        fixed = item * (X.numel() + 3 * self.n_params) + (3 * item * n * self.front[0].out_features
                                                          if self.front is not None else 0)
        plan = plan_chunks(n_points, per_point, fixed, self.memory_budget, grid_side=grid_side)
        cache_chunk = max(1, CACHE_CHUNK_BYTES // (item * n * (self._act_max or 1)))
        plan = ChunkPlan(min(plan.chunk, cache_chunk), plan.bytes_per_point, plan.fixed_bytes)
        if self.chunk is not None:
            plan = ChunkPlan(min(plan.chunk, self.chunk), plan.bytes_per_point, plan.fixed_bytes)
        self.last_plan = plan
        return plan

    # -- public --------------------------------------------------------------------------------
    def points(self, points, *, grid_side: bool = False) -> np.ndarray:
        """Loss at each row of ``points`` (G, P): an array, or ``make(start, stop) -> (k, P)``
        together with ``n_points=`` (see ``points_from``)."""
        pts = torch.as_tensor(np.asarray(points)).to(self.dtype)
        if pts.ndim != 2 or pts.shape[1] != self.n_params:
            raise BackpropvizError(f"points must be (G, {self.n_params}); got {tuple(pts.shape)}")
        return self.points_from(lambda a, b: pts[a:b], pts.shape[0], grid_side=grid_side)

    def _few_threads(self, n_points: int):
        """One thread for small work: on a busy machine, waking a second thread for a few
        thousand numbers costs milliseconds (measured: a sigmoid over 160,000 numbers took 0.05 ms
        on one thread and 7 ms on two while another process held the other core)."""
        import contextlib

        if self._loader is not None or torch.get_num_threads() == 1:
            return contextlib.nullcontext()
        X, y = self._batches[0]
        if self._act_max is None:
            next(iter(self.batches()))  # the probe pass: fills the activation sizes
        if n_points * X.shape[0] * (self._act_max or 1) >= SMALL_WORK:
            return contextlib.nullcontext()
        return _threads(1)

    def points_from(self, make, n_points: int, *, grid_side: bool = False) -> np.ndarray:
        """Loss at ``n_points`` points produced chunk by chunk by ``make(start, stop)``."""
        with self._few_threads(n_points):
            return self._points_from(make, n_points, grid_side=grid_side)

    def _points_from(self, make, n_points: int, *, grid_side: bool = False) -> np.ndarray:
        model, loss_fn = self.model, self.loss_fn

        def chunk_loss(X, y, start, stop):
            pts = torch.as_tensor(make(start, stop)).to(self.dtype)

            out = vmap(lambda flat: functional_call(model, unflatten(model, flat), (X,)))(pts)
            loss = batched_loss(loss_fn, out, y)
            return loss if self.penalty is None else loss + self.penalty(pts)

        return self._run(chunk_loss, n_points, grid_side=grid_side)

    def plane(self, origin, directions, coords, *, grid_side: bool = True) -> np.ndarray:
        """Loss at ``origin + coords @ directions`` for each row of ``coords`` (G, 2)."""
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise BackpropvizError(f"plane coordinates must be (G, 2); got {coords.shape}")
        with self._few_threads(len(coords)):
            return self._plane(origin, directions, np.ascontiguousarray(coords.T), grid_side=grid_side)

    def grid(self, origin, directions, alpha, beta) -> np.ndarray:
        """Loss over ``origin + alpha[i] * d[0] + beta[j] * d[1]``: shape (len(beta), len(alpha))."""
        alpha = np.asarray(alpha, dtype=np.float64).reshape(-1)
        beta = np.asarray(beta, dtype=np.float64).reshape(-1)
        coords_t = np.empty((2, alpha.size * beta.size))
        coords_t[0] = np.tile(alpha, beta.size)
        coords_t[1] = np.repeat(beta, alpha.size)
        with self._few_threads(coords_t.shape[1]):
            return self._plane(origin, directions, coords_t, grid_side=True).reshape(beta.size, alpha.size)

    def _plane(self, origin, directions, coords_t, *, grid_side: bool = True) -> np.ndarray:
        origin = torch.as_tensor(np.asarray(origin, dtype=np.float64)).to(self.dtype)
        d = torch.as_tensor(np.asarray(directions, dtype=np.float64)).to(self.dtype)
        if origin.shape != (self.n_params,) or d.shape != (2, self.n_params):
            raise BackpropvizError(
                f"plane needs origin ({self.n_params},) and directions (2, {self.n_params}); "
                f"got {tuple(origin.shape)}, {tuple(d.shape)}")
        coef_t = torch.from_numpy(coords_t).to(self.dtype)  # (2, G)
        coef = coef_t.T
        basis = torch.stack([origin, d[0], d[1]])  # (3, P)
        if self.front is None:
            def make(a, b):
                c = coef[a:b]
                return basis[0] + c @ basis[1:]
            return self._points_from(make, coef.shape[0], grid_side=grid_side)
        return self._run(self._front_chunk_fn(basis, coef, coef_t), coef.shape[0], grid_side=grid_side)

    def _front_chunk_fn(self, basis, coef, coef_t):
        """Chunk evaluator using the first layer's linearity in the plane's coordinates.

        With ``c = [1, a, b]`` per point, the first layer's pre-activations are ``c @ Z`` where
        ``Z`` stacks ``X @ W^T + bias`` for the origin and the two directions (computed once
        per data batch), and every later parameter is ``c @ basis``. Later Linear layers run as
        one batched matrix product over the chunk; element-wise layers run on the whole chunk.
        """
        first, rest = self.front
        n_w = first.weight.numel()
        n_first = n_w + (first.bias.numel() if first.bias is not None else 0)
        H, D = first.out_features, first.in_features
        weights = basis[:, :n_w].reshape(3, H, D)
        biases = basis[:, n_w:n_first] if first.bias is not None else None
        rest_basis = basis[:, n_first:]  # (3, P_rest)
        forward = _batched_sequential(rest, rest_basis)
        feature_major = forward is not None
        if forward is None:
            forward = _vmap_sequential(rest, rest_basis)
        loss_fn, penalty = self.loss_fn, self.penalty
        cache = {}

        def first_layer(X):
            if cache.get("X") is not X:
                # (3, N, H): one product per basis vector
                Z = torch.einsum("nd,khd->knh", X, weights)
                if biases is not None:
                    Z = Z + biases[:, None, :]
                cache.update(X=X, Z=Z.reshape(3, -1), Zt=Z.transpose(1, 2).reshape(3, -1))
            return cache["Z"]

        if (rest_basis.shape[1] == 0 and all(isinstance(m, _ELEMENTWISE) for m in rest)
                and _samples_major_loss(loss_fn, H) is not None):
            return self._samples_major_chunk_fn(first_layer, rest, coef_t, H, basis)

        def chunk_loss(X, y, start, stop):
            first_layer(X)
            k = stop - start
            c = torch.cat([torch.ones(k, 1, dtype=coef.dtype), coef[start:stop]], dim=1)
            if feature_major:
                h1 = (c @ cache["Zt"]).reshape(k, H, X.shape[0])
                loss = feature_major_loss(loss_fn, forward(c, h1), y)
            else:
                h1 = (c @ cache["Z"]).reshape(k, X.shape[0], H)
                loss = batched_loss(loss_fn, forward(c, h1), y)
            return loss if penalty is None else loss + penalty(c @ basis)

        return chunk_loss

    def _samples_major_chunk_fn(self, first_layer, rest, coef_t, H, basis):
        """A single-layer model (the perceptron): every later module is element-wise, so the
        work is a handful of passes over (samples, points) arrays. Samples are the outer axis
        and points the inner one, so each pass runs over long contiguous rows (with points as
        the outer axis the inner axis would be the 4 samples of a logic gate, and slow).

        For 0/1 targets with BCE, rows are ordered with the 0-targets first, so that ``1 - p``
        is taken on one contiguous block and each row then needs one logarithm.
        """
        rows_loss = _samples_major_loss(self.loss_fn, H)
        penalty = self.penalty
        cache = {}

        def prepared(X, y):
            if cache.get("X") is not X:
                Z = first_layer(X).reshape(3, -1)  # (3, N*H)
                yy = y.reshape(-1).to(Z.dtype) if y.is_floating_point() else y.reshape(-1)
                binary = _is_bce(self.loss_fn) and bool(((yy == 0) | (yy == 1)).all())
                if binary:
                    order = torch.argsort(yy, stable=True)
                    Z, yy = Z[:, order], yy[order]
                cache.update(X=X, Z0=Z[0].reshape(-1, 1).contiguous(), Z12=Z[1:].T.contiguous(),
                             neg_mean=torch.full((1, Z.shape[1]), -1.0 / Z.shape[1], dtype=Z.dtype),
                             y=yy.reshape(-1, 1), n0=int((yy == 0).sum()) if binary else None)
            return cache

        def chunk_loss(X, y, start, stop):
            c = prepared(X, y)
            h = torch.addmm(c["Z0"], c["Z12"], coef_t[:, start:stop])  # (N*H, k)
            for m in rest:
                h = h.sigmoid_() if type(m) is nn.Sigmoid else m(h)
            if c["n0"] is not None:
                h[: c["n0"]].neg_().add_(1)  # 1 - p for the rows whose target is 0
                # -mean over rows as one (1, N) x (N, k) product: 3x faster than .mean(0) here
                loss = torch.mm(c["neg_mean"], h.log_().clamp_min_(-100))[0]
            else:
                loss = rows_loss(h, c["y"])
            if penalty is None:
                return loss
            pts = basis[0] + coef_t[:, start:stop].T @ basis[1:]
            return loss + penalty(pts)

        return chunk_loss

    # -- the loop ------------------------------------------------------------------------------
    @torch.no_grad()
    def _run(self, chunk_loss, n_points: int, *, grid_side: bool) -> np.ndarray:
        single = self._loader is None
        out = torch.empty(n_points, dtype=self.dtype if single else torch.float64)
        if not single:
            out.zero_()
        n_seen = 0
        n_batches = 1 if single else (len(self._loader) if hasattr(self._loader, "__len__") else None)
        bar = _Progress(self.progress, None if n_batches is None else n_points * n_batches)
        try:
            for X, y in self.batches():
                plan = self._plan(n_points, X, grid_side=grid_side)
                for start in range(0, n_points, plan.chunk):
                    stop = min(n_points, start + plan.chunk)
                    if single:
                        out[start:stop] = chunk_loss(X, y, start, stop)
                    else:
                        out[start:stop] += chunk_loss(X, y, start, stop).to(torch.float64) * X.shape[0]
                    bar.advance(stop - start)
                n_seen += X.shape[0]
        finally:
            bar.close()
        if n_seen == 0:
            raise BackpropvizError("the data loader yielded no batches")
        if not single:
            out = (out / n_seen).to(self.dtype)
        return out.numpy()


class _threads:
    """Context: run torch on ``n`` threads, then restore the previous number."""

    def __init__(self, n: int):
        self.n = n

    def __repr__(self) -> str:
        return f"_threads({self.n})"

    def __enter__(self):
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.before)


class _Progress:
    """A rich progress bar on stderr that appears only once the work looks longer than a moment
    (``enabled`` True: always, False: never, None: on a terminal), or a callable
    ``enabled(done, total)`` called instead after every chunk."""

    def __init__(self, enabled: bool | None, total: int | None):
        self.enabled, self.total = enabled, total
        self.done, self.bar, self.task = 0, None, None
        self.started = time.perf_counter()

    def __repr__(self) -> str:
        return f"_Progress(done={self.done}, total={self.total}, shown={self.bar is not None})"

    def advance(self, k: int) -> None:
        self.done += k
        if callable(self.enabled):  # the caller's own report, progress(done, total) (the playground's page)
            self.enabled(self.done, self.total)
            return
        if self.enabled is False or (self.enabled is None and not sys.stderr.isatty()):
            return  # by default only on a terminal: logs and pipes get no bar drawings
        if self.bar is None:
            elapsed = time.perf_counter() - self.started
            left = self.total is None or self.done < self.total
            expected = elapsed / self.done * self.total if self.total else 2 * elapsed
            if not (self.enabled or (left and expected > PROGRESS_AFTER_S)):
                return
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(file=sys.stderr), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("loss at grid points", total=self.total)
        self.bar.update(self.task, completed=self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def evaluate(model: nn.Module, loss_fn, X, y, points, *, chunk: int | None = None, dtype=torch.float32,
             memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: bool | None = None) -> np.ndarray:
    """Loss of ``model`` on ``(X, y)`` at each row of ``points`` (G, P), vectorised with vmap.

    ``X`` may also be a DataLoader yielding ``(X, y)`` (then pass ``y=None``). Points are
    processed in chunks sized to ``memory_budget`` (or at most ``chunk``).
    """
    ev = LossEvaluator(model, loss_fn, X, y, dtype=dtype, memory_budget=memory_budget,
                       progress=progress, chunk=chunk)
    return ev.points(points)


def evaluate_plane(model: nn.Module, loss_fn, X, y, origin, directions, alpha, beta, *,
                   dtype=torch.float32, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                   progress: bool | None = None, chunk: int | None = None) -> np.ndarray:
    """Loss over the grid ``origin + alpha[i] * d[0] + beta[j] * d[1]``, shape (len(beta), len(alpha))."""
    ev = LossEvaluator(model, loss_fn, X, y, dtype=dtype, memory_budget=memory_budget,
                       progress=progress, chunk=chunk)
    return ev.grid(origin, directions, alpha, beta)
