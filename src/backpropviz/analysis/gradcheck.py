"""Gradient check: backpropagation's gradient against central finite differences, in float64.

    dL/dtheta_i  ~  (L(theta + eps e_i) - L(theta - eps e_i)) / (2 eps)

Both sides are evaluated in float64 at ``params[step]`` on the step's batch; the float32
gradient that training recorded is shown beside them. The 2P perturbed losses are evaluated
in one vectorised call (``landscape.evaluate``).

``gradcheck_module`` does the same for any ``nn.Module`` on any batch (images, class indices):
BatchNorm in training mode uses each perturbed batch's statistics, as backpropagation does;
Dropout in training mode keeps the masks that the float32 pass drew, so every evaluation sees
the same network. A large model is checked on a seeded sample of each parameter tensor's
elements (``per_tensor``), and the result says so, layer by layer (``GradCheck.layers``).
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
    """Per-parameter gradients from backpropagation and from finite differences.

    ``indices`` are the flat parameter indices checked (None: all ``n_params``); ``layers_of``
    the module each checked element belongs to (``gradcheck_module``). ``noise`` is the
    finite differences' own rounding error, ``(|L| + 1) 2^-52 / eps`` times a margin of 100:
    a gradient that is zero in theory (a bias before a BatchNorm) comes out ~1e-10 by finite
    differences, and both sides within ``noise`` of zero count as agreeing.
    """

    step: int | None
    param_names: list[str]
    backprop: np.ndarray      # float64 autograd
    finite_diff: np.ndarray   # float64 central differences
    recorded: np.ndarray | None  # what training recorded (float32), if from a history
    eps: float
    indices: np.ndarray | None = None
    n_params: int | None = None
    layers_of: list[str] | None = None
    layer_sizes: dict | None = None  # layer -> its number of trainable parameters (with layers_of)
    noise: float = 0.0
    seed: int | None = None  # of the sample of parameters (None: every parameter checked)
    loss: float = float("nan")  # the float64 loss at the point checked
    per_tensor: int | None = None  # elements sampled per parameter tensor (None: all)

    @property
    def sampled(self) -> bool:
        return self.n_params is not None and len(self.param_names) < self.n_params

    @property
    def abs_error(self) -> np.ndarray:
        return np.abs(self.backprop - self.finite_diff)

    @property
    def rel_error(self) -> np.ndarray:
        """|bp - fd| / max(|bp|, |fd|, 1e-10): the usual relative error, safe at zero. Where
        both sides are within the finite differences' rounding (``noise``) of zero, they agree
        (0): finite differences cannot tell such a gradient from zero."""
        size = np.maximum(np.abs(self.backprop), np.abs(self.finite_diff))
        error = self.abs_error
        return np.where(size <= self.noise, 0.0, error / np.maximum(size, 1e-10))

    def layers(self) -> list[dict]:
        """One row per layer: ``layer``, ``checked`` (elements), ``total``, ``max_abs_grad``,
        ``max_rel_error``, in the model's order."""
        if self.layers_of is None:
            return []
        rows: dict[str, dict] = {}
        rel = self.rel_error
        for i, layer in enumerate(self.layers_of):
            row = rows.setdefault(layer, dict(layer=layer, checked=0, total=(self.layer_sizes or {}).get(layer, 0),
                                              max_abs_grad=0.0, max_rel_error=0.0))
            row["checked"] += 1
            row["max_abs_grad"] = max(row["max_abs_grad"], float(abs(self.backprop[i])))
            row["max_rel_error"] = max(row["max_rel_error"], float(rel[i]))
        return list(rows.values())

    @property
    def max_rel_error(self) -> float:
        return float(self.rel_error.max()) if self.rel_error.size else 0.0

    def passed(self, tol: float = 1e-6) -> bool:
        return self.max_rel_error <= tol

    def __repr__(self) -> str:
        return (f"GradCheck(step={self.step}, params={len(self.param_names)}, eps={self.eps:g}, "
                f"max_rel_error={self.max_rel_error:.2e})")


def gradcheck_model(model: torch.nn.Module, loss_fn, X, y, *, eps: float = 1e-6,
                    param_names: list[str] | None = None, penalty=None, indices=None,
                    prepare=None) -> GradCheck:
    """Compare autograd's gradient with central differences for ``loss_fn(model(X), y)``.

    ``penalty(points (k, P)) -> (k,)`` is added to the loss when given (a run's L1/L2 term).
    ``indices``: the flat parameter indices to check (default: all). ``prepare(float64 copy)``
    may fix what must not change between evaluations (``gradcheck_module``: dropout masks).
    """
    from ..models import get_flat, param_names as names_of

    if not eps > 0:
        raise BackpropvizError(f"--eps must be > 0; got {eps}")
    skeleton = _float64_copy(model)  # float32 -> float64 is exact: the same point, more digits
    if prepare is not None:
        prepare(skeleton)
    flat = get_flat(skeleton).to(torch.float64)
    device = flat.device
    Xt = _as_float64(X, device)
    yt = _as_float64(y, device)
    P = flat.numel()
    idx = torch.arange(P) if indices is None else torch.as_tensor(np.asarray(indices), dtype=torch.long)
    if param_names is not None:
        names = [list(param_names)[i] for i in idx.tolist()] if indices is not None else list(param_names)
    else:
        names = names_of(model) if indices is None else flat_names(model, idx.tolist())

    def objective(theta):
        out = functional_call(skeleton, unflatten(skeleton, theta), (Xt,))
        target = yt
        if yt.is_floating_point():  # (N,) targets of an (N, 1) output, as training shapes them
            target = yt.reshape(out.shape) if yt.numel() == out.numel() else yt
        value = loss_fn(out, target)
        return value if penalty is None else value + penalty(theta[None])[0]

    theta = flat.clone().requires_grad_(True)
    loss = objective(theta)
    with torch.no_grad():
        again = float(objective(flat))
    if not np.isclose(again, float(loss.detach()), rtol=1e-12, atol=0):
        raise BackpropvizError(
            f"the loss is not the same twice at the same parameters ({float(loss.detach()):.12g}, then {again:.12g}): "
            "the forward pass draws random numbers that are not an nn.Dropout module's (F.dropout?); finite "
            "differences need one fixed network: use nn.Dropout modules or eval mode (--eval-mode)")
    backprop = torch.autograd.grad(loss, theta)[0][idx.to(device)].cpu().numpy()

    shifts = torch.zeros((len(idx), P), dtype=torch.float64, device=device)
    shifts[torch.arange(len(idx)), idx.to(device)] = eps
    points = torch.cat([flat + shifts, flat - shifts])
    values = _losses(objective, points)
    k = len(idx)
    finite = (values[:k] - values[k:]) / (2 * eps)
    return GradCheck(step=None, param_names=names, backprop=backprop, finite_diff=finite,
                     recorded=None, eps=eps, indices=None if indices is None else idx.numpy(),
                     n_params=P, loss=float(loss.detach()))


def _as_float64(a, device) -> torch.Tensor:
    """A batch or its targets on ``device``: floats in float64, class indices as they are."""
    t = a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    t = t.detach().to(device)
    return t.to(torch.float64) if t.is_floating_point() else t


def flat_names(model: torch.nn.Module, indices) -> list[str]:
    """The History-style names (``features.0.weight[3,0,1,2]``) of the flat parameter ``indices``,
    without spelling out the names of all the others."""
    bounds, offset = [], 0
    for name, p in model.named_parameters():
        bounds.append((offset, offset + p.numel(), name, tuple(p.shape)))
        offset += p.numel()
    names = []
    for i in indices:
        start, _, name, shape = next(b for b in bounds if b[0] <= i < b[1])
        where = np.unravel_index(i - start, shape) if shape else ()
        names.append(f"{name}[{','.join(str(int(w)) for w in where)}]" if shape else name)
    return names


def sample_indices(model: torch.nn.Module, per_tensor: int | None, seed: int = 0) -> np.ndarray:
    """Flat indices of the trainable parameters: all of each tensor, or a seeded sample of
    ``per_tensor`` of its elements (without repeats, in order) where it has more."""
    rng = np.random.default_rng(seed)
    chosen, offset = [], 0
    for p in model.parameters():
        n = p.numel()
        if p.requires_grad:
            local = np.arange(n) if per_tensor is None or n <= per_tensor else \
                np.sort(rng.choice(n, per_tensor, replace=False))
            chosen.append(offset + local)
        offset += n
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)


# A model with more parameters than this is checked on a sample of each tensor (gradcheck_module).
FULL_CHECK_LIMIT = 512
SAMPLE_PER_TENSOR = 8


def gradcheck_module(model: torch.nn.Module, loss_fn, X, y, *, eps: float = 1e-6,
                     per_tensor: int | str | None = "auto", seed: int = 0) -> GradCheck:
    """The gradient check of any module at its current parameters on the batch ``(X, y)``,
    layer by layer (``GradCheck.layers``).

    ``per_tensor``: how many elements of each parameter tensor to check (a seeded sample;
    ``None``: all); ``"auto"``: all up to ``FULL_CHECK_LIMIT`` parameters, else
    ``SAMPLE_PER_TENSOR``. ``recorded`` is the float32 gradient backpropagation computes for
    the model as it is, with the same dropout masks. The model itself is left as it was
    (parameters, ``.grad``, buffers, the random stream).

    >>> import torch; from torch import nn; import torch.nn.functional as F
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    >>> check = gradcheck_module(net, F.cross_entropy, torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1]))
    >>> check.passed(), [row["layer"] for row in check.layers()]
    (True, ['0', '2'])
    """
    if not eps > 0:
        raise BackpropvizError(f"eps must be > 0; got {eps}")
    n_params = sum(p.numel() for p in model.parameters())
    if per_tensor == "auto":
        per_tensor = None if n_params <= FULL_CHECK_LIMIT else SAMPLE_PER_TENSOR
    if per_tensor is not None and (not isinstance(per_tensor, (int, np.integer)) or per_tensor < 1):
        raise BackpropvizError(f"per_tensor must be a whole number >= 1, None or 'auto'; got {per_tensor!r}")
    indices = sample_indices(model, per_tensor, seed)
    if indices.size == 0:
        raise BackpropvizError("the model has no trainable parameters to check")
    masks, recorded = _float32_gradient(model, loss_fn, X, y, seed)
    check = gradcheck_model(model, loss_fn, X, y, eps=eps, indices=indices,
                            prepare=lambda copy: _replay_dropout(copy, masks))
    check.recorded = recorded[indices]
    check.indices = indices
    check.seed = seed if check.sampled else None
    check.per_tensor = per_tensor
    owner, sizes = [], {}
    for name, p in model.named_parameters():
        layer = name.rpartition(".")[0] or name
        owner += [layer] * p.numel()
        sizes[layer] = sizes.get(layer, 0) + (p.numel() if p.requires_grad else 0)
    check.layers_of = [owner[i] for i in indices]
    check.layer_sizes = sizes
    # the rounding of (L(θ+ε) - L(θ-ε)) / 2ε in float64, with a margin of 100
    check.noise = 100 * (abs(check.loss) + 1) * np.finfo(np.float64).eps / eps
    return check


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
    return torch.cat(out).cpu().numpy()


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


def _dropouts(model: torch.nn.Module):
    """The multiplicative dropout layers in training mode (Dropout, Dropout1d/2d/3d)."""
    from torch import nn

    kinds = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds) and m.training]


def _float32_gradient(model, loss_fn, X, y, seed: int):
    """``(masks, gradient)``: the model's own float32 backpropagation on ``(X, y)`` with the
    random stream seeded by ``seed``, and the mask each dropout layer in training mode drew
    (``{module name: [mask per call]}``, scaled by 1/(1-p) as dropout scales). The model's
    buffers, ``.grad`` and the caller's random stream are left as they were."""
    first = next(model.parameters())
    Xt = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
    Xt = Xt.to(first.device)
    Xt = Xt.to(first.dtype) if Xt.is_floating_point() else Xt
    yt = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    yt = yt.to(first.device)
    yt = yt.to(first.dtype) if yt.is_floating_point() else yt
    masks: dict[str, list] = {}
    handles = []
    for name, module in _dropouts(model):
        def pre(m, inputs, name=name):
            # the mask this call is about to draw: the same draw, made on ones, from the same state
            state = torch.get_rng_state() if inputs[0].device.type == "cpu" else \
                torch.cuda.get_rng_state(inputs[0].device)
            with torch.no_grad():
                mask = type(m).forward(m, torch.ones_like(inputs[0]))
            if inputs[0].device.type == "cpu":
                torch.set_rng_state(state)
            else:
                torch.cuda.set_rng_state(state, inputs[0].device)
            masks.setdefault(name, []).append(mask.detach())
        handles.append(module.register_forward_pre_hook(pre))
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    params = [p for p in model.parameters()]
    device = first.device
    try:
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            out = model(Xt)
            target = yt.reshape(out.shape) if yt.is_floating_point() and yt.numel() == out.numel() else yt
            loss = loss_fn(out, target)
        grads = torch.autograd.grad(loss, [p for p in params if p.requires_grad], allow_unused=True)
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
    it = iter(grads)
    flat = [(next(it) if p.requires_grad else None) for p in params]
    flat = torch.cat([(g if g is not None else torch.zeros_like(p)).detach().reshape(-1).to(torch.float64).cpu()
                      for g, p in zip(flat, params)])
    return masks, flat.numpy()


def _replay_dropout(model64: torch.nn.Module, masks: dict) -> None:
    """Make each dropout layer of the float64 copy multiply by the masks the float32 pass drew
    (call by call, every time the copy is evaluated), instead of drawing new ones."""
    import types

    for name, module in _dropouts(model64):
        drawn = [m.to(torch.float64) for m in masks.get(name, [])]
        if not drawn:
            continue
        calls = [0]

        def forward(self, x, drawn=drawn, calls=calls):
            mask = drawn[calls[0] % len(drawn)]
            calls[0] += 1
            return x * mask

        module.forward = types.MethodType(forward, module)
