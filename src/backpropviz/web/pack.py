"""A History packed into the page's data: the viewer's one input (docs/page-format.md).

Everything heavy is computed here, once, by the analysis layer: the whole training set's loss at
every recorded row, the loss surface with the projected path and its faithfulness, the autograd
trace of each step (values and gradients of every node), and the perceptron's chain-rule table.
The browser recomputes only cheap things from the recorded parameters (a small network's
forward pass over the input plane, the update arrows).

Arrays travel as ``{"dtype": "f4"|"f8"|"i4", "shape": [...], "b64": ...}`` (little-endian), so the
page reads them straight into typed arrays; NaN and inf survive, which JSON numbers would not.

>>> from backpropviz.config import RunConfig                     # doctest: +SKIP
>>> from backpropviz.train import train                          # doctest: +SKIP
>>> data = page_data(train(RunConfig()))                         # doctest: +SKIP
>>> data["steps"]["count"], data["views"][:2]                    # doctest: +SKIP
(1000, ['boundary', 'params'])
"""

from __future__ import annotations

import base64
import math

import numpy as np

from ..errors import BackpropvizError
from ..history import History
from ..i18n import CATALOGUE, LANGS

PAGE_FORMAT = "backpropviz-page"
PAGE_VERSION = 1

# Size budget of the step arrays (params, grads): beyond it the page keeps a thinned subset of
# the steps (always the first and the last) and says which.
MAX_STEP_FLOATS = 4_000_000
# Steps whose autograd graph is traced (a few ms each): all of them up to this count, else a
# spread that keeps the first and the last; the graph view says which step it shows.
DEFAULT_TRACE_STEPS = 1000
# A traced node's value (and gradient) is shipped whole up to this many numbers per step, else as
# (mean, min, max, L2 norm).
FULL_NODE_NUMBERS = 64
SUMMARY = ("mean", "min", "max", "norm")

VIEWS = ("boundary", "params", "loss", "surface", "surface3d", "network", "graph", "chain", "update")


def encode(a, dtype: str = "f4") -> dict:
    """``a`` as a typed-array record: dtype, shape and the little-endian bytes in base64."""
    np_type = {"f4": "<f4", "f8": "<f8", "i4": "<i4"}[dtype]
    arr = np.ascontiguousarray(np.asarray(a), dtype=np_type)
    return {"dtype": dtype, "shape": list(arr.shape), "b64": base64.b64encode(arr.tobytes()).decode("ascii")}


def decode(record: dict) -> np.ndarray:
    """The inverse of ``encode`` (tests and the server read pages back with it)."""
    np_type = {"f4": "<f4", "f8": "<f8", "i4": "<i4"}[record["dtype"]]
    return np.frombuffer(base64.b64decode(record["b64"]), dtype=np_type).reshape(record["shape"])


def spread(n: int, count: int) -> np.ndarray:
    """``count`` indices of ``range(n)`` evenly spread, the first and the last included."""
    if n <= count:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max(count, 2))).astype(np.int64))


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def page_labels() -> dict[str, dict[str, str]]:
    """The page's texts in every language, from the one catalogue (keys ``page_*``)."""
    return {lang: {k[5:]: v[lang] for k, v in CATALOGUE.items() if k.startswith("page_")} for lang in LANGS}


# -- the run ------------------------------------------------------------------------------------


def _model_info(history: History) -> dict:
    """What the browser needs for a forward pass: the layers' columns in the flat parameters."""
    from ..analysis.chain_rule import is_perceptron_history
    from ..analysis.views import layers

    from ..train import is_regression

    config = history.config
    output = "identity" if is_regression(history) else ("sigmoid" if history.is_binary else "softmax")
    info = {"kind": "perceptron" if is_perceptron_history(history) else str(config.get("model", "mlp")),
            "activation": str(config.get("activation", "tanh")), "output": output, "layers": None}
    try:
        info["layers"] = [{"weight": layer.weight.tolist(),
                           "bias": None if layer.bias is None else layer.bias.tolist()}
                          for layer in layers(history.param_names)]
    except BackpropvizError as e:
        info["layers_error"] = str(e)
    return info


def _step_rows(history: History, max_floats: int) -> np.ndarray:
    """The steps the page keeps: all of them, or a spread within the size budget."""
    T, P = history.params.shape[0] - 1, history.params.shape[1]
    per_step = 2 * P + 4
    if T * per_step <= max_floats:
        return np.arange(T)
    return spread(T, max(2, max_floats // per_step))


def _data(history: History) -> dict:
    data = {"X": encode(history.X), "y": encode(np.asarray(history.y, dtype=np.float64).reshape(len(history.y), -1)),
            "feature_names": list(history.feature_names or [f"x{i + 1}" for i in range(history.X.shape[1])]),
            "class_names": list(history.class_names or []), "n_classes": history.n_classes}
    if history.has_test:
        data["X_test"] = encode(history.X_test)
        data["y_test"] = encode(np.asarray(history.y_test, dtype=np.float64).reshape(len(history.y_test), -1))
    if history.X.shape[1] == 2:
        from ..analysis.views import input_plane

        plane = input_plane(history, resolution=2)
        x0, x1, y0, y1 = plane.extent
        data["plane"] = {"x": [x0, x1], "y": [y0, y1]}
    return data


def _steps(history: History, kept: np.ndarray, whole_loss: np.ndarray) -> dict:
    T = history.n_steps
    rows = np.concatenate([kept, [T]])
    steps = {"count": int(len(kept)), "total": int(T), "params": encode(history.params[rows]),
             "grads": encode(history.grads[kept]), "loss": encode(history.loss[kept]),
             "epoch": encode(history.epoch[kept], "i4"), "whole_loss": encode(whole_loss[rows])}
    if len(kept) < T:
        steps["index"] = encode(kept, "i4")  # the original step number of each kept step
        steps["after"] = encode(history.params[kept + 1])
    if history.lr is not None:
        steps["lr"] = encode(history.lr[kept])
    if history.batches is not None:
        steps["batches"] = encode(history.batches[kept], "i4")
    return steps


def _epochs(history: History) -> dict:
    out = {}
    for name in ("train_loss", "train_acc", "test_loss", "test_acc"):
        a = getattr(history, f"epoch_{name}")
        if a is not None:
            out[name] = encode(a)
    return out


# -- the loss surface -----------------------------------------------------------------------------


def _levels(loss: np.ndarray, count: int = 12) -> np.ndarray:
    finite = loss[np.isfinite(loss)]
    if finite.size == 0:
        return np.array([])
    lo, hi = float(finite.min()), float(finite.max())
    if not hi > lo:
        return np.array([])
    if lo > 0 and hi / lo > 30:  # wide ranges: levels evenly spaced in log
        return np.geomspace(lo, hi, count + 2)[1:-1]
    return np.linspace(lo, hi, count + 2)[1:-1]


def _contours(alpha, beta, loss, levels) -> list[dict]:
    import contourpy

    gen = contourpy.contour_generator(alpha, beta, np.where(np.isfinite(loss), loss, np.nan),
                                      line_type=contourpy.LineType.Separate)
    out = []
    for level in levels:
        lines = [np.round(seg, 5) for seg in gen.lines(float(level)) if len(seg) > 1]
        if lines:
            out.append({"level": float(level), "lines": [encode(seg) for seg in lines]})
    return out


def _surface_window(history: History, ix: int, iy: int):
    """The article's window (final (w1, w2) +-8), widened to hold the whole path with a margin."""
    final = history.params[-1].astype(np.float64)
    path = history.params[:, [ix, iy]].astype(np.float64)
    ranges = []
    for axis in (0, 1):
        lo = min(final[[ix, iy][axis]] - 8.0, float(np.nanmin(path[:, axis])))
        hi = max(final[[ix, iy][axis]] + 8.0, float(np.nanmax(path[:, axis])))
        pad = 0.05 * (hi - lo)
        ranges.append((lo - pad, hi + pad))
    return ranges


def _surface(history: History, rows: np.ndarray, whole_loss: np.ndarray, resolution: int, progress=False) -> dict:
    """The page's ``surface`` (``progress``: as for ``landscape.plane``; the playground passes a
    callable that reports to the page)."""
    from ..analysis import landscape as ls
    from ..analysis.chain_rule import is_perceptron_history

    if is_perceptron_history(history) and len(history.param_names) == 3:
        xr, yr = _surface_window(history, 0, 1)
        land = ls.plane(history, "params", x_name=history.param_names[0], y_name=history.param_names[1],
                        x_range=xr, y_range=yr, resolution=resolution, progress=progress)
    else:
        land = ls.plane(history, "pca", resolution=resolution, progress=progress)
    verdict, off = land.fidelity()
    fixed = {k: _finite(v) for k, v in land.fixed.items()}
    path_loss = np.asarray(land.path_loss if land.path_loss is not None else np.full(len(land.path), np.nan))
    residual = np.asarray(land.path_residual if land.path_residual is not None else np.zeros(len(land.path)))
    levels = _levels(land.loss)
    return {
        "method": land.method, "axis_names": list(land.axis_names),
        "alpha": encode(land.alpha), "beta": encode(land.beta), "loss": encode(land.loss),
        "origin": encode(land.origin), "directions": encode(land.directions),
        "path": encode(land.path[rows]), "path_loss": encode(path_loss[rows]),
        "path_residual": encode(residual[rows]), "whole_loss": encode(whole_loss[rows]),
        "levels": [float(v) for v in levels], "contours": _contours(land.alpha, land.beta, land.loss, levels),
        "fixed": fixed, "verdict": verdict, "rows_off": int(off),
        "relative_residual": _finite(land.relative_residual), "loss_gap": _finite(land.loss_gap),
        "explained_variance": None if land.explained_variance is None else
        [float(v) for v in land.explained_variance],
    }


# -- the autograd trace of each step --------------------------------------------------------------


def _node_numbers(a, width: int | None) -> np.ndarray:
    """One step's numbers of a node: all of them (padded with NaN to ``width``) or the summary."""
    if a is None:
        return np.full(width or len(SUMMARY), np.nan)
    flat = np.asarray(a, dtype=np.float64).reshape(-1)
    if width is None:
        if flat.size == 0:
            return np.full(len(SUMMARY), np.nan)
        return np.array([flat.mean(), flat.min(), flat.max(), np.linalg.norm(flat)])
    out = np.full(width, np.nan)
    out[:flat.size] = flat
    return out


def _shape2(a) -> list[int]:
    """A node's shape as (rows, columns): scalars 1 x 1, vectors one row, more axes folded."""
    shape = np.shape(a)
    if len(shape) == 0:
        return [1, 1]
    if len(shape) == 1:
        return [1, shape[0]]
    return [shape[0], int(np.prod(shape[1:]))]


def trace_steps(history: History, steps, *, collapse="auto") -> list:
    """The autograd traces of ``steps``: one model, refilled with each step's parameters."""
    import torch

    from ..analysis.graph_trace import step_batch, trace_step
    from ..config import RunConfig
    from ..losses import get_loss
    from ..models import set_flat
    from ..train import model_at, penalty_fn

    config = RunConfig.from_dict(history.config)
    model = model_at(history, 0)
    loss_fn = get_loss(config.loss)
    penalty = penalty_fn(model, float(config.l1 or 0), float(config.l2 or 0))
    traces = []
    for s in steps:
        s = int(s)
        set_flat(model, torch.from_numpy(np.ascontiguousarray(history.params[s])))
        idx = step_batch(history, s)
        trace = trace_step(model, loss_fn, history.X[idx], history.y[idx], step=s, sample_indices=idx,
                           penalty=penalty, per_sample=False, collapse=collapse)
        collapse = trace.collapsed  # the same picture at every step
        traces.append(trace)
    return traces


def _per_step(rows: np.ndarray, dtype: str = "f4") -> dict:
    """Per-step rows of a traced node; rows that never change (the inputs and targets of a
    full-batch run) travel once, marked ``constant``."""
    if len(rows) > 1 and np.array_equal(rows[1:], np.broadcast_to(rows[:1], rows[1:].shape), equal_nan=True):
        return {**encode(rows[:1], dtype), "constant": True}
    return encode(rows, dtype)


def _trace(history: History, kept: np.ndarray, count: int, positions=None) -> dict:
    """The page's ``trace`` of ``count`` of the ``kept`` steps, evenly spread, or of the given
    ``positions`` (indices into ``kept``: the steps a live page stopped at)."""
    from ..render.graph import layered_layout

    if positions is None:
        positions = spread(len(kept), count)  # indices into the page's steps
    positions = np.asarray(positions, dtype=np.int64)
    traces = trace_steps(history, kept[positions])
    first = traces[0]
    shape_of = [(n.id, n.name, n.kind) for n in first.nodes]
    for tr in traces[1:]:
        if [(n.id, n.name, n.kind) for n in tr.nodes] != shape_of:
            raise BackpropvizError("the model's graph changes from step to step; the page shows one graph")
    layout = layered_layout(first)
    nodes = []
    for j, node in enumerate(first.nodes):
        sizes = [tr.nodes[j].value.size for tr in traces]
        width = max(sizes) if max(sizes) <= FULL_NODE_NUMBERS else None
        has_grad = node.grad is not None
        entry = {"id": node.id, "name": node.name, "kind": node.kind, "op": node.op,
                 "per_sample": bool(node.per_sample), "param_names": list(node.param_names),
                 "module": node.module, "autograd": node.autograd_node,
                 "pos": list(layout[node.id]), "summary": width is None,
                 "shapes": _per_step(np.array([_shape2(tr.nodes[j].value) for tr in traces]), "i4"),
                 "value": _per_step(np.stack([_node_numbers(tr.nodes[j].value, width) for tr in traces]))}
        if has_grad:
            entry["grad"] = _per_step(np.stack([_node_numbers(tr.nodes[j].grad, width) for tr in traces]))
        nodes.append(entry)
    edges = [{"src": e.src, "dst": e.dst, "label": e.label} for e in first.edges]
    return {"steps": encode(positions, "i4"), "nodes": nodes, "edges": edges, "collapsed": bool(first.collapsed),
            "loss": encode(np.array([tr.loss for tr in traces])),
            "n_samples": encode(np.array([tr.n_samples for tr in traces]), "i4")}


# -- the page ---------------------------------------------------------------------------------------


def page_data(history: History, *, lang: str = "en", title: str | None = None, trace_steps: int = DEFAULT_TRACE_STEPS,
              surface_resolution: int = 51, max_step_floats: int = MAX_STEP_FLOATS, palette: str = "default") -> dict:
    """The page's data for ``history`` (see docs/page-format.md); ``palette`` "cvd" draws the
    continuous maps in cividis (``--palette``)."""
    from ..analysis.landscape import losses_along_path

    if history.n_steps == 0:
        raise BackpropvizError("this history has no recorded steps; there is nothing to show")
    if not np.isfinite(history.params).all():
        bad = int(np.argmax(~np.isfinite(history.params).all(axis=1)))
        raise BackpropvizError(f"the parameters are not finite from row {bad} on; the page shows runs with "
                               "finite parameters (try a smaller --lr)")
    kept = _step_rows(history, max_step_floats)
    rows = np.concatenate([kept, [history.n_steps]])
    whole_loss = np.asarray(losses_along_path(history), dtype=np.float64)
    model = _model_info(history)
    views, omitted = [], []

    def omit(view, key, **fields):
        omitted.append({"view": view, "reason": {lg: CATALOGUE[f"page_{key}"][lg].format(**fields) for lg in LANGS}})

    two_inputs = history.X.shape[1] == 2
    if two_inputs and model["layers"]:
        views.append("boundary")
    else:
        omit("boundary", "omit_boundary", n=history.X.shape[1])
    views += ["params", "loss"]
    surface = _surface(history, rows, whole_loss, surface_resolution)
    views += ["surface", "surface3d"]
    if model["layers"]:
        views.append("network")
    else:
        omit("network", "omit_network")
    trace = None
    if trace_steps > 0:
        trace = _trace(history, kept, trace_steps)
        views.append("graph")
    else:
        omit("graph", "omit_graph")
    if model["kind"] == "perceptron" and model["output"] == "sigmoid" and trace is not None:
        views.append("chain")  # read from the trace: per-sample values and gradients
    else:
        omit("chain", "omit_chain")
    views.append("update")
    data = {
        "format": PAGE_FORMAT, "version": PAGE_VERSION, "lang": lang, "title": title or "", "palette": palette,
        "labels": page_labels(),
        "run": {"config": history.config, "param_names": list(history.param_names), "status": history.status,
                "model": model, "full_batch": history.batches is None, "lr": _finite(history.config.get("lr", 0.5)),
                "optimizer": str(history.config.get("optimizer", "sgd"))},
        "data": _data(history), "steps": _steps(history, kept, whole_loss), "epochs": _epochs(history),
        "surface": surface, "trace": trace, "views": views, "omitted": omitted,
    }
    return data
