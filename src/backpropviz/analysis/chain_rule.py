"""The chain rule of one perceptron step, written out sample by sample (closed form, float64).

For ``y_hat = sigmoid(z)``, ``z = w . x + b`` and the batch loss ``L = (1/N) sum_k l(y_hat_k, y_k)``:

    dL/dz_k  = dL/dy_hat_k * dy_hat_k/dz_k,    dy_hat/dz = y_hat (1 - y_hat)
    dL/dw_i  = sum_k dL/dz_k * x_ik,            dL/db = sum_k dL/dz_k

Every derivative here is the batch loss's (so it carries the 1/N of the mean); each sample's
row is therefore its own share, and the rows add up to the gradient backpropagation recorded.
Nothing here calls autograd: tests compare these formulas with the traced graph and the history.

>>> from backpropviz.config import RunConfig
>>> from backpropviz.train import train
>>> table = chain_rule_table(train(RunConfig(epochs=3)), step=0)
>>> bool(abs(table.grad - table.recorded_grad).max() < 1e-6)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BackpropvizError
from .graph_trace import check_step, step_batch, step_lr

LOSSES = ("bce", "mse")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def loss_and_derivative(loss: str, y_hat: np.ndarray, target: np.ndarray):
    """Per-sample loss l and dl/dy_hat, as torch computes them (BCE: log clamped at -100,
    its backward divides by max(y_hat (1 - y_hat), 1e-12))."""
    if loss == "bce":
        log_p = np.maximum(np.log(np.clip(y_hat, 0, None)), -100.0)
        log_q = np.maximum(np.log(np.clip(1 - y_hat, 0, None)), -100.0)
        value = -(target * log_p + (1 - target) * log_q)
        return value, (y_hat - target) / np.maximum(y_hat * (1 - y_hat), 1e-12)
    if loss == "mse":
        return (y_hat - target) ** 2, 2 * (y_hat - target)
    raise BackpropvizError(f"the chain-rule table knows the losses {', '.join(LOSSES)}; got {loss!r}")


@dataclass
class ChainRuleTable:
    """One step's chain rule. Per-sample arrays have one entry per sample of the step's batch.

    ``contrib[k]`` is sample k's share of ``(dL/dw1, ..., dL/dwD, dL/db)``; ``grad`` is their
    sum (plus the L1/L2 term, if the run has one); ``update = -lr * grad`` is what plain SGD
    adds to the parameters, ``lr`` being the rate this step used (schedules included).
    """

    step: int
    loss_name: str
    lr: float
    param_names: list[str]
    params: np.ndarray          # (D + 1,) before the step
    sample_indices: np.ndarray  # rows of the data set in this batch
    x: np.ndarray               # (N, D)
    z: np.ndarray
    y_hat: np.ndarray
    target: np.ndarray
    sample_loss: np.ndarray     # l_k
    dL_dyhat: np.ndarray        # (1/N) dl/dy_hat
    dyhat_dz: np.ndarray
    dL_dz: np.ndarray
    contrib: np.ndarray         # (N, D + 1)
    penalty_grad: np.ndarray    # (D + 1,): the L1/L2 term's gradient (zeros without one)
    grad: np.ndarray            # (D + 1,): sum of the shares plus the penalty term
    update: np.ndarray          # -lr * grad
    recorded_grad: np.ndarray
    recorded_change: np.ndarray  # params[t + 1] - params[t]
    recorded_loss: float
    plain_sgd: bool

    @property
    def n(self) -> int:
        return len(self.z)

    @property
    def loss(self) -> float:
        return float(self.sample_loss.mean())

    def __repr__(self) -> str:
        return (f"ChainRuleTable(step={self.step}, n={self.n}, loss={self.loss_name}, lr={self.lr}, "
                f"grad={np.round(self.grad, 6).tolist()})")

    def rows(self, sample: int | None = None) -> list[dict]:
        """One dict per sample (only ``sample`` when given): the table's columns by name."""
        if sample is not None and not 0 <= sample < self.n:
            raise BackpropvizError(
                f"--sample must be in 0..{self.n - 1} (this step's batch has {self.n} samples); got {sample}")
        ks = range(self.n) if sample is None else [sample]
        D = self.x.shape[1]
        out = []
        for k in ks:
            row = {"sample": int(self.sample_indices[k])}
            row.update({f"x{i + 1}": float(self.x[k, i]) for i in range(D)})
            row.update(z=float(self.z[k]), y_hat=float(self.y_hat[k]), y=float(self.target[k]),
                       dL_dyhat=float(self.dL_dyhat[k]), dyhat_dz=float(self.dyhat_dz[k]),
                       dL_dz=float(self.dL_dz[k]))
            row.update({f"dL_d{name}": float(self.contrib[k, j]) for j, name in enumerate(self.param_names)})
            out.append(row)
        return out


def is_plain_sgd(config: dict) -> bool:
    """Whether a run's update is exactly -lr * gradient (no momentum, no weight decay)."""
    return str(config.get("optimizer", "sgd")).lower() == "sgd" and not config.get("momentum") \
        and not config.get("weight_decay")


def is_perceptron_history(history) -> bool:
    """The article's perceptron (a sigmoid after w.x + b); a linear regression has the same
    parameters but no sigmoid, so its step is explained by the graph instead."""
    from ..train import is_regression

    names = list(history.param_names)
    D = history.X.shape[1]
    return names == [f"w{i + 1}" for i in range(D)] + ["b"] and not is_regression(history)


def chain_rule_table(history, step: int) -> ChainRuleTable:
    """The chain rule of step ``step`` of a perceptron run, from ``params[step]`` alone."""
    if not is_perceptron_history(history):
        shown = ", ".join(history.param_names[:6]) + (" ..." if len(history.param_names) > 6 else "")
        raise BackpropvizError(
            "the chain-rule table is written for the perceptron (parameters w1, w2, b); "
            f"got parameters [{shown}]; use the graph view (explain) for other models")
    step = check_step(history, step)
    config = history.config
    loss_name = str(config.get("loss", "bce")).lower()
    if loss_name == "ce":  # one sigmoid output: cross-entropy is BCE
        loss_name = "bce"
    lr = step_lr(history, step)
    idx = step_batch(history, step)
    params = history.params[step].astype(np.float64)
    w, b = params[:-1], params[-1]
    x = history.X[idx].astype(np.float64)
    target = history.y[idx].astype(np.float64)
    N = len(idx)

    z = x @ w + b
    y_hat = sigmoid(z)
    sample_loss, dl_dyhat = loss_and_derivative(loss_name, y_hat, target)
    dL_dyhat = dl_dyhat / N
    dyhat_dz = y_hat * (1 - y_hat)
    dL_dz = dL_dyhat * dyhat_dz
    contrib = np.concatenate([x * dL_dz[:, None], dL_dz[:, None]], axis=1)
    # training adds l1 * sum|w| + l2 * sum w^2 over the weights (not the bias)
    l1, l2 = float(config.get("l1") or 0), float(config.get("l2") or 0)
    penalty_grad = np.zeros_like(params)
    penalty_grad[:-1] = l1 * np.sign(w) + 2 * l2 * w
    grad = contrib.sum(axis=0) + penalty_grad
    plain = is_plain_sgd(config)
    return ChainRuleTable(
        step=step, loss_name=loss_name, lr=lr, param_names=list(history.param_names), params=params,
        sample_indices=idx, x=x, z=z, y_hat=y_hat, target=target, sample_loss=sample_loss,
        dL_dyhat=dL_dyhat, dyhat_dz=dyhat_dz, dL_dz=dL_dz, contrib=contrib, penalty_grad=penalty_grad,
        grad=grad,
        update=-lr * grad, recorded_grad=history.grads[step].astype(np.float64),
        recorded_change=(history.params[step + 1].astype(np.float64) - params),
        recorded_loss=float(history.loss[step]), plain_sgd=bool(plain))


# -- update vectors (any model) ------------------------------------------------------------------


@dataclass
class UpdateVectors:
    """The recorded update of chosen steps, and optionally each sample's share of it.

    ``update[i] = params[t + 1] - params[t]`` for ``t = steps[i]``; ``sgd_update[i]`` is
    ``-lr * grads[t]`` (the same for plain SGD). ``shares[i]`` is ``(N_t, P)``: sample k's part of
    ``sgd_update[i]`` (they add up to it); None unless asked for.
    """

    steps: np.ndarray
    start: np.ndarray
    update: np.ndarray
    sgd_update: np.ndarray
    param_names: list[str]
    lr: float
    shares: list[np.ndarray] | None = None
    share_samples: list[np.ndarray] | None = None  # data-set rows of each share

    def __repr__(self) -> str:
        return (f"UpdateVectors(steps={self.steps.tolist()}, params={len(self.param_names)}, "
                f"per_sample={self.shares is not None})")


def spread_steps(n_steps: int, count: int) -> np.ndarray:
    """``count`` steps evenly spread over ``0..n_steps - 1``, first and last included."""
    if n_steps <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.round(np.linspace(0, n_steps - 1, max(1, min(count, n_steps)))).astype(int))


def update_vectors(history, steps, *, per_sample: bool = False) -> UpdateVectors:
    """The updates of ``steps`` (validated), with per-sample shares from the traced graph."""
    steps = np.array([check_step(history, int(s)) for s in np.atleast_1d(steps)], dtype=int)
    rates = np.array([step_lr(history, int(t)) for t in steps])
    lr = float(rates[0]) if len(rates) else float(history.config.get("lr", 0.5))
    start = history.params[steps].astype(np.float64)
    update = history.params[steps + 1].astype(np.float64) - start
    sgd = -rates[:, None] * history.grads[steps].astype(np.float64)
    shares = samples = None
    if per_sample:
        from .graph_trace import trace_history_step

        shares, samples = [], []
        for t in steps:
            trace = trace_history_step(history, int(t), collapse=False, per_sample=True)
            params = [n for n in trace.nodes if n.kind == "param"]
            order = {n: i for i, n in enumerate(history.param_names)}
            share = np.zeros((trace.n_samples, len(history.param_names)))
            for node in params:
                cols = [order[name] for name in node.param_names]
                share[:, cols] = trace.contributions[node.id].reshape(trace.n_samples, -1)
            shares.append(-step_lr(history, int(t)) * share)
            samples.append(trace.sample_indices)
    return UpdateVectors(steps=steps, start=start, update=update, sgd_update=sgd,
                         param_names=list(history.param_names), lr=lr, shares=shares,
                         share_samples=samples)


@dataclass
class GradientField:
    """``-dL/d(axis)`` on a grid of a plane: ``u[j, i], v[j, i]`` at ``(x[i], y[j])``."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def __repr__(self) -> str:
        return f"GradientField(grid={self.u.shape})"


def gradient_field(history, landscape, *, resolution: int = 15) -> GradientField:
    """The descent direction -grad L over ``landscape``'s plane, on the whole data set.

    The gradient of the objective training minimised (data loss plus any L1/L2 term) with
    respect to the flat parameters is projected onto the plane's two directions, so the field
    agrees with the contours drawn from the same plane.
    """
    import torch
    from torch.func import functional_call, grad, vmap

    from ..config import RunConfig
    from ..losses import get_loss
    from ..models import unflatten
    from ..train import model_at
    from .landscape import history_penalty

    if resolution < 2:
        raise BackpropvizError(f"field resolution must be >= 2; got {resolution}")
    xs = np.linspace(landscape.alpha[0], landscape.alpha[-1], resolution)
    ys = np.linspace(landscape.beta[0], landscape.beta[-1], resolution)
    XX, YY = np.meshgrid(xs, ys)
    d = np.asarray(landscape.directions, dtype=np.float64)
    points = landscape.origin[None, :] + XX.reshape(-1, 1) * d[0] + YY.reshape(-1, 1) * d[1]

    model = model_at(history, -1).to(torch.float64)
    loss_fn = get_loss(RunConfig.from_dict(history.config).loss)
    penalty = history_penalty(history, model)
    X = torch.as_tensor(history.X, dtype=torch.float64)
    y = torch.as_tensor(history.y, dtype=torch.float64).reshape(-1, 1)

    def loss_at(flat):
        value = loss_fn(functional_call(model, unflatten(model, flat), (X,)), y)
        return value if penalty is None else value + penalty(flat[None])[0]

    g = vmap(grad(loss_at))(torch.as_tensor(points)).numpy()
    return GradientField(x=xs, y=ys, u=-(g @ d[0]).reshape(XX.shape), v=-(g @ d[1]).reshape(XX.shape))


# -- the chain rule layer by layer (any stack of layers, e.g. an MLP) ---------------------------------

# Local derivative f'(z) of an elementwise activation, from its input z, its output a and the
# layer's settings (GraphNode.attrs): (LaTeX template with {z} and {a}, function).
ACTIVATION_DERIVATIVES = {
    "Tanh": ("1 - {a}^2", lambda z, a, **_: 1.0 - a ** 2),
    "Sigmoid": ("{a}(1 - {a})", lambda z, a, **_: a * (1.0 - a)),
    "ReLU": ("\\mathbb{{1}}[{z} > 0]", lambda z, a, **_: (z > 0).astype(float)),
    # torch's rule: slope alpha (the layer's negative_slope) for z <= 0, z = 0 included
    "LeakyReLU": ("\\mathbb{{1}}[{z} > 0] + \\alpha\\,\\mathbb{{1}}[{z} \\le 0]",
                  lambda z, a, negative_slope=0.01, **_: np.where(z > 0, 1.0, negative_slope)),
    "Identity": ("1", lambda z, a, **_: np.ones_like(a)),
}


@dataclass
class LayerBackward:
    """One layer's backward step, as numbers of the batch (or of one sample).

    ``kind`` is ``"linear"`` (``out = a_in W^T + b``), ``"activation"`` (elementwise, rule in
    ``ACTIVATION_DERIVATIVES``) or ``"other"`` (only autograd's numbers). ``d_out`` is dL/d(out);
    ``d_in`` is dL/d(input) by the layer's local rule (autograd's where there is no rule), and
    ``d_in_autograd`` what autograd computed for the input node. ``params`` maps the torch name
    of each parameter to ``(value, gradient by the rule, autograd's gradient)``; with one sample,
    the gradients are that sample's share.
    """

    name: str
    kind: str
    op: str
    input_name: str
    a_in: np.ndarray
    out: np.ndarray
    d_out: np.ndarray
    d_in: np.ndarray | None
    d_in_autograd: np.ndarray | None
    local: np.ndarray | None = None          # f'(z) of an activation
    params: dict = None

    def __repr__(self) -> str:
        return f"LayerBackward({self.name!r}, {self.kind}, params={list(self.params or {})})"


def layer_backward(trace, sample: int | None = None) -> list[LayerBackward]:
    """The chain rule of a collapsed trace (one node per layer), from the loss back to the input.

    Each layer's input gradient and parameter gradients are recomputed from its output gradient
    with the layer's own rule (``dW = delta^T a_in``, ``db = sum_k delta_k``, ``d a_in = delta W``,
    ``dz = da * f'(z)``), so they can be set beside autograd's numbers.
    """
    if not trace.collapsed:
        raise BackpropvizError("layer_backward needs a trace with one node per layer (collapse=True)")
    trace.check_sample(sample)
    by_id = {n.id: n for n in trace.nodes}
    source = {}
    for e in trace.edges:
        if by_id[e.src].kind in ("input", "layer", "op"):
            source.setdefault(e.dst, by_id[e.src])
    rows = []
    for node in trace.nodes:
        if node.kind != "layer" or node.id not in source:
            continue
        src = source[node.id]
        a_in, d_in_ag = trace.numbers(src, sample)
        out, d_out = trace.numbers(node, sample)
        a_in, out = np.asarray(a_in, float), np.asarray(out, float)
        d_out = np.asarray(d_out, float)
        names = list(node.layer_params)
        weight = next((n for n in names if n.endswith("weight")), None)
        bias = next((n for n in names if n.endswith("bias")), None)
        params, local = {}, None
        if node.op == "Linear" and weight is not None and set(names) <= {weight, bias}:
            kind = "linear"
            W = np.asarray(node.layer_params[weight][0], float)
            a2, d2 = np.atleast_2d(a_in), np.atleast_2d(d_out)
            params[weight] = (W, d2.T @ a2, trace.layer_param_numbers(node, weight, sample)[1])
            if bias is not None:
                params[bias] = (node.layer_params[bias][0], d2.sum(0),
                                trace.layer_param_numbers(node, bias, sample)[1])
            d_in = (d2 @ W).reshape(a_in.shape)
        elif node.op in ACTIVATION_DERIVATIVES and not names:
            kind = "activation"
            local = ACTIVATION_DERIVATIVES[node.op][1](a_in, out, **node.attrs)
            d_in = d_out * local
        else:
            kind = "other"
            d_in = None if d_in_ag is None else np.asarray(d_in_ag, float)
            for n in names:
                value, g = trace.layer_param_numbers(node, n, sample)
                params[n] = (value, g, g)
        rows.append(LayerBackward(name=node.name, kind=kind, op=node.op, input_name=src.name, a_in=a_in,
                                  out=out, d_out=d_out, d_in=d_in,
                                  d_in_autograd=None if d_in_ag is None else np.asarray(d_in_ag, float),
                                  local=local, params=params))
    return rows[::-1]


def flat_slice(param_names, torch_name: str) -> np.ndarray:
    """Indices of ``torch_name``'s elements among a History's flat names ('0.weight[1,0]', ...)."""
    return np.array([i for i, n in enumerate(param_names)
                     if n == torch_name or n.startswith(torch_name + "[")], dtype=int)
