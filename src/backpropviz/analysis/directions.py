"""Directions that span a slice of parameter space, and projections onto such a slice.

A plane is ``origin + a * d[0] + b * d[1]`` with ``d`` of shape (2, P) in the flat parameter
order of ``models.get_flat``. Five ways to choose ``d``:

* ``param_directions``: two unit vectors along named parameters (the article's slice);
* ``random_directions``: Gaussian directions, filter-normalised (Li et al. 2018, "Visualizing
  the Loss Landscape of Neural Nets"): each filter (a row of a Linear weight, an output channel
  of a Conv weight) is rescaled to the norm of the same filter in the centre's weights, so that
  a step of 1 along the direction changes every filter by as much as its own size;
* ``pca_directions``: the top two principal directions of the recorded path (its differences
  from the centre), with the fraction of the path's variance each explains;
* the top two eigenvectors of the Hessian at the centre (``curvature.top_eigenvectors``, signed
  by ``oriented``): the plane of the sharpest curvature there;
* ``custom_directions``: two vectors the user gives, checked.

``project`` gives each point's coordinates on a plane (least squares, so non-orthogonal
directions work) and its distance from the plane, the *projection residual*.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackpropvizError

BIAS_MODES = ("zero", "keep", "filter")


def param_directions(n_params: int, ix: int, iy: int) -> np.ndarray:
    """Unit vectors along parameters ``ix`` and ``iy`` (shape (2, n_params))."""
    d = np.zeros((2, n_params))
    d[0, ix] = d[1, iy] = 1.0
    return d


def parameter_shapes(model) -> list[tuple[int, ...]]:
    """Shapes of ``model.parameters()`` in flat order."""
    return [tuple(p.shape) for p in model.parameters()]


def filter_normalize(direction: np.ndarray, center: np.ndarray, shapes, *, bias: str = "zero") -> np.ndarray:
    """Rescale ``direction`` filter by filter to the centre's filter norms (a new array).

    A filter is one slice along the first axis of a parameter with two or more axes. One-axis
    parameters (biases, norm scales) follow ``bias``: ``"zero"`` leaves them out of the
    direction (Li et al.'s default), ``"keep"`` copies the centre's values (their other option),
    ``"filter"`` treats each element as its own filter (its size becomes ``|centre value|``).
    """
    if bias not in BIAS_MODES:
        raise BackpropvizError(f"unknown bias mode {bias!r}; choose one of: {', '.join(BIAS_MODES)}")
    direction = np.asarray(direction, dtype=np.float64)
    center = np.asarray(center, dtype=np.float64)
    out = np.empty_like(direction)
    offset = 0
    for shape in shapes:
        n = int(np.prod(shape)) if shape else 1
        d, w = direction[offset: offset + n], center[offset: offset + n]
        if len(shape) >= 2:
            d2, w2 = d.reshape(shape[0], -1), w.reshape(shape[0], -1)
            scale = np.linalg.norm(w2, axis=1) / (np.linalg.norm(d2, axis=1) + 1e-10)
            out[offset: offset + n] = (d2 * scale[:, None]).reshape(-1)
        elif bias == "zero":
            out[offset: offset + n] = 0.0
        elif bias == "keep":
            out[offset: offset + n] = w
        else:
            out[offset: offset + n] = d * np.abs(w) / (np.abs(d) + 1e-10)
        offset += n
    if offset != direction.size:
        raise BackpropvizError(f"parameter shapes hold {offset} values but the direction has {direction.size}")
    return out


def random_directions(center: np.ndarray, shapes, *, seed: int = 0, normalization: str = "filter",
                      bias: str = "zero") -> np.ndarray:
    """Two Gaussian directions (2, P), filter-normalised by default.

    ``normalization``: ``"filter"`` (Li et al.), ``"layer"`` (each parameter tensor rescaled to
    the centre's tensor norm), ``"model"`` (whole vector to the centre's norm) or ``"none"``.
    """
    center = np.asarray(center, dtype=np.float64)
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((2, center.size))
    if normalization == "filter":
        return np.stack([filter_normalize(r, center, shapes, bias=bias) for r in raw])
    if normalization == "layer":
        out, offset = raw.copy(), 0
        for shape in shapes:
            n = int(np.prod(shape)) if shape else 1
            sl = slice(offset, offset + n)
            out[:, sl] *= np.linalg.norm(center[sl]) / (np.linalg.norm(raw[:, sl], axis=1, keepdims=True) + 1e-10)
            offset += n
        return out
    if normalization == "model":
        return raw * np.linalg.norm(center) / np.linalg.norm(raw, axis=1, keepdims=True)
    if normalization == "none":
        return raw
    raise BackpropvizError(
        f"unknown normalization {normalization!r}; choose one of: filter, layer, model, none")


def pca_directions(params: np.ndarray, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top two principal directions of the path's offsets from ``center``.

    Returns ``(directions (2, P) orthonormal, explained (2,))`` where ``explained[k]`` is the
    fraction of the path's variance (about its mean) along direction k, as in Li et al. 2018.
    A path that moves along fewer than two directions gets a zero-variance second direction
    orthogonal to the first.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[0] < 2:
        raise BackpropvizError(f"PCA directions need a path of at least 2 recorded steps; got shape {params.shape}")
    offsets = params - np.asarray(center, dtype=np.float64)[None, :]
    centered = offsets - offsets.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    total = float(np.sum(s ** 2))
    if total == 0.0:
        raise BackpropvizError("PCA directions need a path that moves; every recorded step has the same parameters")
    dirs = np.zeros((2, params.shape[1]))
    k = min(2, vt.shape[0])
    dirs[:k] = vt[:k]
    explained = np.zeros(2)
    explained[:k] = s[:k] ** 2 / total
    if k < 2 or s[1] == 0.0:
        dirs[1] = orthogonal_axis(dirs[0])
        explained[1] = 0.0
    return oriented(dirs, offsets[0]), explained


def orthogonal_axis(first: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to the unit vector ``first``, for a path that moves along one
    direction only: any will do; this is the coordinate axis least aligned with it, made orthogonal."""
    e = np.zeros(len(first))
    e[int(np.argmin(np.abs(first)))] = 1.0
    e -= first * (first @ e)
    return e / np.linalg.norm(e)


def oriented(directions: np.ndarray, start_offset: np.ndarray) -> np.ndarray:
    """``directions`` with a deterministic sign: each flipped so that the path's start (its offset
    from the centre, ``start_offset``) lies on the negative side of each axis (eigenvectors and
    principal directions have no sign of their own)."""
    d = np.array(directions, dtype=np.float64)
    for j in range(len(d)):
        if d[j] @ np.asarray(start_offset, dtype=np.float64) > 0:
            d[j] = -d[j]
    return d


def custom_directions(directions, n_params: int) -> np.ndarray:
    """Check user-given directions: two finite, non-zero, non-parallel vectors of length P."""
    d = np.asarray(directions, dtype=np.float64)
    if d.shape != (2, n_params):
        raise BackpropvizError(f"custom directions must have shape (2, {n_params}); got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise BackpropvizError("custom directions must be finite numbers; got NaN or infinity")
    norms = np.linalg.norm(d, axis=1)
    if np.any(norms == 0):
        raise BackpropvizError("custom directions must be non-zero vectors; got a zero vector")
    cos = abs(d[0] @ d[1]) / (norms[0] * norms[1])
    if cos > 1 - 1e-9:
        raise BackpropvizError(f"custom directions must not be parallel; got |cos| = {cos:.12f}")
    return d


def project(points: np.ndarray, origin: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of each point on the plane and its distance from the plane.

    Returns ``(coords (K, 2), residual (K,))``: ``origin + coords @ directions`` is the point of
    the plane nearest to each point (least squares), ``residual`` the Euclidean distance.
    """
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    offsets = points - np.asarray(origin, dtype=np.float64)[None, :]
    d = np.asarray(directions, dtype=np.float64)
    gram = d @ d.T
    coords = np.linalg.solve(gram, d @ offsets.T).T
    residual = np.linalg.norm(offsets - coords @ d, axis=1)
    return coords, residual
