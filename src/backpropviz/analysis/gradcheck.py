"""Gradient check: backpropagation's gradient against central finite differences, in float64.

    dL/dtheta_i  ~  (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)

Both sides are evaluated in float64 at ``params[step]`` on the step's batch; the float32
gradient that training recorded is shown beside them. The 2P perturbed losses are evaluated
in one vectorised call (``landscape.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call

from ..errors import BackpropvizError
from ..models import unflatten
from .graph_trace import check_step, step_batch


@dataclass
class GradCheck:
    """Per-parameter gradients from backpropagation and from finite differences."""

    step: int | None
    param_names: list[str]
    backprop: np.ndarray      # float64 autograd
    finite_diff: np.ndarray   # float64 central differences
    recorded: np.ndarray | None  # what training recorded (float32), if from a history
    eps: float

    @property
    def abs_error(self) -> np.ndarray:
        return np.abs(self.backprop - self.finite_diff)

    @property
    def rel_error(self) -> np.ndarray:
        """|bp - fd| / max(|bp|, |fd|, 1e-10): the usual relative error, safe at zero."""
        scale = np.maximum(np.maximum(np.abs(self.backprop), np.abs(self.finite_diff)), 1e-10)
        return self.abs_error / scale

    @property
    def max_rel_error(self) -> float:
        return float(self.rel_error.max()) if self.rel_error.size else 0.0

    def passed(self, tol: float = 1e-6) -> bool:
        return self.max_rel_error <= tol

    def __repr__(self) -> str:
        return (f"GradCheck(step={self.step}, params={len(self.param_names)}, eps={self.eps:g}, "
                f"max_rel_error={self.max_rel_error:.2e})")


def gradcheck_model(model: torch.nn.Module, loss_fn, X, y, *, eps: float = 1e-6,
                    param_names: list[str] | None = None, penalty=None) -> GradCheck:
    """Compare autograd's gradient with central differences for ``loss_fn(model(X), y)``.

    ``penalty(points (k, P)) -> (k,)`` is added to the loss when given (a run's L1/L2 term).
    """
    from ..models import get_flat, param_names as names_of

    if not eps > 0:
        raise BackpropvizError(f"--eps must be > 0; got {eps}")
    names = list(param_names) if param_names is not None else names_of(model)
    skeleton = _float64_copy(model)  # float32 -> float64 is exact: the same point, more digits
    flat = get_flat(skeleton).to(torch.float64)
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float64).reshape(-1, 1)

    def objective(theta):
        value = loss_fn(functional_call(skeleton, unflatten(skeleton, theta), (Xt,)), yt)
        return value if penalty is None else value + penalty(theta[None])[0]

    theta = flat.clone().requires_grad_(True)
    backprop = torch.autograd.grad(objective(theta), theta)[0].numpy()

    P = flat.numel()
    shifts = torch.eye(P, dtype=torch.float64) * eps
    points = torch.cat([flat + shifts, flat - shifts])
    values = _losses(objective, points)
    finite = (values[:P] - values[P:]) / (2 * eps)
    return GradCheck(step=None, param_names=names, backprop=backprop, finite_diff=finite,
                     recorded=None, eps=eps)


def _losses(objective, points: torch.Tensor, chunk: int = 512) -> np.ndarray:
    """``objective`` at each row of ``points``: vectorised with vmap, in chunks."""
    from torch.func import vmap

    out = []
    with torch.no_grad():
        try:
            batched = vmap(objective)
            for start in range(0, len(points), chunk):
                out.append(batched(points[start : start + chunk]))
        except RuntimeError:
            # vmap refuses some modules (e.g. a custom autograd.Function without
            # setup_context): evaluate the points one by one instead.
            out = [torch.stack([objective(p) for p in points])]
    return torch.cat(out).numpy()


def gradcheck_step(history, step: int, *, eps: float = 1e-6) -> GradCheck:
    """The gradient check at ``params[step]`` on step ``step``'s batch of a recorded run."""
    from ..config import RunConfig
    from ..losses import get_loss
    from ..train import model_at

    step = check_step(history, step)
    idx = step_batch(history, step)
    model = model_at(history, step)
    from .landscape import history_penalty

    check = gradcheck_model(model, get_loss(RunConfig.from_dict(history.config).loss),
                            history.X[idx], history.y[idx], eps=eps, param_names=history.param_names,
                            penalty=history_penalty(history, model))
    check.step = step
    check.recorded = history.grads[step].astype(np.float64)
    return check


def _float64_copy(model: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model).to(torch.float64)
