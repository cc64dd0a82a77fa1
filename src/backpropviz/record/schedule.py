"""When a recording saves full snapshots: ``every(k)``, ``logspaced(n)`` or a list of steps.

A schedule names *states* (state s: the model after s optimiser steps). State 0 and the last
state are always saved, whatever the schedule says; a schedule only adds states between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from ..errors import BackpropvizError


@dataclass(frozen=True)
class Every:
    """States 0, k, 2k, ... (``every(100)``)."""

    k: int

    def __contains__(self, step: int) -> bool:
        return step % self.k == 0

    def states(self, steps: int) -> list[int]:
        return sorted(set(range(0, steps + 1, self.k)) | {0, steps})

    def to_json(self) -> dict:
        return {"kind": "every", "k": self.k}

    def __str__(self) -> str:
        return f"every({self.k})"


@dataclass(frozen=True)
class Steps:
    """The given states (``[0, 10, 500]``), and 0 and the last one."""

    steps: tuple[int, ...]

    def __contains__(self, step: int) -> bool:
        return step in self._set

    @cached_property
    def _set(self) -> frozenset:
        return frozenset(self.steps)

    def states(self, steps: int) -> list[int]:
        return sorted({s for s in self.steps if s <= steps} | {0, steps})

    def to_json(self) -> dict:
        return {"kind": "steps", "steps": list(self.steps)}

    def __str__(self) -> str:
        return f"{len(self.steps)} listed steps"


@dataclass(frozen=True)
class LogSpaced:
    """About ``n`` states spaced evenly in log(1 + step) over 0..steps (needs the number of steps)."""

    n: int
    total: int | None = None

    def bound(self, total: int) -> "LogSpaced":
        return LogSpaced(self.n, total)

    def __contains__(self, step: int) -> bool:
        return step in self._set

    @cached_property
    def _set(self) -> frozenset:
        return frozenset(self.states(self.total))

    def states(self, steps: int) -> list[int]:
        if self.n <= 1:
            return sorted({0, steps})
        top = math.log1p(steps)
        picks = {round(math.expm1(top * i / (self.n - 1))) for i in range(self.n)}
        return sorted({s for s in picks if s <= steps} | {0, steps})

    def to_json(self) -> dict:
        return {"kind": "logspaced", "n": self.n}

    def __str__(self) -> str:
        return f"logspaced({self.n})"


def every(k: int) -> Every:
    """Snapshots of states 0, k, 2k, ... and of the last state: ``snapshots=every(100)``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise BackpropvizError(f"every(k) takes a whole number k >= 1; got {k!r}")
    return Every(k)


def logspaced(n: int) -> LogSpaced:
    """About ``n`` snapshots spaced evenly in log(1 + step), dense early: ``snapshots=logspaced(20)``.

    The recording needs ``steps=`` (the number of optimiser steps expected) to place them.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise BackpropvizError(f"logspaced(n) takes a whole number n >= 2; got {n!r}")
    return LogSpaced(n)


def as_schedule(snapshots, steps: int | None):
    """``snapshots=`` as a schedule: a schedule, a list of steps, or None (only the first and last)."""
    if snapshots is None:
        return Steps(())
    if isinstance(snapshots, (Every, Steps)):
        return snapshots
    if isinstance(snapshots, LogSpaced):
        if steps is None:
            raise BackpropvizError("snapshots=logspaced(n) needs steps= (the number of optimiser "
                                   "steps expected) to place them; give steps=, or use every(k)")
        return snapshots.bound(steps)
    try:
        listed = [int(s) for s in snapshots]
        ok = all(float(s) == int(s) and int(s) >= 0 for s in snapshots)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise BackpropvizError("snapshots= takes every(k), logspaced(n), a list of steps >= 0 or "
                               f"None; got {snapshots!r}")
    return Steps(tuple(sorted(set(listed))))
