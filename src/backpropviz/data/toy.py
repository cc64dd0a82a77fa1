"""Two-dimensional toy sets, the kind the TensorFlow playground shows: binary classification, and
two regression sets (``reg-plane``, ``reg-gauss``: a continuous target over the plane).

Every generator takes ``n`` (points), ``noise`` (``None`` = the set's default) and ``seed``;
the same three give the same points, bit for bit. ``noise`` is the standard deviation of the
Gaussian jitter added to each point (for ``blobs`` and ``xor-blobs``, of each cluster).
scikit-learn draws moons, circles and blobs; it is imported only when one of them is asked for,
since importing it takes about a second.
"""

from __future__ import annotations

import numpy as np

from . import Dataset, register

# spirals: neighbouring arms lie 1/3 apart along a radius, so a jitter of 0.025 (3 sigma = 0.075,
# well under half the gap) keeps two visible interleaved arms; 0.1 blurs them into one cloud.
DEFAULT_NOISE = {"circle": 0.05, "moons": 0.1, "xor-blobs": 0.3, "spirals": 0.025, "blobs": 1.0,
                 "linear": 0.1, "reg-plane": 0.05, "reg-gauss": 0.05}


def _toy(name: str, X: np.ndarray, y: np.ndarray, noise: float, seed: int) -> Dataset:
    return Dataset(name, np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float32),
                   meta={"kind": "toy", "noise": float(noise), "seed": int(seed)})


def _noise(name: str, noise: float | None) -> float:
    return DEFAULT_NOISE[name] if noise is None else float(noise)


@register("circle", generated=True)
def circle(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """A disc (class 1) inside a ring (class 0), radii 0.5 and 1 (sklearn ``make_circles``)."""
    from sklearn.datasets import make_circles

    noise = _noise("circle", noise)
    X, y = make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
    return _toy("circle", X, y, noise, seed)


@register("moons", generated=True)
def moons(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Two interleaving half circles (sklearn ``make_moons``)."""
    from sklearn.datasets import make_moons

    noise = _noise("moons", noise)
    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return _toy("moons", X, y, noise, seed)


@register("blobs", generated=True)
def blobs(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Two Gaussian clusters centred at (-1.5, -1.5) and (1.5, 1.5) (sklearn ``make_blobs``)."""
    from sklearn.datasets import make_blobs

    noise = _noise("blobs", noise)
    X, y = make_blobs(n_samples=n, centers=[[-1.5, -1.5], [1.5, 1.5]], cluster_std=noise,
                      random_state=seed)
    return _toy("blobs", X, y, noise, seed)


@register("xor-blobs", generated=True)
def xor_blobs(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Four clusters at (+-1, +-1); class 1 where exactly one coordinate is positive (XOR)."""
    noise = _noise("xor-blobs", noise)
    rng = np.random.default_rng(seed)
    centres = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    which = np.arange(n) % 4
    X = centres[which] + rng.normal(scale=noise, size=(n, 2))
    y = np.array([0, 1, 1, 0])[which]
    return _toy("xor-blobs", X, y, noise, seed)


@register("spirals", generated=True)
def spirals(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Two spirals winding around each other, 1.5 turns each, radius up to 1.

    Along any ray from the centre the two arms alternate 1/3 apart (radius ``t``, angle
    ``3 pi t`` and the same turned by half a turn); the default jitter, 0.025, keeps them apart.
    """
    noise = _noise("spirals", noise)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = rng.uniform(0.0, 1.0, size=n)
    angle = 3.0 * np.pi * t + np.pi * y  # the second spiral is the first turned by half a turn
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    X += rng.normal(scale=noise, size=X.shape)
    return _toy("spirals", X, y, noise, seed)


@register("linear", generated=True)
def linear(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Points uniform in [-1, 1]^2, class 1 above the line x1 + x2 = 0, then jittered."""
    noise = _noise("linear", noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    X += rng.normal(scale=noise, size=X.shape)
    return _toy("linear", X, y, noise, seed)


def _regression(name: str, X: np.ndarray, y: np.ndarray, noise: float, seed: int) -> Dataset:
    return Dataset(name, np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float32), class_names=(),
                   meta={"kind": "toy", "noise": float(noise), "seed": int(seed)}, task="regression")


# reg-gauss: two bumps up and two down, at the corners of a square of side 1 (TensorFlow playground's
# "Gaussian" regression set).
GAUSS_BUMPS = ((-0.5, -0.5, 1.0), (0.5, 0.5, 1.0), (-0.5, 0.5, -1.0), (0.5, -0.5, -1.0))
GAUSS_WIDTH = 0.35


@register("reg-plane", generated=True, regression=True)
def reg_plane(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Regression: points uniform in [-1, 1]^2, target (x1 + x2) / 2 plus Gaussian noise (a tilted plane)."""
    noise = _noise("reg-plane", noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] + X[:, 1]) / 2 + rng.normal(scale=noise, size=n)
    return _regression("reg-plane", X, y, noise, seed)


@register("reg-gauss", generated=True, regression=True)
def reg_gauss(*, n: int = 200, noise: float | None = None, seed: int = 0, **_options) -> Dataset:
    """Regression: points uniform in [-1, 1]^2, target the sum of four Gaussian bumps (two up, two
    down, width 0.35, see ``GAUSS_BUMPS``) plus Gaussian noise; a line cannot fit it."""
    noise = _noise("reg-gauss", noise)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = sum(sign * np.exp(-((X[:, 0] - cx) ** 2 + (X[:, 1] - cy) ** 2) / (2 * GAUSS_WIDTH ** 2))
            for cx, cy, sign in GAUSS_BUMPS)
    y = y + rng.normal(scale=noise, size=n)
    return _regression("reg-gauss", X, y, noise, seed)
