"""Curvature of the loss at a step: the Hessian, its eigenvalues and the largest stable step size.

For plain gradient descent on a quadratic, ``theta <- theta - lr * H theta`` shrinks every
component only when ``|1 - lr * lambda| < 1`` for every eigenvalue: ``lr < 2 / lambda_max``.
Near a minimum the loss is close to its quadratic, so ``2 / lambda_max`` is the largest learning
rate that gradient descent can use there without being thrown out.

The smallest eigenvalue matters too: a negative one (common at the start of training) means
the loss curves *down* along its eigenvector, a saddle or a ridge rather than a bowl.

Small models (up to ``EXACT_MAX_PARAMS``; the perceptron's is 3 x 3) get the exact Hessian
(one double backward per parameter, float64) and all eigenvalues; larger ones the top
eigenvalue by power iteration on Hessian-vector products (double backward, never forming the
matrix) and the smallest by Lanczos (ARPACK's ``eigsh``) on the same products. Plain autograd
rather than ``torch.func``: the latter imports torch._dynamo on first use, a second of
start-up for a command that needs a fraction of that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import functional_call

from ..errors import BackpropvizError
from ..history import History
from ..models import unflatten
from .evaluator import _is_loader

EXACT_MAX_PARAMS = 400
LAMBDA_MIN_TOL = 1e-4  # relative accuracy of lambda_min by Lanczos for a model of the user's
TOP_K = 5  # eigenvalues reported from the top of the spectrum (small models)


@dataclass
class Curvature:
    """Curvature at one step: ``lambda_max`` and ``lr_max = 2 / lambda_max`` beside ``lr_used``,
    the smallest eigenvalue ``lambda_min`` and (exact only) the whole spectrum."""

    step: int
    lambda_max: float
    lr_max: float
    lr_used: float | None
    method: str  # "exact" or "power" (lambda_max by power iteration, lambda_min by Lanczos)
    eigenvalues: np.ndarray | None = None  # all of them, ascending (exact only)
    hessian: np.ndarray | None = None
    param_names: list[str] = field(default_factory=list)
    lambda_min: float = float("nan")

    @property
    def top(self) -> np.ndarray:
        """The largest eigenvalues, largest first (up to ``TOP_K``; exact only, else just lambda_max)."""
        if self.eigenvalues is None:
            return np.array([self.lambda_max])
        return np.asarray(self.eigenvalues)[::-1][:TOP_K]

    @property
    def negative_curvature(self) -> bool:
        """Whether the loss curves down along some direction here (``lambda_min < 0``)."""
        return bool(np.isfinite(self.lambda_min) and self.lambda_min < 0)

    @property
    def stable(self) -> bool | None:
        """Whether the learning rate used is below the bound (None when unknown, and when the
        curvature is zero, negative or undefined: 2 / lambda_max then bounds nothing)."""
        if self.lr_used is None or not self.has_bound:
            return None
        return bool(self.lr_used < self.lr_max)

    @property
    def has_bound(self) -> bool:
        """Whether ``lr_max = 2 / lambda_max`` is a finite bound (positive, finite curvature)."""
        return bool(np.isfinite(self.lambda_max) and self.lambda_max > 0)

    def __repr__(self) -> str:
        return (f"Curvature(step={self.step}, lambda_max={self.lambda_max:.6g}, lambda_min={self.lambda_min:.6g}, "
                f"lr_max={self.lr_max:.6g}, lr_used={self.lr_used}, method={self.method!r})")


def stable_lr(lambda_max: float) -> float:
    """``2 / lambda_max``: the largest stable learning rate of plain gradient descent (inf if no
    positive curvature)."""
    return 2.0 / lambda_max if lambda_max > 0 else float("inf")


def _double_model(model):
    """A float64 copy of ``model`` on the CPU in eval mode: Dropout off, BatchNorm on its running
    statistics, as the landscapes evaluate it (a no-op for the built-in models). The curvature is
    computed on the CPU, a model on a GPU included."""
    import copy

    return copy.deepcopy(model).cpu().double().eval()


def _loss_of(model, loss_fn, X, y):
    """``flat -> loss`` of a float64 ``model`` on one batch (float targets (N,) shaped (N, 1) for a
    one-column output, as training does; a batch on a GPU brought to the CPU)."""
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).to("cpu", torch.float64)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).cpu()
    y = y.double() if y.is_floating_point() else y.long()
    with torch.no_grad():
        if y.is_floating_point() and y.ndim == 1 and model(X[:1]).shape == (1, 1):
            y = y.reshape(-1, 1)

    def f(flat):
        return loss_fn(functional_call(model, unflatten(model, flat), (X,)), y)

    return f


def _objective(model, loss_fn, X, y, penalty=None):
    f0 = _loss_of(_double_model(model), loss_fn, X, y)
    if penalty is None:
        return f0
    return lambda flat: f0(flat) + penalty(flat[None])[0]


def _loader_batches(loader):
    """``(X, y)`` of each batch a DataLoader yields (its first two items)."""
    for batch in loader:
        yield batch[0], batch[1]


def hessian_matrix(model, loss_fn, X, y, flat, *, penalty=None) -> np.ndarray:
    """The exact Hessian (P, P) of the loss at ``flat``, in float64. ``X`` may be a DataLoader
    (``y=None``): the size-weighted mean of the batches' Hessians, one batch at a time."""
    at = torch.as_tensor(np.asarray(flat, dtype=np.float64))
    if not _is_loader(X):
        return hessians(_objective(model, loss_fn, X, y, penalty), at[None])[0]
    model = _double_model(model)
    total, n = 0.0, 0
    for Xb, yb in _loader_batches(X):
        total = total + hessians(_loss_of(model, loss_fn, Xb, yb), at[None])[0] * len(Xb)
        n += len(Xb)
    if n == 0:
        raise BackpropvizError("the data loader yielded no batches")
    H = total / n
    return H if penalty is None else H + hessians(lambda flat: penalty(flat[None])[0], at[None])[0]


def hessians(f, points: torch.Tensor) -> np.ndarray:
    """Hessians (S, P, P) of ``f`` at each row of ``points`` (S, P).

    One batched forward pass (``vmap``) and one backward pass with a graph, then one double
    backward per parameter: row j of every Hessian at once is the gradient of the j-th
    gradient component summed over the rows (each row's loss depends on that row alone).
    """
    from torch.func import vmap

    S, P = points.shape
    out = np.empty((S, P, P))
    with torch.enable_grad():
        at = points.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(vmap(f)(at).sum(), at, create_graph=True)
        for j in range(P):
            (row,) = torch.autograd.grad(g[:, j].sum(), at, retain_graph=j < P - 1)
            out[:, j] = row.detach().numpy()
    return out


def hvp_fn(model, loss_fn, X, y, flat, *, penalty=None):
    """``v -> H v`` at ``flat``: the gradient of ``grad(f) . v`` (double backward, float64).

    ``X`` may be a DataLoader (``y=None``): each product then runs over the batches one at a
    time (memory of one batch's graph), the size-weighted mean of the batches' products.
    """
    if _is_loader(X):
        return _loader_hvp_fn(model, loss_fn, X, flat, penalty)
    f = _objective(model, loss_fn, X, y, penalty)
    at = torch.as_tensor(np.asarray(flat, dtype=np.float64)).clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(f(at), at, create_graph=True)

    def hvp(v):
        with torch.enable_grad():
            (hv,) = torch.autograd.grad(g, at, grad_outputs=v, retain_graph=True)
        return hv.detach()

    return hvp


HVP_KEEP_SAMPLES = 8192  # a loader holding at most this many samples keeps its batches' graphs


def _loader_hvp_fn(model, loss_fn, loader, flat, penalty=None):
    """``v -> H v`` over a DataLoader's batches. A loader of at most ``HVP_KEEP_SAMPLES`` samples
    keeps every batch's gradient graph between products (one forward and backward pass in all, as
    for tensors); a larger one runs each batch again for every product, so that memory stays one
    batch's graph whatever the data's size (and a shuffling loader still covers every sample)."""
    model = _double_model(model)
    base = torch.as_tensor(np.asarray(flat, dtype=np.float64))
    kept: list | None = None  # [(at, grad graph, batch size)] of every batch, once known to fit

    def graph(Xb, yb):
        at = base.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(_loss_of(model, loss_fn, Xb, yb)(at), at, create_graph=True)
        return at, g, len(Xb)

    def batch_products(v):
        nonlocal kept
        if kept is not None:
            for at, g, size in kept:
                yield torch.autograd.grad(g, at, grad_outputs=v, retain_graph=True)[0], size
            return
        first, seen = [], 0
        for Xb, yb in _loader_batches(loader):
            at, g, size = graph(Xb, yb)
            seen += size
            keep = first is not None and seen <= HVP_KEEP_SAMPLES
            first = first + [(at, g, size)] if keep else None
            yield torch.autograd.grad(g, at, grad_outputs=v, retain_graph=keep)[0], size
        if first is not None and _is_fixed_order(loader):
            kept = first

    def hvp(v):
        total, n = torch.zeros_like(base), 0
        with torch.enable_grad():
            for hv, size in batch_products(v):
                total += hv.detach() * size
                n += size
            if n == 0:
                raise BackpropvizError("the data loader yielded no batches")
            total /= n
            if penalty is not None:
                at = base.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(penalty(at[None])[0], at, create_graph=True)
                (hv,) = torch.autograd.grad(g, at, grad_outputs=v, allow_unused=True)
                if hv is not None:
                    total += hv.detach()
        return total

    return hvp


def _is_fixed_order(loader) -> bool:
    """Whether every pass over ``loader`` yields the same batches (no shuffling, no dropped last
    batch that could change): only then may its batches' graphs stand for it."""
    from torch.utils.data import SequentialSampler

    return isinstance(getattr(loader, "sampler", None), SequentialSampler) and not getattr(loader, "drop_last", False)


def top_eigenvalue(model, loss_fn, X, y, flat, *, iters: int = 200, tol: float = 1e-8, seed: int = 0,
                   penalty=None) -> float:
    """The largest eigenvalue of the Hessian by power iteration on Hessian-vector products.

    Power iteration finds the eigenvalue of largest magnitude; when that one is negative, a
    second run on ``H - lambda I`` (shifted to make the top of the spectrum dominant) finds the
    largest one.
    """
    hvp = hvp_fn(model, loss_fn, X, y, flat, penalty=penalty)
    P = int(np.asarray(flat).size)
    gen = torch.Generator().manual_seed(seed)

    def power(shift: float) -> float:
        v = torch.randn(P, generator=gen, dtype=torch.float64)
        v /= v.norm()
        lam = 0.0
        for _ in range(iters):
            w = hvp(v) - shift * v
            new = float(v @ w)
            norm = w.norm()
            if norm == 0:
                return shift
            v = w / norm
            if abs(new - lam) <= tol * max(1.0, abs(new)):
                lam = new
                break
            lam = new
        return lam + shift

    lam = power(0.0)
    if lam < 0:
        lam = power(lam)
    return lam


def smallest_eigenvalue(model, loss_fn, X, y, flat, *, tol: float = 1e-8, penalty=None) -> float:
    """The smallest (most negative) eigenvalue of the Hessian, by Lanczos iteration (ARPACK's
    ``eigsh``, which="SA") on Hessian-vector products; the matrix is never formed. A Krylov space
    of 40 vectors and at most 50 restarts bound the work (about a hundred products is typical for
    thousands of parameters); NaN if it has not converged by then."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    hvp = hvp_fn(model, loss_fn, X, y, flat, penalty=penalty)
    P = int(np.asarray(flat).size)
    if P == 1:
        return float(hvp(torch.ones(1, dtype=torch.float64))[0])
    op = LinearOperator((P, P), dtype=np.float64,
                        matvec=lambda v: hvp(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).ravel())).numpy())
    v0 = np.random.default_rng(0).standard_normal(P)
    try:
        vals = eigsh(op, k=1, which="SA", tol=tol, v0=v0, ncv=min(P, 40), maxiter=50, return_eigenvectors=False)
    except ArpackNoConvergence as exc:  # the best estimate found, if any
        vals = exc.eigenvalues
        if len(vals) == 0:
            return float("nan")
    return float(np.min(vals))


def top_eigenvectors(history: History, step: int = -1, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``(values (k,), vectors (k, P))``: the ``k`` largest eigenvalues of the training objective's
    Hessian at ``params[step]``, largest first, and their unit eigenvectors (exact for small
    models, Lanczos on Hessian-vector products for larger ones)."""
    with _few_threads(history):
        return _top_eigenvectors(history, step, k)


def _top_eigenvectors(history: History, step: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    from .landscape import _step_index, history_penalty, model_and_loss

    row = _step_index(history, step)
    model, loss_fn = model_and_loss(history)
    return eigenpairs(model, loss_fn, history.X, history.y, history.params[row], k=k,
                      penalty=history_penalty(history, model))


def eigenpairs(model, loss_fn, X, y, flat, *, k: int = 2, penalty=None, tol: float = 1e-10
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(values (k,), vectors (k, P))``: the ``k`` largest eigenvalues of the loss's Hessian at
    ``flat`` for any model and data (``X`` may be a DataLoader), largest first, with their unit
    eigenvectors: exact up to ``EXACT_MAX_PARAMS`` parameters, else Lanczos (ARPACK's ``eigsh``)
    on Hessian-vector products."""
    from ..usermodel import host_array

    flat = np.asarray(host_array(flat), dtype=np.float64)
    P = flat.size
    if P < k:
        raise BackpropvizError(f"the Hessian of a model with {P} parameter(s) has fewer than {k} eigenvectors")
    if P <= EXACT_MAX_PARAMS:
        H = hessian_matrix(model, loss_fn, X, y, flat, penalty=penalty)
        vals, vecs = np.linalg.eigh(0.5 * (H + H.T))
        return vals[::-1][:k].copy(), vecs[:, ::-1][:, :k].T.copy()
    from scipy.sparse.linalg import LinearOperator, eigsh

    hvp = hvp_fn(model, loss_fn, X, y, flat, penalty=penalty)
    op = LinearOperator((P, P), dtype=np.float64,
                        matvec=lambda v: hvp(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).ravel())).numpy())
    vals, vecs = eigsh(op, k=k, which="LA", tol=tol, ncv=min(P, 40), v0=np.random.default_rng(0).standard_normal(P))
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order].T.copy()


def model_curvature(model, loss_fn, X, y, flat, *, method: str = "auto", iters: int = 200, step: int = 0,
                    lr_used: float | None = None) -> Curvature:
    """The top and bottom Hessian eigenvalues of any model's loss at ``flat`` (``X`` may be a
    DataLoader): exact (every eigenvalue) up to ``EXACT_MAX_PARAMS`` parameters, else power
    iteration (lambda_max) and Lanczos (lambda_min) on Hessian-vector products. ``step`` names
    the point (a checkpoint's row) in the result."""
    if method not in ("auto", "exact", "power"):
        raise BackpropvizError(f"unknown curvature method {method!r}; choose one of: auto, exact, power")
    from ..models import param_names
    from ..usermodel import host_array

    flat = np.asarray(host_array(flat), dtype=np.float64)
    names = param_names(model) if flat.size <= EXACT_MAX_PARAMS else []
    if method == "exact" or (method == "auto" and flat.size <= EXACT_MAX_PARAMS):
        H = hessian_matrix(model, loss_fn, X, y, flat)
        H = 0.5 * (H + H.T)
        eig = np.linalg.eigvalsh(H)
        return Curvature(step=step, lambda_max=float(eig[-1]), lr_max=stable_lr(float(eig[-1])), lr_used=lr_used,
                         method="exact", eigenvalues=eig, hessian=H, param_names=names, lambda_min=float(eig[0]))
    lam = top_eigenvalue(model, loss_fn, X, y, flat, iters=iters)
    # A relative accuracy of 1e-4 for lambda_min: near-zero eigenvalues cluster at the bottom of a
    # network's spectrum, and 1e-8 took ten times the products (414 against 41 for the conv net of
    # tests/usermodels.py) for the same four digits.
    low = smallest_eigenvalue(model, loss_fn, X, y, flat, tol=LAMBDA_MIN_TOL)
    return Curvature(step=step, lambda_max=lam, lr_max=stable_lr(lam), lr_used=lr_used, method="power",
                     param_names=names, lambda_min=low)


def _few_threads(history: History):
    """One thread for the small double-backward passes of these models: on a busy machine a
    second thread costs more than it saves (measured: one Hessian-vector product of a 4,417-
    parameter MLP on 200 rows took 3 ms on one thread and 135 ms on two, the other core taken)."""
    import contextlib

    from .evaluator import SMALL_WORK, _threads

    work = int(np.asarray(history.X).shape[0]) * int(history.params.shape[1])
    return _threads(1) if work <= 4 * SMALL_WORK and torch.get_num_threads() > 1 else contextlib.nullcontext()


def curvature_at(history: History, step: int = -1, *, method: str = "auto", iters: int = 200) -> Curvature:
    """Curvature of the training objective (data loss plus L1/L2 terms) at ``params[step]``."""
    with _few_threads(history):
        return _curvature_at(history, step, method=method, iters=iters)


def _curvature_at(history: History, step: int, *, method: str, iters: int) -> Curvature:
    from .landscape import _step_index, history_penalty, model_and_loss

    if method not in ("auto", "exact", "power"):
        raise BackpropvizError(f"unknown curvature method {method!r}; choose one of: auto, exact, power")
    row = _step_index(history, step)
    model, loss_fn = model_and_loss(history)
    penalty = history_penalty(history, model)
    flat = history.params[row].astype(np.float64)
    P = flat.size
    exact = method == "exact" or (method == "auto" and P <= EXACT_MAX_PARAMS)
    lr_used = _lr_at(history, row)
    if exact:
        H = hessian_matrix(model, loss_fn, history.X, history.y, flat, penalty=penalty)
        H = 0.5 * (H + H.T)
        eig = np.linalg.eigvalsh(H)
        lam = float(eig[-1])
        return Curvature(step=row, lambda_max=lam, lr_max=stable_lr(lam), lr_used=lr_used, method="exact",
                         eigenvalues=eig, hessian=H, param_names=list(history.param_names),
                         lambda_min=float(eig[0]))
    lam = top_eigenvalue(model, loss_fn, history.X, history.y, flat, iters=iters, penalty=penalty)
    low = smallest_eigenvalue(model, loss_fn, history.X, history.y, flat, penalty=penalty)
    return Curvature(step=row, lambda_max=lam, lr_max=stable_lr(lam), lr_used=lr_used, method="power",
                     param_names=list(history.param_names), lambda_min=low)


def _lr_at(history: History, row: int) -> float | None:
    lrs = getattr(history, "lr", None)
    if lrs is not None and len(lrs):
        return float(lrs[min(row, len(lrs) - 1)])
    lr = history.config.get("lr")
    return None if lr is None else float(lr)


def lambda_max_along_path(history: History, steps=None, *, max_points: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, lambda_max)`` along the recorded path: exact Hessians at every step or (default)
    at most ``max_points`` evenly spaced ones, the first and last included. Small models only."""
    steps, eig = eigenvalues_along_path(history, steps, max_points=max_points)
    return steps, eig[:, -1] if len(steps) else np.zeros(0)


def eigenvalues_along_path(history: History, steps=None, *, max_points: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, eigenvalues (S, P) ascending)`` of the exact Hessian along the recorded path, at
    every step or (default) at most ``max_points`` evenly spaced ones, the first and last
    included: column 0 is lambda_min, column -1 lambda_max. Small models only."""
    from .landscape import history_penalty, model_and_loss

    model, loss_fn = model_and_loss(history)
    if history.params.shape[1] > EXACT_MAX_PARAMS:
        raise BackpropvizError(
            f"the curvature along the path needs exact Hessians (at most {EXACT_MAX_PARAMS} parameters); "
            f"this model has {history.params.shape[1]}: use curvature_at(step) instead")
    rows = history.params.shape[0]
    if steps is None:
        steps = np.unique(np.linspace(0, rows - 1, min(rows, max_points)).round().astype(int))
    steps = np.asarray(steps)
    f = _objective(model, loss_fn, history.X, history.y, history_penalty(history, model))
    if len(steps) == 0:
        return steps, np.zeros((0, history.params.shape[1]))
    with _few_threads(history):
        H = hessians(f, torch.from_numpy(history.params[steps].astype(np.float64)))
    return steps, np.linalg.eigvalsh(0.5 * (H + np.swapaxes(H, 1, 2)))
