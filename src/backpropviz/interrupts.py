"""Ctrl-C and SIGTERM: exit 130 / 143 with one line saying what was kept, never a traceback.

Three phases, one handler each:

- start-up (``at_start``, installed before anything heavy is imported): nothing has been
  written yet, so the process says so and exits at once;
- a command running (``while_running``): the signal raises ``Interrupted`` where the program
  is, so that training can stop between two steps and keep what it did (``--save-history``),
  and every temporary file is removed on the way out;
- ``deferred()``: around the few renames that put finished files in place, and around saving
  the steps kept, a signal waits until they are done (a file is only ever replaced by a whole,
  valid one).

Only the standard library is imported here, so that ``at_start`` can run first.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """The user stopped the program (Ctrl-C: SIGINT, or SIGTERM). Exit code 128 + signal.

    ``kept`` says what was kept (set by the code that saved something on the way out).
    """

    def __init__(self, signum: int = signal.SIGINT, kept: str | None = None):
        super().__init__(signal_name(signum))
        self.signum, self.kept = signum, kept

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __repr__(self) -> str:
        return f"Interrupted({signal_name(self.signum)}, kept={self.kept!r})"


class Stopped(Exception):
    """Carries an ``Interrupted`` out of a command past typer, which would turn it into a bare
    exit code 130 (see ``cli.app.check_numbers``); ``main`` unwraps it."""

    def __init__(self, interrupt: KeyboardInterrupt):
        super().__init__(str(interrupt))
        self.interrupt = interrupt


def _handled():
    """The signals whose handler we may replace: not those the parent told us to ignore."""
    return [s for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]


def _exit_at_once(signum, frame):  # noqa: ARG001
    os.write(2, f"backpropviz: interrupted ({signal_name(signum)}) while starting; nothing was written\n".encode())
    os._exit(128 + signum)


_last = None  # the signal of the last Interrupted a handler raised (typer may swallow the exception)


def _raise(signum, frame):  # noqa: ARG001
    global _last
    _last = signum
    raise Interrupted(signum)


def last_signal() -> int:
    """The signal that raised the last ``Interrupted`` (SIGINT if none did)."""
    return signal.SIGINT if _last is None else _last


def at_start() -> None:
    """Start-up (imports): a signal ends the process at once with its one line."""
    for s in _handled():
        signal.signal(s, _exit_at_once)


def while_running() -> dict:
    """A command runs: a signal raises ``Interrupted`` (a KeyboardInterrupt) where the program is.
    Returns the handlers it replaced (for ``restore``)."""
    global _last
    _last = None
    previous = {}
    for s in _handled():
        previous[s] = signal.signal(s, _raise)
    return previous


def restore(previous: dict) -> None:
    """Put back the handlers ``while_running`` replaced (``main`` called from a program or a test)."""
    for s, handler in previous.items():
        signal.signal(s, handler)


def started_as_program() -> bool:
    """Is this process the ``backpropviz`` program (console script or ``python -m backpropviz``),
    rather than a program that imports the CLI (a test, a notebook)?"""
    import sys

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name == "backpropviz.__main__":
        return True
    name = os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else "")
    return name in ("backpropviz", "backpropviz.exe", "backpropviz-script.py")


def quietly() -> None:
    """Everything is done and reported: a late signal changes nothing, so it is ignored."""
    for s in _handled():
        signal.signal(s, signal.SIG_IGN)


class StepGuard:
    """Within a training loop: a signal that would raise waits while a step is half recorded.

    ``with StepGuard() as guard:`` wraps each of the signal handlers that raise (``_raise``,
    Python's default Ctrl-C handler) once; ``guard.busy = True`` before the update and
    ``guard.done()`` after the step is recorded, and a signal that came in between raises at
    ``done()``. Setting a flag costs nothing next to a step; swapping the handlers at every step
    as ``deferred`` does would cost ~30 us a step. Off the main thread (where no handler runs)
    it does nothing.
    """

    def __init__(self):
        self.busy = False
        self.pending = None
        self.previous = {}

    def __enter__(self) -> StepGuard:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                handler = signal.getsignal(s)
                if callable(handler):
                    self.previous[s] = handler
                    signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.busy:
            self.pending = (signum, frame)
        else:
            self.previous[signum](signum, frame)

    def done(self) -> None:
        self.busy = False
        if self.pending is not None:
            (signum, frame), self.pending = self.pending, None
            self.previous[signum](signum, frame)

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


@contextmanager
def deferred():
    """Hold SIGINT and SIGTERM until the block is done; one that came meanwhile is raised after it.

    (The handler is swapped rather than the signals masked: a mask holds only in its own
    thread, and torch's worker threads would take the signal instead.)
    """
    pending: list[int] = []
    handled = _handled()
    previous = {s: signal.getsignal(s) for s in handled}
    for s in handled:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if pending:
        signal.raise_signal(pending[0])
