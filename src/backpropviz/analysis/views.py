"""Arrays behind the network views: layers, probabilities and hidden units over the input plane,
per-layer gradient norms, the epochs to show.

Nothing here draws; the renderers in ``render/`` take these arrays.

>>> from backpropviz.config import RunConfig                       # doctest: +SKIP
>>> from backpropviz.train import train                            # doctest: +SKIP
>>> h = train(RunConfig(data="xor", model="mlp:4"))                # doctest: +SKIP
>>> [layer.label for layer in layers(h.param_names)]               # doctest: +SKIP
['layer 1', 'layer 2']
>>> gradient_norms(h).shape                                        # doctest: +SKIP
(1000, 2)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import BackpropvizError

_ELEMENT = re.compile(r"^(?P<prefix>.*)\.(?P<kind>weight|bias)\[(?P<index>[\d,]+)\]$")
_PERCEPTRON_WEIGHT = re.compile(r"^w(?P<index>\d+)$")


@dataclass(frozen=True)
class Layer:
    """One linear layer: the flat-parameter columns of its weight matrix (out, in) and bias (out,)."""

    prefix: str  # the module's name in ``named_parameters()`` ("0", "2", ...), "" for the perceptron
    position: int  # 0 for the first layer
    weight: np.ndarray  # (n_out, n_in) column indices into History.params
    bias: np.ndarray | None  # (n_out,) column indices, or None

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def columns(self) -> np.ndarray:
        """Every parameter column of the layer, weights first."""
        parts = [self.weight.ravel()] + ([self.bias] if self.bias is not None else [])
        return np.concatenate(parts)

    @property
    def label(self) -> str:
        return f"layer {self.position + 1}"

    def __repr__(self) -> str:
        return f"Layer({self.label}: {self.n_in}->{self.n_out}, prefix={self.prefix!r})"


def layers(param_names) -> list[Layer]:
    """The linear layers described by flat parameter names, in order.

    Names are ``prefix.weight[i,j]`` / ``prefix.bias[i]`` (any ``nn.Sequential`` of linear
    layers), or the article perceptron's ``w1, w2, ..., b``. Raises for names of another shape.
    """
    names = [str(n) for n in param_names]
    weights = [_PERCEPTRON_WEIGHT.match(n) for n in names[:-1]]
    if names and names[-1] == "b" and all(weights):
        cols = np.arange(len(names) - 1, dtype=np.int64).reshape(1, -1)
        return [Layer("", 0, cols, np.array([len(names) - 1], dtype=np.int64))]
    found: dict[str, dict[str, dict[tuple[int, ...], int]]] = {}
    for col, name in enumerate(names):
        m = _ELEMENT.match(name)
        if m is None:
            raise BackpropvizError(
                f"the network views need linear layers (parameters named like 0.weight[i,j]); got {name!r}")
        index = tuple(int(i) for i in m["index"].split(","))
        found.setdefault(m["prefix"], {}).setdefault(m["kind"], {})[index] = col
    result = []
    for position, (prefix, kinds) in enumerate(found.items()):
        w = kinds.get("weight")
        if not w or any(len(i) != 2 for i in w):
            raise BackpropvizError(f"the network views need a 2-D weight matrix in layer {prefix!r}")
        n_out = 1 + max(i for i, _ in w)
        n_in = 1 + max(j for _, j in w)
        weight = np.full((n_out, n_in), -1, dtype=np.int64)
        for (i, j), col in w.items():
            weight[i, j] = col
        bias = None
        if "bias" in kinds:
            bias = np.full(n_out, -1, dtype=np.int64)
            for (i,), col in kinds["bias"].items():
                bias[i] = col
        if (weight < 0).any() or (bias is not None and (bias < 0).any()):
            raise BackpropvizError(f"layer {prefix!r} is missing some of its parameters")
        result.append(Layer(prefix, position, weight, bias))
    for a, b in zip(result, result[1:]):
        if a.n_out != b.n_in:
            raise BackpropvizError(
                f"the network views need a chain of layers; {a.label} has {a.n_out} outputs but "
                f"{b.label} takes {b.n_in} inputs")
    return result


def layer_sizes(param_names) -> list[int]:
    """Units per column of the diagram: inputs, each hidden layer, outputs."""
    ls = layers(param_names)
    return [ls[0].n_in] + [layer.n_out for layer in ls]


def gradient_norms(history) -> np.ndarray:
    """Euclidean norm of each layer's recorded gradient (weights and bias together) at every
    step: shape (T, number of layers), float64."""
    grads = np.asarray(history.grads, dtype=np.float64)
    norms = [np.linalg.norm(grads[:, layer.columns], axis=1) for layer in layers(history.param_names)]
    return np.stack(norms, axis=1).reshape(len(grads), len(norms))


def final_epoch(history) -> int:
    """Epochs the run completed (0 for a run without steps)."""
    return int(history.epoch[-1]) + 1 if history.n_steps else 0


def epoch_row(history, epoch: int) -> int:
    """The params row holding the state after ``epoch`` completed epochs."""
    return int(np.searchsorted(np.asarray(history.epoch), epoch, side="left"))


def check_epochs(epochs, n_epochs: int, option: str = "--boundary-epochs") -> list[int]:
    """Sorted distinct epochs in ``0..n_epochs``, or a one-line error naming ``option``."""
    out = []
    for e in epochs:
        try:
            k = int(e)
        except (TypeError, ValueError):
            raise BackpropvizError(f"{option} must be whole numbers; got {e!r}") from None
        if k != e or not 0 <= k <= n_epochs:
            raise BackpropvizError(f"{option} must lie in 0..{n_epochs} for this run; got {e!r}")
        out.append(k)
    if not out:
        raise BackpropvizError(f"{option}: give at least one epoch")
    return sorted(set(out))


def snapshot_epochs(n_epochs: int, count: int = 6) -> list[int]:
    """About ``count`` epochs to show as small multiples: 0, the end, and round numbers spread
    geometrically between (early epochs change most). 1000 epochs give 0, 5, 20, 50, 200, 1000.
    """
    if n_epochs <= 0:
        return [0]
    if n_epochs < count:
        return list(range(n_epochs + 1))
    inner = np.geomspace(1, n_epochs, count)[1:-1]
    chosen = {0, n_epochs}
    for v in inner:
        chosen.add(_round_nice(v))
    chosen = sorted(e for e in chosen if 0 <= e <= n_epochs)
    return chosen


def _round_nice(v: float) -> int:
    """Round to 1, 2 or 5 times a power of ten."""
    if v < 1:
        return 1
    power = 10 ** math.floor(math.log10(v))
    best = min((1, 2, 5, 10), key=lambda m: abs(math.log(v / (m * power))))
    return int(best * power)


# -- the input plane -----------------------------------------------------------------------------

@dataclass
class InputPlane:
    """A regular grid over two input features: ``xs`` (nx,), ``ys`` (ny,), points (ny * nx, 2)."""

    xs: np.ndarray
    ys: np.ndarray

    @property
    def points(self) -> np.ndarray:
        XX, YY = np.meshgrid(self.xs, self.ys)
        return np.stack([XX.ravel(), YY.ravel()], axis=1).astype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys), len(self.xs)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1])

    def __repr__(self) -> str:
        x0, x1, y0, y1 = self.extent
        return f"InputPlane(x {x0:.3g}..{x1:.3g}, y {y0:.3g}..{y1:.3g}, {len(self.xs)}x{len(self.ys)})"


def require_plane(history, view: str) -> None:
    """Refuse a history whose inputs are not two features (nothing to draw a plane of)."""
    d = history.X.shape[1]
    if d != 2:
        raise BackpropvizError(
            f"the {view} view draws the input plane and needs 2 input features; this run has {d} "
            "(use --features pca or two column names)")


def input_plane(history, resolution: int = 120, margin: float = 0.15) -> InputPlane:
    """A grid covering the training and test points with a margin (a fraction of each range)."""
    require_plane(history, "input-plane")
    if not (isinstance(resolution, (int, np.integer)) and 2 <= resolution <= 2000):
        raise BackpropvizError(f"plane resolution must be an integer in [2, 2000]; got {resolution}")
    X = history.X if not history.has_test else np.concatenate([history.X, history.X_test])
    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - margin * span, hi + margin * span
    return InputPlane(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))


def probability_maps(history, epochs, plane: InputPlane) -> np.ndarray:
    """The model's probabilities over ``plane`` after each of ``epochs``.

    Binary runs: probability of class 1, shape (E, ny, nx). Multi-class runs: softmax
    probabilities, shape (E, ny, nx, K).
    """
    return probability_maps_at_rows(history, [epoch_row(history, e) for e in epochs], plane)


def probability_maps_at_rows(history, rows, plane: InputPlane) -> np.ndarray:
    """As ``probability_maps``, at params rows (0: the start, row t + 1: after step t): the
    frames of an animation, which need not fall at the end of an epoch."""
    from ..train import predict

    points = plane.points
    maps = []
    for row in rows:
        p = predict(history, int(row), points)
        maps.append(p.reshape(*plane.shape, *p.shape[1:]))
    return np.stack(maps).astype(np.float64)


def hidden_activations(history, step: int, plane: InputPlane, *, pre: bool = False) -> list[np.ndarray]:
    """Each hidden layer's outputs over ``plane`` at ``params[step]``: one (units, ny, nx) array
    per hidden layer (after its activation), in order. The perceptron has none.

    With ``pre=True`` each entry is a pair ``(pre-activation, output)``: the pre-activation's
    zero line is where the unit switches, whatever the activation."""
    import torch
    from torch import nn

    from ..train import model_at

    model = model_at(history, step)
    modules = list(model) if isinstance(model, nn.Sequential) else []
    linear_at = [i for i, m in enumerate(modules) if isinstance(m, nn.Linear)]
    out = []
    def grid(values):
        return values.numpy().T.reshape(-1, *plane.shape).astype(np.float64)

    with torch.no_grad():
        h = torch.from_numpy(plane.points)
        for i, module in enumerate(modules):
            before, h = h, module(h)
            # A hidden layer's output: an activation with another linear layer after it.
            if not isinstance(module, nn.Linear) and linear_at and i < linear_at[-1]:
                out.append((grid(before), grid(h)) if pre else grid(h))
    return out


class HiddenFrames:
    """Each hidden layer's (pre-activation, output) over ``plane`` at any params row, computed
    when a row is asked for (an animation's frames, one at a time, not every row held at once).

    >>> frames = HiddenFrames(history, input_plane(history, 40))   # doctest: +SKIP
    >>> [post.shape for _, post in frames[0]]                      # doctest: +SKIP
    [(4, 40, 40)]
    """

    def __init__(self, history, plane: InputPlane):
        self.history, self.plane = history, plane

    def __repr__(self) -> str:
        return f"HiddenFrames(rows={self.history.n_steps + 1}, {self.plane!r})"

    def __getitem__(self, row: int):
        return hidden_activations(self.history, int(row), self.plane, pre=True)


def activation_range(activation: str) -> tuple[float | None, float | None]:
    """The output range of a hidden activation (None: unbounded on that side)."""
    key = str(activation).lower().replace("-", "_")
    return {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "relu": (0.0, None)}.get(key, (None, None))


# -- the first layer's weights as images -----------------------------------------------------------

_PIXEL = re.compile(r"^pixel_(?P<row>\d+)_(?P<col>\d+)$")


def image_shape(feature_names, n_inputs: int) -> tuple[int, int] | None:
    """(rows, cols) of the image the inputs form, or None when they are not one.

    Inputs named ``pixel_R_C`` (scikit-learn's digits) in row-major order give their grid;
    otherwise None. ``n_inputs`` must match the names.

    >>> image_shape([f"pixel_{r}_{c}" for r in range(8) for c in range(8)], 64)
    (8, 8)
    >>> image_shape(["x1", "x2"], 2) is None
    True
    """
    names = [str(n) for n in (feature_names or [])]
    if len(names) != n_inputs or n_inputs < 4:
        return None
    cells = [_PIXEL.match(n) for n in names]
    if not all(cells):
        return None
    rows = 1 + max(int(m["row"]) for m in cells)
    cols = 1 + max(int(m["col"]) for m in cells)
    expected = [f"pixel_{r}_{c}" for r in range(rows) for c in range(cols)]
    return (rows, cols) if names == expected else None


def first_layer_images(history, epochs) -> np.ndarray:
    """The first layer's weights after each of ``epochs``, one image per unit: shape
    (E, units, rows, cols) for inputs that form an image (``image_shape``), float64.

    Unit k's image is row k of the first weight matrix (what the unit looks for in the input:
    its pre-activation is that image's dot product with the input, plus the bias).
    """
    first = layers(history.param_names)[0]
    shape = image_shape(history.feature_names, first.n_in)
    if shape is None:
        raise BackpropvizError(
            f"the first-layer view draws each unit's weights as an image and needs image inputs "
            f"(named pixel_R_C, e.g. --data digits); this run's {first.n_in} inputs are not one")
    rows = [epoch_row(history, e) for e in epochs]
    weights = np.asarray(history.params, dtype=np.float64)[rows][:, first.weight]  # (E, units, n_in)
    return weights.reshape(len(rows), first.n_out, *shape)
