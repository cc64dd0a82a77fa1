"""Which recorded rows an animation shows: frames where the change is.

Learning moves fast early and slowly late, so evenly spaced frames spend most of an animation on
a picture that no longer changes. ``choose_frames`` spaces them by how far the parameters moved
(the cumulative length of the path through parameter space), or logarithmically in the step,
and always keeps the first row (the initial state) and the last (the state after training).
Numbers only: no plotting here.

>>> import numpy as np
>>> params = np.cumsum(np.r_[0.0, 10.0, 1.0, np.full(8, 0.1)])[:, None]  # one big first step
>>> choose_frames(params, 4).rows.tolist()
[0, 1, 2, 10]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BackpropvizError, choice_error

SPACINGS = ("movement", "log", "linear")
MIN_FRAMES = 2  # the first and the last row


@dataclass(frozen=True)
class FrameChoice:
    """``rows``: increasing indices into ``params`` (0 = initial state, T = after step T - 1);
    ``every_row``: True when more frames were asked than there are rows (then each row is a
    frame, once); ``asked``: the number of frames asked for."""

    rows: np.ndarray
    spacing: str
    asked: int
    every_row: bool = False

    def __repr__(self) -> str:
        return f"FrameChoice({len(self.rows)} of {self.asked} asked, spacing={self.spacing!r})"


def check_frames(n_frames) -> int:
    """The number of frames as an int of at least 2, or a BackpropvizError saying why not."""
    try:
        n = int(n_frames)
    except (TypeError, ValueError):
        raise BackpropvizError(f"--frames must be a whole number of at least {MIN_FRAMES}; "
                               f"got {n_frames!r} instead") from None
    if n != n_frames or n < MIN_FRAMES:
        raise BackpropvizError(f"--frames must be a whole number of at least {MIN_FRAMES} (the first and "
                               f"the last step); got {n_frames!r} instead")
    return n


def path_length(params) -> np.ndarray:
    """Cumulative Euclidean length of the path through parameter space at each row (float64);
    ``path_length(p)[0]`` is 0. Steps that blew up to inf/NaN count as no movement."""
    p = np.asarray(params, dtype=np.float64)
    steps = np.linalg.norm(np.diff(p, axis=0), axis=1) if len(p) > 1 else np.zeros(0)
    steps = np.where(np.isfinite(steps), steps, 0.0)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _distinct(candidates: np.ndarray, last: int) -> np.ndarray:
    """Make ``candidates`` (sorted, within 0..last, first 0 and last ``last``) strictly increasing
    by moving clashing rows forward, without running past room for those still to come."""
    n = len(candidates)
    rows = np.empty(n, dtype=np.int64)
    previous = -1
    for k, c in enumerate(candidates):
        rows[k] = min(max(int(c), previous + 1), last - (n - 1 - k))
        previous = rows[k]
    return rows


def choose_frames(params, n_frames: int, *, spacing: str = "movement") -> FrameChoice:
    """``n_frames`` distinct rows of ``params`` ((T + 1, P)), the first and last always among them.

    ``spacing``: ``"movement"`` spreads the frames evenly along the cumulative parameter
    movement (a run that does not move at all falls back to ``"linear"``), ``"log"`` spaces the
    steps logarithmically, ``"linear"`` evenly. Asking for more frames than rows gives every row
    (``every_row`` says so).
    """
    if spacing not in SPACINGS:
        raise choice_error("frame spacing", spacing, SPACINGS)
    n = check_frames(n_frames)
    last = len(params) - 1
    if n >= last + 1:
        return FrameChoice(np.arange(last + 1), spacing, n, every_row=n > last + 1)
    if spacing == "movement":
        length = path_length(params)
        if length[-1] > 0:
            targets = np.linspace(0.0, length[-1], n)
            # the first row whose movement reaches each target
            candidates = np.searchsorted(length, targets, side="left")
        else:
            candidates = np.round(np.linspace(0, last, n))
    elif spacing == "log":
        candidates = np.concatenate([[0], np.round(np.geomspace(1, last, n - 1))])
    else:
        candidates = np.round(np.linspace(0, last, n))
    candidates = np.clip(candidates, 0, last)
    candidates[0], candidates[-1] = 0, last
    return FrameChoice(_distinct(np.sort(candidates), last), spacing, n)


def choose_race_frames(histories, n_frames: int, *, spacing: str = "movement") -> FrameChoice:
    """Frames for several runs racing on one clock, epochs: ``rows`` are epochs (0 to the longest
    run's), spaced by all runs' movement together (each run's parameters at the end of each
    epoch, side by side; a shorter run stays at its end)."""
    per_run = [np.asarray(h.params, dtype=np.float64)[h.epoch_param_rows] for h in histories]
    longest = max(len(p) for p in per_run)
    padded = [np.concatenate([p, np.repeat(p[-1:], longest - len(p), axis=0)]) for p in per_run]
    return choose_frames(np.concatenate(padded, axis=1), n_frames, spacing=spacing)
