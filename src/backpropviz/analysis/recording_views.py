"""The numbers behind the views of a recording of the user's own loop (``backpropviz.record``).

Plain numpy on a ``Recording`` (record/reader.py): per-layer scalars over steps and what they say
(vanishing, exploding, dead layers, updates too large for the weights), each layer's weight and
gradient distribution at every snapshot (quantiles; every snapshot kept, step 0 and the last one
included), the path of the states on a PCA plane, and the snapshots as the path of a landscape
(``SnapshotRows``, read one at a time). Renderers (render/layerstats.py) and the
page (web/packrec.py) draw these arrays; nothing here draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import BackpropvizError

# The usual guide for update/weight ratios (Karpathy, CS231n): about 1e-3 per step.
RATIO_GUIDE = 1e-3
RATIO_TOO_LARGE = 1e-2    # ten times the guide: the learning rate is likely too large
RATIO_TOO_SMALL = 1e-5    # a hundredth of the guide: the layer hardly moves
VANISHING = 1e-3          # a layer's median gradient norm below this times the largest layer's
EXPLODING = 1e2           # the gradient norm at the end over the start, or any non-finite norm
EARLY_STEPS = 5           # an early explosion is looked for within at least this many first steps
DEAD_SHARE = 0.9          # a layer whose gradient is exactly zero in this share of steps
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
MIN_SNAPSHOTS_PCA = 3
GRAM_BLOCK_BYTES = 1 << 24  # the block of columns read from all snapshots at once for the PCA plane
PCA_ZERO = 1e-12  # a Gram eigenvalue below this times the largest is rounding: no second direction


def load_checked(path):
    """The recording in folder ``path`` with at least one step, or a one-line BackpropvizError."""
    from pathlib import Path

    from ..record import load_recording

    path = Path(path)
    if not path.is_dir():
        raise BackpropvizError(f"{str(path)!r} is not a recording folder (a folder written by "
                               "backpropviz.record, holding meta.json and index.jsonl)")
    if not (path / "meta.json").exists():
        raise BackpropvizError(f"{str(path)!r} is a folder, not a recording: it has no meta.json (which "
                               "backpropviz.record writes when its loop starts); give a recording folder, "
                               "or a file (a history .npz)")
    try:
        rec = load_recording(path)
    except BackpropvizError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise BackpropvizError(f"{str(path)!r}: the recording cannot be read "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if len(rec.rows) == 0:
        raise BackpropvizError(f"{str(path)!r}: the recording has no steps yet (none flushed to disk); "
                               "views need at least one recorded step")
    return rec


def read_snapshot(rec, step: int):
    """``rec.snapshot(step)``, with a file that cannot be read (cut short, removed) said in one line."""
    try:
        return rec.snapshot(step)
    except (OSError, ValueError) as exc:
        raise BackpropvizError(f"{str(rec.path)!r}: the snapshot of step {step} cannot be read "
                               f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


@dataclass
class LayerSeries:
    """Per layer (module), over the recorded steps: the norms and the update/weight ratio."""

    steps: np.ndarray            # (T,)
    names: list[str]             # L layer names ("" is the model itself)
    grad_norm: np.ndarray        # (T, L), NaN where the layer had no gradient
    weight_norm: np.ndarray
    update_norm: np.ndarray
    update_ratio: np.ndarray

    @classmethod
    def of(cls, rec) -> "LayerSeries":
        names, q = rec.layer_scalars()
        return cls(rec.steps, names, q["grad_norm"], q["weight_norm"], q["update_norm"], q["update_ratio"])

    def __repr__(self) -> str:
        return f"LayerSeries(steps={len(self.steps)}, layers={self.names})"


@dataclass
class Finding:
    """One thing the scalars say about one layer: ``kind`` names the catalogue's text."""

    kind: str        # vanishing, exploding, exploding_early, dead, frozen, ratio_large, ratio_small, nonfinite
    layer: str
    value: float     # the measured number the text states
    step: int | None = None  # the step it was measured at, where the text names one


def _median(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else float("nan")


def diagnose(series: LayerSeries) -> list[Finding]:
    """What the per-layer scalars say, layer by layer (the thresholds are this module's constants).

    - ``frozen``: no gradient at any step; ``dead``: a gradient exactly 0 in >= 90% of steps;
    - ``nonfinite``: a non-finite gradient norm at some step (``value``: the first such step);
    - ``vanishing``: median gradient norm below 1e-3 times the largest layer's (``value``: the ratio);
    - ``exploding``: the median over the last tenth of steps over that of the first tenth > 100;
    - ``exploding_early``: else, the largest norm within the first tenth of the steps (the first
      EARLY_STEPS at least) over the first step's > 100 (``step``: where): an explosion in the
      first steps, which the tenths miss when the norm then stays up (or falls back);
    - ``ratio_large`` / ``ratio_small``: median update/weight ratio above 1e-2 / below 1e-5.
    """
    out = []
    T = len(series.steps)
    tenth = max(1, T // 10)
    medians = np.array([_median(series.grad_norm[:, j]) for j in range(len(series.names))])
    top = np.nanmax(medians) if np.isfinite(medians).any() else float("nan")
    for j, name in enumerate(series.names):
        g = series.grad_norm[:, j]
        has = ~np.isnan(g)
        if not has.any():
            out.append(Finding("frozen", name, float(T)))
            continue
        bad = has & ~np.isfinite(g)
        if bad.any():
            out.append(Finding("nonfinite", name, float(series.steps[np.argmax(bad)])))
            continue
        zero_share = float(np.mean(g[has] == 0))
        if zero_share >= DEAD_SHARE:
            out.append(Finding("dead", name, zero_share))
            continue
        if top > 0 and medians[j] < VANISHING * top:
            out.append(Finding("vanishing", name, medians[j] / top))
        start, end = _median(g[:tenth]), _median(g[-tenth:])
        if T >= 10 and start > 0 and end / start > EXPLODING:
            out.append(Finding("exploding", name, end / start))
        elif T >= EARLY_STEPS:
            early = early_explosion(g[: max(tenth, EARLY_STEPS)])
            if early is not None:
                out.append(Finding("exploding_early", name, early[1], int(series.steps[early[0]])))
        ratio = _median(series.update_ratio[:, j])
        if ratio > RATIO_TOO_LARGE:
            out.append(Finding("ratio_large", name, ratio))
        elif 0 < ratio < RATIO_TOO_SMALL:
            out.append(Finding("ratio_small", name, ratio))
    return out


def early_explosion(norms) -> tuple[int, float] | None:
    """``(i, factor)``: where the gradient norms ``norms`` (the first steps, NaN where none) reach
    their largest and how many times the first norm that is; None when that is at most EXPLODING
    times (or the first norm is 0 or missing: nothing to compare with)."""
    g = np.asarray(norms, dtype=np.float64)
    if g.size < 2 or not np.isfinite(g[0]) or g[0] <= 0:
        return None
    rest = np.where(np.isfinite(g), g, -np.inf)
    i = int(np.argmax(rest))
    factor = float(g[i] / g[0])
    return (i, factor) if factor > EXPLODING else None


@dataclass
class Distributions:
    """Per layer, the quantiles of its weights (and gradients) at every snapshot.

    ``weights[j]`` / ``grads[j]``: (S, len(QUANTITIES)) for layer ``names[j]``, row i at state
    ``steps[i]``; a state without a gradient (the last one, or a layer without one) has NaN rows.
    """

    steps: np.ndarray
    names: list[str]
    quantiles: tuple = QUANTILES
    weights: list[np.ndarray] = field(default_factory=list)
    grads: list[np.ndarray] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)   # numbers per layer

    @classmethod
    def of(cls, rec) -> "Distributions":
        steps = np.asarray(rec.snapshot_steps, dtype=np.int64)
        if steps.size == 0:
            raise BackpropvizError("the recording has no snapshot yet; distributions need saved states")
        names = rec.layer_names
        params = rec.meta["params"]
        cols = [np.concatenate([np.arange(p["offset"], p["offset"] + p["numel"]) for p in params
                                if p["layer"] == name]) for name in names]
        q = np.asarray(QUANTILES)
        weights = [np.full((len(steps), len(q)), np.nan) for _ in names]
        grads = [np.full((len(steps), len(q)), np.nan) for _ in names]
        for i, s in enumerate(steps):
            snap = read_snapshot(rec, int(s))
            for j, c in enumerate(cols):
                weights[j][i] = _quantiles(snap.params[c], q)
                if snap.grads is not None:
                    grads[j][i] = _quantiles(snap.grads[c], q)
        return cls(steps, names, QUANTILES, weights, grads, [len(c) for c in cols])

    def __repr__(self) -> str:
        return f"Distributions(snapshots={self.steps.tolist()}, layers={self.names})"


def _quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return np.quantile(v, q) if v.size else np.full(len(q), np.nan)


@dataclass
class SnapshotPath:
    """The states on a PCA plane: ``coords`` (n, 2) at ``steps`` (n,).

    ``source``: ``snapshots`` (the principal directions of the saved states' parameters) or
    ``projection`` (of the recorded random projection of every state, when snapshots are few).
    ``explained``: the share of the states' variance along each of the two directions.
    """

    steps: np.ndarray
    coords: np.ndarray
    source: str
    explained: np.ndarray

    @classmethod
    def of(cls, rec) -> "SnapshotPath":
        steps = np.asarray(rec.snapshot_steps, dtype=np.int64)
        if len(steps) >= MIN_SNAPSHOTS_PCA:
            coords, explained = pca_plane_of_gram(snapshot_gram(rec, steps))
            return cls(steps, coords, "snapshots", explained)
        if rec.projection is not None and len(rec.projection) >= MIN_SNAPSHOTS_PCA:
            X = np.asarray(rec.projection, dtype=np.float64)
            steps = np.arange(len(X), dtype=np.int64)
        else:
            raise BackpropvizError(
                f"the path needs at least {MIN_SNAPSHOTS_PCA} snapshots or a projection of as many states; "
                f"the recording has {len(steps)} snapshot(s) and "
                f"{'no projection' if rec.projection is None else f'{len(rec.projection)} projected states'} "
                "(record with snapshots=every(k) or projection=k)")
        coords, explained = pca_plane(X)
        return cls(steps, coords, "projection", explained)

    def __repr__(self) -> str:
        return f"SnapshotPath({self.source}, states={len(self.steps)}, explained={self.explained.round(3).tolist()})"


def pca_plane(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``X`` (n, d) on their top two principal directions (centred at the mean), and the
    share of the variance each direction holds. The sign of each direction puts the last row
    at a positive coordinate, so that the same run always looks the same."""
    centred = X - X.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, len(s))
    coords = np.zeros((len(X), 2))
    coords[:, :k] = u[:, :k] * s[:k]
    for j in range(k):
        if coords[-1, j] < 0:
            coords[:, j] = -coords[:, j]
    total = float((s**2).sum())
    explained = np.zeros(2)
    if total > 0:
        explained[:k] = s[:k] ** 2 / total
    return coords, explained


def snapshot_files(rec, steps) -> list[tuple]:
    """``(path, data offset, dtype)`` of the parameter file of each snapshot at ``steps``, each
    checked (by its header, not its values) to hold the recording's P values."""
    files = {e["step"]: e["params"] for e in rec.entries if e["kind"] == "state"}
    layout = []
    for s in steps:
        path = rec.path / files[int(s)]
        try:
            a = np.load(path, mmap_mode="r", allow_pickle=False)
            layout.append((path, a.offset, a.dtype))
            shape = a.shape
            del a
        except (OSError, ValueError) as exc:
            raise BackpropvizError(f"{str(rec.path)!r}: the snapshot of step {int(s)} cannot be read "
                                   f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        if shape != (rec.n_params,):
            raise BackpropvizError(f"{str(rec.path)!r}: the snapshot of step {int(s)} holds {shape} values, "
                                   f"not the recording's {rec.n_params} parameters")
    return layout


def centred_blocks(files, n_params: int):
    """``(start, block (K, w))`` for each block of columns ``start:start + w`` of the K snapshot
    files ``files`` (``snapshot_files``), centred there (the K rows' mean subtracted); the block
    holds GRAM_BLOCK_BYTES at most and is reused, so take what is needed before the next. A file
    is opened for each block it gives (``np.fromfile`` at its offset), so that K is not limited
    by how many files may stay open."""
    K = len(files)
    width = max(1, GRAM_BLOCK_BYTES // (8 * K))
    block = np.empty((K, min(width, n_params)))
    for start in range(0, n_params, width):
        b = block[:, : min(width, n_params - start)]
        for i, (path, offset, dtype) in enumerate(files):
            b[i] = np.fromfile(path, dtype=dtype, count=b.shape[1], offset=offset + start * dtype.itemsize)
        b -= b.mean(axis=0)
        yield start, b


def snapshot_gram(rec, steps) -> np.ndarray:
    """The centred Gram matrix (K, K) of the parameters saved at ``steps``: ``C @ C.T`` where C is
    the stacked (K, P) states minus their mean, never held: each snapshot file is read a block of
    columns at a time (``centred_blocks``) and added in. Memory: O(K^2 + GRAM_BLOCK_BYTES), not O(K P)."""
    files = snapshot_files(rec, steps)
    gram = np.zeros((len(files), len(files)))
    for _, b in centred_blocks(files, rec.n_params):
        gram += b @ b.T
    return gram


def snapshot_combinations(rec, steps, weights) -> np.ndarray:
    """``weights.T @ C`` (m, P): combinations of the centred snapshots at ``steps`` (C as in
    ``snapshot_gram``) with the columns of ``weights`` (K, m), read a block of columns at a time.
    With the Gram matrix's eigenvectors u divided by the square roots of their eigenvalues, these
    are the principal directions of the snapshots (C = U S V^T, so V^T = S^-1 U^T C)."""
    weights = np.asarray(weights, dtype=np.float64)
    out = np.empty((weights.shape[1], rec.n_params))
    for start, b in centred_blocks(snapshot_files(rec, steps), rec.n_params):
        out[:, start: start + b.shape[1]] = weights.T @ b
    return out


class SnapshotRows:
    """The parameters saved at ``steps`` of recording ``rec`` as the rows of a path that
    ``landscape.model_plane`` draws (its ``path``), read from their files when they are needed,
    never all held: each row alone, the PCA directions from the Gram matrix a block of columns
    at a time. Memory: O(K^2 + GRAM_BLOCK_BYTES + a few P), not O(K P).

    ``parts``: the model's parameters in its flat order, each as ``(name in the recording, numpy
    dtype or None)``: a row is the recording's values of those, each cast to that dtype (as
    loading them into the model would), in that order; default the recording's own, as saved.

    >>> rows = SnapshotRows(load_recording("rec"), [0, 50, 100])           # doctest: +SKIP
    >>> land = model_plane(model, loss_fn, X, y, method="pca", path=rows)  # doctest: +SKIP
    """

    def __init__(self, rec, steps, parts=None):
        self.rec, self.steps = rec, [int(s) for s in steps]
        self.files = snapshot_files(rec, self.steps)
        layout = {p["name"]: p for p in rec.meta["params"]}
        parts = [(p["name"], None) for p in rec.meta["params"]] if parts is None else list(parts)
        self.parts = [(layout[name]["offset"], layout[name]["numel"], dtype) for name, dtype in parts]
        self.n_params = sum(n for _, n, _ in self.parts)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"SnapshotRows({str(self.rec.path)!r}, steps={self.steps}, n_params={self.n_params})"

    @property
    def held_bytes(self) -> int:
        """What the rows cost in memory while a plane is made of them (beside the K x K Gram
        matrix): the block of columns, and a few P-sized float64 vectors (the centre, the two
        directions, a row and its offset from the centre, their copies in the model's order)."""
        return GRAM_BLOCK_BYTES + 8 * 8 * self.n_params

    def _ordered(self, flat: np.ndarray, *, cast: bool = True) -> np.ndarray:
        """``flat`` (..., recording's P) in the model's parameter order (float64)."""
        pieces = [flat[..., o: o + n] if dtype is None or not cast else flat[..., o: o + n].astype(dtype)
                  for o, n, dtype in self.parts]
        return np.concatenate(pieces, axis=-1).astype(np.float64)

    def row(self, i: int) -> np.ndarray:
        """Row ``i`` (P,), float64, in the model's order: the snapshot of ``steps[i]``."""
        path, offset, dtype = self.files[i]
        return self._ordered(np.fromfile(path, dtype=dtype, count=self.rec.n_params, offset=offset))

    def pca(self, center: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``directions.pca_directions`` of the rows (the same directions and explained variance,
        the same sign rule and the same second direction when the path moves along one), from the
        rows' Gram matrix: its top two eigenvectors u, as ``C^T u / sqrt(eigenvalue)``. A second
        eigenvalue below PCA_ZERO times the first is taken as zero (it is rounding)."""
        from . import directions as dirs

        if len(self) < 2:
            raise BackpropvizError(f"PCA directions need a path of at least 2 recorded steps; got {len(self)}")
        values, vectors = np.linalg.eigh(snapshot_gram(self.rec, self.steps))
        values = np.clip(values, 0.0, None)
        total = float(values.sum())
        if total == 0.0:
            raise BackpropvizError("PCA directions need a path that moves; every recorded step has the same parameters")
        top = np.argsort(values)[::-1][:2]
        keep = top[: 1 + int(values[top[1]] > PCA_ZERO * values[top[0]])]
        d = np.zeros((2, self.n_params))
        weights = vectors[:, keep] / np.sqrt(values[keep])
        d[: len(keep)] = self._ordered(snapshot_combinations(self.rec, self.steps, weights), cast=False)
        d[0] /= np.linalg.norm(d[0])
        explained = values[top] / total
        if len(keep) == 2:
            d[1] -= (d[0] @ d[1]) * d[0]  # orthogonal to rounding already; exactly so
            d[1] /= np.linalg.norm(d[1])
        else:  # as pca_directions
            d[1] = dirs.orthogonal_axis(d[0])
            explained[1] = 0.0
        return dirs.oriented(d, self.row(0) - center), explained

    def project(self, center: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``directions.project`` of the rows, one at a time: ``(coords (K, 2), residual (K,))``."""
        from . import directions as dirs

        out = [dirs.project(self.row(i)[None], center, d) for i in range(len(self))]
        return np.concatenate([c for c, _ in out]), np.concatenate([r for _, r in out])

    def extent(self, center: np.ndarray) -> float:
        """The largest distance of a row from ``center``."""
        return max(float(np.linalg.norm(self.row(i) - center)) for i in range(len(self)))

    def losses(self, evaluator) -> np.ndarray:
        """``evaluator.points`` at every row (K,), a few rows (GRAM_BLOCK_BYTES of them) at a time."""
        per = max(1, GRAM_BLOCK_BYTES // (8 * self.n_params))
        return np.concatenate([
            evaluator.points(np.stack([self.row(i) for i in range(a, min(a + per, len(self)))])).astype(np.float64)
            for a in range(0, len(self), per)])


def pca_plane_of_gram(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pca_plane`` of rows given by their centred Gram matrix (n, n): with C = U S V^T, C C^T =
    U S^2 U^T, so the coordinates U S come from its eigenvectors, the variance shares from its
    eigenvalues; the same sign rule (the last row at a positive coordinate)."""
    values, vectors = np.linalg.eigh(gram)
    values = np.clip(values, 0.0, None)  # rounding can leave the zero ones slightly negative
    top = np.argsort(values)[::-1][:2]
    coords = np.zeros((len(gram), 2))
    coords[:, : len(top)] = vectors[:, top] * np.sqrt(values[top])
    for j in range(len(top)):
        if coords[-1, j] < 0:
            coords[:, j] = -coords[:, j]
    total = float(values.sum())
    explained = np.zeros(2)
    if total > 0:
        explained[: len(top)] = values[top] / total
    return coords, explained


def nearest_snapshot(snapshot_steps: np.ndarray, step: int) -> int:
    """Index of the last snapshot at or before ``step`` (the first one when none is)."""
    i = int(np.searchsorted(snapshot_steps, step, side="right")) - 1
    return max(i, 0)
