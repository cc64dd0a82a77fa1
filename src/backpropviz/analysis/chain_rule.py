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
from .graph_trace import check_step, step_batch

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
    sum; ``update = -lr * grad`` is what plain SGD adds to the parameters.
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
    grad: np.ndarray            # (D + 1,)
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


def is_perceptron_history(history) -> bool:
    names = list(history.param_names)
    D = history.X.shape[1]
    return names == [f"w{i + 1}" for i in range(D)] + ["b"]


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
    lr = float(config.get("lr", 0.5))
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
    grad = contrib.sum(axis=0)
    plain = str(config.get("optimizer", "sgd")).lower() == "sgd" and not config.get("momentum", 0) \
        and not config.get("weight_decay", 0)
    return ChainRuleTable(
        step=step, loss_name=loss_name, lr=lr, param_names=list(history.param_names), params=params,
        sample_indices=idx, x=x, z=z, y_hat=y_hat, target=target, sample_loss=sample_loss,
        dL_dyhat=dL_dyhat, dyhat_dz=dyhat_dz, dL_dz=dL_dz, contrib=contrib, grad=grad,
        update=-lr * grad, recorded_grad=history.grads[step].astype(np.float64),
        recorded_change=(history.params[step + 1].astype(np.float64) - params),
        recorded_loss=float(history.loss[step]), plain_sgd=bool(plain))
