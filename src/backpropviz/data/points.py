"""Points the user placed on the input plane (the playground's drawing): ``data="points"``.

A point is ``(x1, x2, class)``. The points are part of the run's configuration
(``RunConfig.points``), so that the playground's link and a ``--config`` file give the same data
set, bit for bit. They are used as drawn: no standardisation, no noise, no seed.

>>> from backpropviz.data import make_dataset
>>> ds = make_dataset("points", points=[(0.5, 1.0, 0), (-1.0, 0.25, 1)])
>>> ds.X.tolist(), ds.y.tolist(), ds.class_names
([[0.5, 1.0], [-1.0, 0.25]], [0.0, 1.0], ('0', '1'))
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BackpropvizError
from . import Dataset, register

MAX_POINTS = 5000
MAX_POINT_CLASSES = 10  # the page's class colours
# Coordinates beyond this are no drawing: float32 would still hold them, a plot of them would not.
MAX_COORDINATE = 1e6


def check_points(points, where: str = "points") -> tuple[tuple[float, float, int], ...]:
    """``points`` as ``((x1, x2, class), ...)`` if they make a data set: at least two points, at
    most ``MAX_POINTS``, finite coordinates, classes numbered 0..K-1 (2 <= K <= 10), each drawn.

    >>> check_points([[0, 1, 0], [2, 3, 1]])
    ((0.0, 1.0, 0), (2.0, 3.0, 1))
    """
    if not isinstance(points, (list, tuple)):
        raise BackpropvizError(f"{where} must be a list of [x1, x2, class] triples; got {type(points).__name__}")
    if len(points) > MAX_POINTS:
        raise BackpropvizError(f"{where}: at most {MAX_POINTS} points; got {len(points)}")
    out = []
    for i, p in enumerate(points):
        if not (isinstance(p, (list, tuple)) and len(p) == 3):
            raise BackpropvizError(f"{where}: point {i + 1} must be [x1, x2, class]; got {str(p)[:60]}")
        x, y, c = p
        for value in (x, y):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or abs(value) > MAX_COORDINATE:
                raise BackpropvizError(f"{where}: point {i + 1} has coordinate {str(value)[:40]}; coordinates "
                                       f"are finite numbers within +-{MAX_COORDINATE:g}")
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < MAX_POINT_CLASSES:
            raise BackpropvizError(f"{where}: point {i + 1} has class {str(c)[:40]}; a class is a whole number "
                                   f"from 0 to {MAX_POINT_CLASSES - 1}")
        out.append((float(x), float(y), int(c)))
    classes = sorted({c for _, _, c in out})
    if len(out) < 2 or len(classes) < 2:
        raise BackpropvizError(f"{where}: draw at least two points of two classes; got {len(out)} point"
                               f"{'' if len(out) == 1 else 's'} of {len(classes)} class{'' if len(classes) == 1 else 'es'}")
    missing = [k for k in range(classes[-1] + 1) if k not in classes]
    if missing:
        raise BackpropvizError(f"{where}: class {missing[0]} has no point; classes are numbered from 0 with at least "
                               f"one point each (got classes {', '.join(map(str, classes))})")
    return tuple(out)


@register("points")
def drawn_points(*, points=None, **_options) -> Dataset:
    """The drawn points as a data set: inputs (x1, x2) as given, classes 0..K-1."""
    if points is None:
        raise BackpropvizError("data 'points' needs the points: [[x1, x2, class], ...] in a --config file "
                               "(the playground draws them)")
    rows = check_points(points)
    X = np.array([(x, y) for x, y, _ in rows], dtype=np.float32)
    y = np.array([c for _, _, c in rows], dtype=np.float32)
    k = int(y.max()) + 1
    return Dataset("points", X, y, class_names=tuple(str(c) for c in range(k)),
                   meta={"kind": "points", "n_points": len(rows)})
