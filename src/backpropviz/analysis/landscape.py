"""Loss landscapes: the loss over a plane of parameter space, evaluated in one batched computation.

A plane is ``origin + a * directions[0] + b * directions[1]``. ``param_plane`` is the article's
slice: two named parameters vary, every other parameter stays fixed at the centre step's value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.func import functional_call, vmap

from ..config import RunConfig
from ..errors import BackpropvizError
from ..history import History, atomic_write
from ..losses import get_loss
from ..models import build_model, unflatten


@dataclass
class Landscape:
    """The landscape file of DESIGN.md: ``loss[j, i]`` is the loss at ``(alpha[i], beta[j])``."""

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

    @property
    def fixed(self) -> dict[str, float]:
        """Parameters held fixed on this plane (name -> value), as recorded in ``config``."""
        return dict(self.config.get("fixed", {}))

    def save(self, path) -> Path:
        arrays = dict(alpha=self.alpha, beta=self.beta, loss=self.loss, origin=self.origin,
                      directions=self.directions, path=self.path, method=np.array(self.method),
                      axis_names=np.array(self.axis_names),
                      config=np.array(json.dumps(self.config, sort_keys=True)))
        if self.path_loss is not None:
            arrays["path_loss"] = self.path_loss
        path = Path(path)
        atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
        return path


def model_and_loss(history: History):
    """A model skeleton of the history's kind and its loss function (for functional calls)."""
    config = RunConfig.from_dict(history.config)
    model = build_model(config.model, history.X.shape[1], seed=config.seed)
    return model, get_loss(config.loss)


def evaluate(model: torch.nn.Module, loss_fn, X, y, points, *, chunk: int = 65536,
             dtype=torch.float32) -> np.ndarray:
    """Loss of ``model`` on ``(X, y)`` at each row of ``points`` (G, P), vectorised with vmap.

    Points are processed in chunks so that memory stays bounded.
    """
    X = torch.as_tensor(np.asarray(X), dtype=dtype)
    y = torch.as_tensor(np.asarray(y), dtype=dtype).reshape(-1, 1)
    points = torch.as_tensor(np.asarray(points), dtype=dtype)
    if dtype != torch.float32:
        model = model.to(dtype)

    def loss_at(flat):
        return loss_fn(functional_call(model, unflatten(model, flat), (X,)), y)

    batched = vmap(loss_at)
    out = torch.empty(points.shape[0], dtype=dtype)
    with torch.no_grad():
        for start in range(0, points.shape[0], chunk):
            out[start : start + chunk] = batched(points[start : start + chunk])
    return out.numpy()


def grid_axis(center: float, span: float, resolution: int) -> np.ndarray:
    return np.linspace(center - span, center + span, resolution)


def param_plane(history: History, x_name: str = "w1", y_name: str = "w2", *, center_step: int = -1,
                span: float = 8.0, resolution: int = 50,
                x_range: tuple[float, float] | None = None,
                y_range: tuple[float, float] | None = None) -> Landscape:
    """The loss over two named parameters, the others fixed at ``params[center_step]``.

    The default is the article's slice: (w1, w2) over final value +-8 at 50 x 50 points, b fixed
    at its final value. ``path`` is the recorded trajectory in (x, y); ``path_loss`` is the loss
    of each path point *on this slice* (what the article draws), which differs from the loss
    training saw whenever a fixed parameter moved during training.
    """
    if resolution < 2:
        raise BackpropvizError(f"surface resolution must be >= 2; got {resolution}")
    if not span > 0:
        raise BackpropvizError(f"surface span must be > 0; got {span}")
    ix, iy = history.index(x_name), history.index(y_name)
    if ix == iy:
        raise BackpropvizError(f"the two surface axes must differ; got {x_name!r} twice")
    center = history.params[center_step].astype(np.float64)
    xs = np.linspace(*x_range, resolution) if x_range else grid_axis(center[ix], span, resolution)
    ys = np.linspace(*y_range, resolution) if y_range else grid_axis(center[iy], span, resolution)
    XX, YY = np.meshgrid(xs, ys)
    pts = np.repeat(center[None, :], XX.size, axis=0)
    pts[:, ix], pts[:, iy] = XX.ravel(), YY.ravel()

    path = history.params[:, [ix, iy]].astype(np.float64)
    on_slice = np.repeat(center[None, :], len(path), axis=0)
    on_slice[:, [ix, iy]] = path

    model, loss_fn = model_and_loss(history)
    values = evaluate(model, loss_fn, history.X, history.y, np.concatenate([pts, on_slice]))
    surface, path_loss = values[: XX.size].reshape(XX.shape), values[XX.size :]

    directions = np.zeros((2, len(center)))
    directions[0, ix] = directions[1, iy] = 1.0
    origin = center.copy()
    origin[[ix, iy]] = 0.0
    fixed = {n: float(center[k]) for k, n in enumerate(history.param_names) if k not in (ix, iy)}
    step = center_step if center_step >= 0 else history.n_steps + 1 + center_step
    return Landscape(alpha=xs, beta=ys, loss=surface, origin=origin, directions=directions,
                     path=path, method="params", axis_names=(x_name, y_name), path_loss=path_loss,
                     config={"fixed": fixed, "center_step": int(step), "span": span,
                             "resolution": resolution, "run": history.config})


def losses_along_path(history: History) -> np.ndarray:
    """Loss on the whole training set at every recorded parameter row (T + 1 values)."""
    model, loss_fn = model_and_loss(history)
    return evaluate(model, loss_fn, history.X, history.y, history.params)
