"""The playground's background work: the views a live run needs beyond its steps.

A page trained by ``backpropviz serve`` receives its steps as they are made (web/server.py). The
views that ``backpropviz html`` computes once for a whole run are computed here, for the steps
recorded so far, by the same code (``pack._surface``, ``pack._trace``) on a History of those
steps, in one thread per run, so that neither the controls nor the step stream wait for them:

- the loss surface with the path so far (the perceptron's w1-w2 plane with b fixed, else the PCA
  plane of the path so far, with its faithfulness), when the run pauses or ends and on request;
  ``progress`` events come before it;
- the autograd trace of the steps the page stops at (on request), for the computation graph
  and the chain-rule table, which say "nearest traced step" as offline;
- the per-epoch metrics (train and test loss, accuracy or R^2) as epochs begin, measured at the
  parameters in force when each epoch starts, as ``train`` measures them.

What is ready is published as the newest value of each kind (``surface``, ``progress``, ``trace``,
``epochs``); a stream sends each value it has not sent yet (``events``), so a page that
reconnects gets the newest one and nothing piles up.

Messages (through ``POST /api/command``, checked here):

| action | fields | effect |
|---|---|---|
| ``surface`` | | the surface of the path so far, now (also while training) |
| ``trace`` | ``steps``: 1..16 step numbers already recorded | those steps traced (the newest 200 are kept) |
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref

import numpy as np

from ..errors import BackpropvizError

ACTIONS = ("surface", "trace")
SURFACE_RESOLUTION = 51   # points per axis, as `backpropviz html`
MAX_TRACED = 200          # traced steps kept per run
MAX_TRACE_REQUEST = 16    # steps in one request
PAUSE_SETTLE_S = 0.3      # a run paused this long gets its surface (not after every single click)
IDLE_EXIT_S = 10.0        # a finished run's worker ends after this long without requests
PROGRESS_EVERY_S = 0.05


class WorkError(BackpropvizError):
    """A playground message about the live views that the server refuses (answered with 400)."""


def live_omitted() -> list[dict]:
    """The page's notes for the views that come later than the steps (the surface, the graph)."""
    from ..i18n import CATALOGUE, LANGS

    return [{"view": view, "reason": {lg: CATALOGUE[f"page_{key}"][lg] for lg in LANGS}}
            for view, key in (("surface", "live_surface_pending"), ("graph", "live_graph_pending"))]


def run_history(run, steps: int | None = None):
    """The History of the first ``steps`` steps of a live run (default: all recorded so far), from
    its Recorder and the data its page was sent. The arrays are views of the Recorder's: rows that
    are recorded never change (training writes the rows after them), and a run of 100,000 steps is
    not copied for every request."""
    from ..history import History
    from .pack import decode

    rec, meta = run.rec, run.meta
    n = run.done_steps if steps is None else min(int(steps), run.done_steps)
    if rec is None or n < 1:
        return None
    data = meta["data"]
    y = decode(data["y"])
    y = (y.reshape(-1) if y.shape[1] == 1 else y).astype(np.float32)
    test = "X_test" in data
    y_test = None
    if test:
        y_test = decode(data["y_test"])
        y_test = (y_test.reshape(-1) if y_test.shape[1] == 1 else y_test).astype(np.float32)
    return History(
        params=rec.params.numpy()[:n + 1], grads=rec.grads.numpy()[:n], loss=rec.loss[:n],
        epoch=rec.epoch[:n], param_names=list(meta["run"]["param_names"]),
        X=np.array(decode(data["X"]), dtype=np.float32), y=y, config=dict(meta["run"]["config"]),
        batches=None if rec.batches is None else rec.batches[:n], lr=rec.lr[:n],
        X_test=np.array(decode(data["X_test"]), dtype=np.float32) if test else None, y_test=y_test,
        feature_names=list(data["feature_names"]), class_names=list(data["class_names"]))


class _Cancelled(Exception):
    """Raised from the surface's progress report to stop computing it (the run was stopped)."""


class LiveWork:
    """The background views of one LiveRun (see the module's docstring); ``work_of(run)`` makes it."""

    def __init__(self, run):
        self.run = run
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        self.version = 0
        self.published: dict[str, tuple[int, dict]] = {}
        self.surface_wanted = False
        self.surface_rows = 0          # rows the newest surface covers (0: none yet)
        self.auto_steps = 0            # the steps a surface was last made (or tried) for by itself
        self.traced: list[int] = []    # steps traced, in the order asked
        self.trace_wanted: list[int] = []
        self.trace_rows = 0            # steps recorded when the newest trace was made
        self.metrics = None            # per-epoch evaluators, made on first use
        self.epoch_values: dict[str, list[float]] = {}
        self.last_request = time.monotonic()

    def __repr__(self) -> str:
        return f"LiveWork(run {self.run.id}, surface rows {self.surface_rows}, traced {len(self.traced)})"

    # -- requests (any thread) ----------------------------------------------------------------------
    def start(self) -> "LiveWork":
        with self.cond:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name=f"backpropviz-views-{self.run.id}", daemon=True)
                self.thread.start()
        return self

    def want_surface(self) -> None:
        with self.cond:
            self.surface_wanted = True
            self.last_request = time.monotonic()
            self.cond.notify_all()
        self.start()

    def want_trace(self, steps: list[int]) -> None:
        with self.cond:
            for s in steps:
                if s not in self.traced and s not in self.trace_wanted:
                    self.trace_wanted.append(s)
            self.last_request = time.monotonic()
            self.cond.notify_all()
        self.start()

    def publish(self, name: str, data: dict) -> None:
        with self.cond:
            self.version += 1
            self.published[name] = (self.version, {"run": self.run.id, **data})

    def unsent(self, seen: dict) -> list[tuple[str, dict]]:
        """The values not yet in ``seen`` (name -> version, updated), oldest first."""
        with self.cond:
            items = sorted((v, name, data) for name, (v, data) in self.published.items() if seen.get(name) != v)
        for v, name, _ in items:
            seen[name] = v
        return [(name, data) for _, name, data in items]

    # -- the worker -----------------------------------------------------------------------------------
    def _loop(self) -> None:
        from ..analysis import graph_trace  # noqa: F401  (imported here, not on the first trace asked for:
        from ..render import graph  # noqa: F401           seconds on a busy machine)

        settled_at, settled_steps = None, -1
        while True:
            with self.cond:
                self.cond.wait(0.1)
                surface, traces = self.surface_wanted, list(self.trace_wanted)
            run = self.run
            if run.stop or _closing.is_set():
                return
            try:
                self._epochs()
                state, steps = run.state, run.done_steps
                if state == "paused" or state in ("done", "diverged", "stopped", "error"):
                    if steps != settled_steps:
                        settled_at, settled_steps = time.monotonic(), steps
                    if steps > self.auto_steps and time.monotonic() - settled_at >= PAUSE_SETTLE_S:
                        surface = True
                else:
                    settled_steps = -1
                if self.auto_steps == 0 and steps > 0 and run.meta["run"]["model"]["kind"] == "perceptron":
                    surface = True  # its plane (w1, w2) is there from the first step: a start can be clicked on it
                if surface:
                    self.auto_steps = max(self.auto_steps, steps)  # once, even when it fails
                    with self.cond:
                        self.surface_wanted = False
                    self._surface()
                if traces:
                    self._trace(traces)
            except _Cancelled:
                return
            except Exception as exc:  # a bug or a run that cannot be drawn: said on the page, the server goes on
                with self.cond:
                    self.surface_wanted, self.trace_wanted = False, []
                self.publish("progress", {"kind": "error", "done": 0, "total": 0, "message": _message(exc)})
            finished = run.state in ("done", "diverged", "stopped", "error")
            with self.cond:
                idle = not self.surface_wanted and not self.trace_wanted
                if finished and idle and time.monotonic() - self.last_request > IDLE_EXIT_S \
                        and self.auto_steps >= run.done_steps:
                    self.thread = None
                    return

    def _surface(self) -> None:
        from ..analysis.landscape import losses_along_path
        from .pack import _surface

        history = run_history(self.run)
        if history is None:
            return
        rows = np.arange(history.n_steps + 1)
        last = [0.0]

        def progress(done, total):
            if self.run.stop or _closing.is_set():  # a new run, the server stopping: no one waits for it
                raise _Cancelled()
            now = time.perf_counter()
            if now - last[0] >= PROGRESS_EVERY_S or (total and done >= total):
                last[0] = now
                self.publish("progress", {"kind": "surface", "done": int(done), "total": int(total or 0),
                                          "steps": history.n_steps})

        self.publish("progress", {"kind": "surface", "done": 0, "total": SURFACE_RESOLUTION ** 2,
                                  "steps": history.n_steps})
        surface = _surface(history, rows, np.asarray(losses_along_path(history), dtype=np.float64),
                           SURFACE_RESOLUTION, progress=progress)
        self.surface_rows = len(rows)
        self.publish("surface", {"steps": history.n_steps, "surface": surface})

    def _trace(self, wanted: list[int]) -> None:
        from .pack import _trace

        with self.cond:
            self.trace_wanted = [s for s in self.trace_wanted if s not in wanted]
            self.traced = [s for s in self.traced if s not in wanted] + wanted
            del self.traced[:-MAX_TRACED]
            steps = np.array(sorted(self.traced))
        history = run_history(self.run, int(steps[-1]) + 1)
        if history is None:
            return
        trace = _trace(history, np.arange(history.n_steps), 0, positions=steps)
        self.publish("trace", {"steps": [int(s) for s in steps], "trace": trace})

    def _epochs(self) -> None:
        """Per-epoch metrics at the rows where epochs begin (and the last row, once reached)."""
        from ..train import batch_layout
        from .pack import encode

        run = self.run
        steps = run.done_steps
        if run.rec is None or steps < 1:
            return
        per_epoch = batch_layout(run.config, run.meta["data"]["y"]["shape"][0])[2]
        measured = len(self.epoch_values.get("train_loss", []))  # epochs whose start is measured
        rows = range(measured * per_epoch, min(steps, run.n_steps) + 1, per_epoch)
        if not len(rows):
            return
        if self.metrics is None:
            self.metrics = _EpochMetrics(run_history(run))
            self.epoch_values = {name: [] for name in self.metrics.names}
        for row in rows:
            for name, value in self.metrics.at(run.rec.params[row]).items():
                self.epoch_values[name].append(value)
        self.publish("epochs", {"epochs": {k: encode(np.array(v, dtype=np.float64)) for k, v in self.epoch_values.items()}})


def epoch_metric_names(has_test: bool) -> list[str]:
    """The per-epoch metrics a live run's "epochs" events hold (train's, and the test set's if any)."""
    return [f"{part}_{what}" for part in ("train", "test")[:1 + has_test] for what in ("loss", "acc")]


class _EpochMetrics:
    """The whole training and test sets' data loss and score at given parameters, as ``train``
    measures them once per epoch (its WholeSetEvaluator on a model of the run's kind)."""

    def __init__(self, history):
        import torch

        from ..config import RunConfig
        from ..losses import get_loss
        from ..train import WholeSetEvaluator, is_regression, model_at, score_fn

        self.model = model_at(history, 0)
        loss_fn = get_loss(RunConfig.from_dict(history.config).loss)
        score = score_fn(is_regression(history))
        y = torch.from_numpy(history.y).reshape(-1, 1) if history.y.ndim == 1 else torch.from_numpy(history.y)
        self.evaluators = {"train": WholeSetEvaluator(self.model, loss_fn, torch.from_numpy(history.X), y, score)}
        if history.has_test:
            yt = torch.from_numpy(history.y_test)
            yt = yt.reshape(-1, 1) if yt.ndim == 1 else yt
            self.evaluators["test"] = WholeSetEvaluator(self.model, loss_fn, torch.from_numpy(history.X_test), yt, score)
        self.names = epoch_metric_names("test" in self.evaluators)

    def at(self, flat) -> dict[str, float]:
        from ..models import set_flat

        set_flat(self.model, flat)
        out = {}
        for part, ev in self.evaluators.items():
            out[f"{part}_loss"], out[f"{part}_acc"] = ev()
        return out


def _message(exc: Exception) -> str:
    if isinstance(exc, BackpropvizError):
        return str(exc)[:500]
    return f"internal error ({type(exc).__name__}: {exc})"[:500]


_works_lock = threading.Lock()
_works: "weakref.WeakSet[LiveWork]" = weakref.WeakSet()
_closing = threading.Event()


@atexit.register
def _stop_all(timeout: float = 1.0) -> None:
    """At exit, let the workers finish the step they are in (torch aborts the process when a thread
    is still inside one of its kernels while the interpreter shuts down)."""
    _closing.set()
    deadline = time.monotonic() + timeout
    for work in list(_works):
        thread = work.thread
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))


def work_of(run) -> LiveWork:
    """The run's LiveWork (made, and its worker started, on first use)."""
    with _works_lock:
        work = getattr(run, "work", None)
        if work is None:
            work = run.work = LiveWork(run)
            _works.add(work)
    return work.start() if work.thread is None else work


def events(run, seen: dict) -> list[tuple[str, dict]]:
    """The live views' events a stream has not sent yet (``seen``: that stream's versions)."""
    return work_of(run).unsent(seen)


def check_steps(value, recorded: int) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TRACE_REQUEST:
        raise WorkError(f"steps must be a list of 1 to {MAX_TRACE_REQUEST} step numbers; got {str(value)[:60]}")
    out = []
    for s in value:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < recorded:
            raise WorkError(f"steps must be step numbers already recorded, 0..{recorded - 1}; got {str(s)[:30]}")
        out.append(s)
    return out


def command(client, message: dict) -> dict:
    """Answer a page's ``surface`` or ``trace`` message for its current run."""
    run = client.run
    action = message["action"]
    if run is None:
        raise WorkError(f"action {action!r} needs a run: send action 'new' with a config first")
    if set(message) - {"client", "action", "steps"} or (action == "surface" and "steps" in message):
        extra = sorted(set(message) - {"client", "action"}, key=str)
        raise WorkError(f"action {action!r} takes {'steps' if action == 'trace' else 'no other field'}; "
                        f"got {str(extra[0])[:40]!r}")
    if run.done_steps < 1:
        raise WorkError(f"action {action!r} needs a recorded step: train one step first")
    work = work_of(run)
    if action == "surface":
        work.want_surface()
    else:
        work.want_trace(check_steps(message.get("steps"), run.done_steps))
    return {"ok": True, "run": run.id, "action": action}
