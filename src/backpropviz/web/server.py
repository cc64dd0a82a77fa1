"""The live playground (``backpropviz serve``): the page's viewer with controls, fed by real training.

The server runs the project's one training loop (``backpropviz.train.train``) in a worker thread
per page, and streams every step to the page as server-sent events; the page appends them to its
``Recording`` (static/recording.js), so the views draw what ``backpropviz run`` with the same
settings records, bit for bit. What a page sends is checked as the CLI checks a ``--config`` file
(``config.config_from_dict``, then ``RunConfig.validate`` and the model's and data's own checks),
plus the limits below; a bad message gets a 400 with one clear line, never a crash.

Safe by default, as Jupyter is: it binds 127.0.0.1, and every request must carry the random token
of the printed URL (``?token=...``, or the cookie the page sets from it); others get 403.

HTTP:

| request | answer |
|---|---|
| ``GET /?token=T&data=moons&...`` | the playground page (settings in the query string) |
| ``GET /font.css`` | the Japanese font subset of the page's texts (built once; the page's scripts wait for it) |
| ``GET /static/...``, ``/live/...`` | the viewer's modules and the playground's |
| ``POST /api/command`` ``{client, action, config?, speed?, lr?, play?}`` | ``new`` (check ``config``, stop the page's run, prepare a new one: ``{run, config, meta, steps, status}``, ``meta`` without ``labels``, those of ``/api/choices``; with ``play: true`` it trains at once, and the answer waits up to ``FIRST_STEPS_WAIT`` for the run's first steps and carries them as ``first``, an event's ``steps`` data), ``play``, ``pause``, ``step`` (one step, then paused), ``speed``, ``lr`` (the learning rate from the next step on, kept in the run's ``lr_changes``: see ``LiveRun.set_lr``); ``surface``, ``trace`` with ``steps`` (the live views: web/livework.py) |
| ``POST /api/upload?name=FILE.csv`` (the file's bytes), ``GET /api/upload?csv=KEY`` | a CSV file for ``data: "csv"``, kept as ``<sha256>/<name>``, the key a config's ``csv`` gives: ``{csv, name, sha256, bytes, columns, rows, target, targets}`` (web/uploads.py) |
| ``GET /api/export/KIND?client=ID&run=N`` | the page's run as a file: ``history``, ``page`` (of the steps so far), ``command``, ``script``, ``config``; ``info`` for the export panel (web/exports.py) |
| ``GET /api/events?client=ID`` | server-sent events: ``steps`` (``{run, from, initial?, params, grads, loss, epoch, lr, whole_loss, lr_changes}``, arrays as page-format records) and ``status`` (``{run, state, seq, steps, message, lr_changes}``; ``seq`` numbers the run's changes of state, and the command's answer carries it too); ``progress``, ``surface``, ``trace``, ``epochs`` (web/livework.py) |
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import secrets
import socket
import threading
import time
from pathlib import Path

import numpy as np

from ..errors import BackpropvizError

LIVE = Path(__file__).parent / "live"

# Server-side limits, whatever a page sends.
MAX_LAYERS = 6           # hidden layers
MAX_NEURONS = 64         # per hidden layer
MAX_SAMPLES = 2000       # rows of the data set (before the train/test split)
MAX_STEPS = 100_000      # steps of one run
MAX_STEP_FLOATS = 40_000_000  # params + grads recorded over a run (160 MB of float32)
MAX_RUNS = 4             # runs training at once, all pages together
MAX_CLIENTS = 32         # pages known at once (the oldest idle one is forgotten)
MAX_BODY = 64 * 1024     # bytes of one message
DRAIN_LIMIT = 16 << 20  # an oversize message up to this size is read to its end before its 413: a connection closed with
# unread bytes is reset, and the client loses the answer with it
BODY_TIMEOUT = 10.0      # seconds a message may take to arrive
ORPHAN_GRACE = 10.0      # seconds a page may be without an event stream before its run stops
MAX_CHUNK = 4000         # steps in one event
MAX_LR_CHANGES = 1000    # learning rates changed during one run
SPEEDS = (0, 10000)      # steps per second: 0 is as fast as training goes
DEFAULT_SPEED = 60
# Seconds the answer to a ``new`` that plays waits for the run's first steps, to carry them: the
# page draws the new run from the answer, and the browser is idle while the server trains them (when
# the page made the new run's views meanwhile, the two took each other's CPU on a 2-core machine:
# moons mlp:8,8, the worker's first step 10 -> 16-24 ms). A slower first step comes by the stream.
FIRST_STEPS_WAIT = 0.1

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACTIONS = ("new", "play", "pause", "step", "speed", "lr")
# The views a live page starts with; the loss surface and the traced graphs come later, computed in
# the background for the steps so far (web/livework.py, which also says so on the page).
LIVE_VIEWS = ("boundary", "params", "loss", "network", "update")


class MessageError(BackpropvizError):
    """A page's message that the server refuses (answered with 400 and this line)."""


class _Stop(Exception):
    """Raised inside the training loop's hook to end a run (reset, a new run, shutdown)."""


# -- checks ---------------------------------------------------------------------------------------


def check_config(data, uploads=None) -> "RunConfig":  # noqa: F821
    """The validated RunConfig of a page's ``config``, within the playground's limits (cheap checks
    only: nothing is built yet). A CSV file must be one of ``uploads`` (web/uploads.py)."""
    from ..config import config_from_dict
    from ..models import parse_spec

    config = config_from_dict(data if uploads is None else uploads.resolve(data), "config")
    if (str(config.data).lower() == "csv" or config.csv) and uploads is None:
        raise MessageError("config: the playground trains the built-in data sets; a CSV file is not read here "
                           "(use backpropviz run --data csv)")
    _, hidden = parse_spec(config.model)
    if len(hidden) > MAX_LAYERS:
        raise MessageError(f"config: the playground takes at most {MAX_LAYERS} hidden layers; got {len(hidden)}")
    if any(h > MAX_NEURONS for h in hidden):
        raise MessageError(f"config: the playground takes at most {MAX_NEURONS} neurons a layer; got {max(hidden)}")
    if config.n_samples > MAX_SAMPLES:
        raise MessageError(f"config: the playground takes at most {MAX_SAMPLES} samples; got n_samples "
                           f"{config.n_samples}")
    if config.epochs > MAX_STEPS:
        raise MessageError(f"config: a playground run has at most {MAX_STEPS} steps; got epochs {config.epochs}")
    return config


def check_run_size(config, n_rows: int, n_params: int) -> int:
    """The run's step count, if it fits the playground's limits on rows and steps."""
    from ..train import batch_layout

    if n_rows > MAX_SAMPLES:
        raise MessageError(f"config: the playground takes at most {MAX_SAMPLES} samples; data {config.data!r} "
                           f"has {n_rows} training rows")
    _, _, per_epoch = batch_layout(config, n_rows)
    steps = config.epochs * per_epoch
    most = min(MAX_STEPS, MAX_STEP_FLOATS // (2 * n_params + 4))
    if steps > most:
        raise MessageError(f"config: a playground run of this model has at most {most} steps; {config.epochs} "
                           f"epochs of {per_epoch} steps make {steps} (at most epochs {max(most // per_epoch, 0)})")
    return steps


def check_speed(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not SPEEDS[0] <= value <= SPEEDS[1]:
        raise MessageError(f"speed must be a number of steps per second in {SPEEDS[0]}..{SPEEDS[1]} "
                           f"(0: as fast as training goes); got {value!r}")
    return float(value)


# -- a run ----------------------------------------------------------------------------------------


def live_meta(config, lang: str = "en"):
    """(page data without steps, a maker of the whole training set's loss evaluator, the run's steps,
    its data set) for ``config``: what the page needs to draw a run that has not started yet. Its ``labels`` (the
    catalogue, 72 KB of the 80 KB answer) are left out: the page has them from ``/api/choices``
    and puts them in (playground.js), so each new run's answer carries only the run."""
    from ..analysis.landscape import history_evaluator
    from ..train import batch_layout, load_data, start_history
    from .pack import PAGE_FORMAT, PAGE_VERSION, _data, _finite, _model_info

    # The run before its first step: the data, the model's layout and the parameter names. The
    # data set goes on to the run's worker (train), which so does not make it again.
    dataset = load_data(config)
    history = start_history(config, dataset)
    n_params = history.params.shape[1]
    steps = check_run_size(config, len(history.y), n_params)
    run_config = history.config
    model = _model_info(history)
    views, omitted = [], []
    for view in LIVE_VIEWS:
        if view == "boundary" and not (history.X.shape[1] == 2 and model["layers"]):
            continue
        if view == "network" and not model["layers"]:
            continue
        views.append(view)
    from .livework import epoch_metric_names, live_omitted

    omitted = live_omitted()  # the surface and the graph come later than the steps (web/livework.py)
    meta = {
        "format": PAGE_FORMAT, "version": PAGE_VERSION, "lang": lang, "title": "",
        "run": {"config": run_config, "param_names": list(history.param_names), "status": "completed",
                "model": model, "full_batch": batch_layout(config, len(history.y))[0], "lr": _finite(config.lr),
                "optimizer": str(config.optimizer), "planned_steps": steps},
        "data": _data(history), "epochs": {}, "surface": None, "trace": None, "views": views, "omitted": omitted,
        # the per-epoch metrics that will come (web/livework.py): the loss chart has their curves
        # from the first step, and is not made again when they come
        "epochs_to_come": epoch_metric_names(history.has_test),
    }
    # The evaluator is made by the run's worker thread before its first step, after the ``new``
    # command has answered (a model and a loss built again: ~12 ms of a moons mlp:8,8 answer's ~26,
    # spent while the page reads the answer and makes its views).
    return meta, functools.partial(history_evaluator, history, progress=False), steps, dataset


class LiveRun:
    """One run of ``train`` in a worker thread: paused, stepped, paced and stopped from its hook."""

    def __init__(self, run_id: int, config, meta: dict, make_evaluator, n_steps: int, speed: float, dataset=None):
        self.id, self.config, self.meta, self.n_steps = run_id, config, meta, n_steps
        self.dataset = dataset  # (the config's data, made once: train takes it)
        self.make_evaluator, self.evaluator = make_evaluator, None  # made by the worker (_work)
        self.speed = speed
        self.cond = threading.Condition()
        self.state = "ready"  # ready, running, paused, done, diverged, stopped, error
        self.message = ""
        self.budget = None  # steps left before pausing (one step: 1)
        self.stop = False
        self.rec = None
        self.done_steps = 0  # steps whose parameters are finite (train drops the rest)
        self.whole = np.full(n_steps + 1, np.nan)
        self.whole_done = 0  # rows of ``whole`` computed
        self.thread: threading.Thread | None = None
        self.first = threading.Event()  # set once the first step can be streamed, or the worker has ended
        self.history = None
        from ..train import LrChanges

        # The learning rate changed while the run trains: applied by the hook between two steps, at
        # the next step (train reads the plan), and kept as the run's lr_changes.
        self.plan = LrChanges(config)
        self.pending_lr = None
        self._in_hook = False  # the worker waits inside the hook: no step is under way
        self._hurry = False  # a learning rate changed while the worker waits for its next step's slot
        self._next = 0.0
        self._last_whole = 0.0

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        # Every change of state is numbered (``seq`` in status()): a page that gets a command's answer
        # after a newer status event keeps the newer state.
        if value != getattr(self, "_state", None):
            self._state = value
            self.seq = getattr(self, "seq", 0) + 1

    # control (any thread)
    def play(self, budget=None) -> None:
        """Train (``budget`` steps, or on)."""
        with self.cond:
            if self.state in ("done", "diverged", "stopped", "error"):
                return
            # Steps add up: a second "one step" before the first is made makes two.
            self.budget = budget + self.budget if budget is not None and self.budget is not None else budget
            self._next = time.perf_counter()
            self.state = "running"
            if self.thread is None:
                self._start()
            else:
                self.cond.notify_all()

    def _start(self) -> None:
        thread = threading.Thread(target=self._work, name=f"backpropviz-run-{self.id}", daemon=True)
        thread.start()
        self.thread = thread  # (once started: another thread may join it as soon as it sees it)

    def pause(self) -> None:
        with self.cond:
            if self.state == "running":
                self.state = "paused"

    def halt(self) -> None:
        with self.cond:
            self.stop = True
            self.cond.notify_all()

    def set_lr(self, lr) -> None:
        """From the next step on the base learning rate is ``lr`` (a run not started: from step 0)."""
        from ..config import check_lr_changes

        with self.cond:
            if self.state in ("done", "diverged", "stopped", "error"):
                raise MessageError(f"the run has ended ({self.state}); a new learning rate starts a new run")
            if len(self.plan.at) >= MAX_LR_CHANGES:
                raise MessageError(f"a playground run takes at most {MAX_LR_CHANGES} learning rate changes; "
                                   "start a new run")
            step = 0 if self.thread is None else (self.rec.t if self._in_hook and self.rec is not None else None)
            at = {**self.plan.at, (self.done_steps + 1 if step is None else step): lr}
            try:
                check_lr_changes(tuple(sorted(at.items())), self.config.lr_min)
            except BackpropvizError as exc:
                raise MessageError(f"lr: {exc}".replace("lr: lr_changes: ", "lr: ")) from None
            if step is None:
                self.pending_lr = float(lr)  # the hook applies it before the next step
            else:
                self.plan.change(step, lr)
                self.pending_lr = None
                self._hurry = True  # (a paced worker makes that step now)
            self.cond.notify_all()

    def lr_changes(self) -> list:
        with self.cond:
            return [list(c) for c in self.plan.changes()]

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    # the worker
    def _work(self) -> None:
        from ..errors import TrainingDiverged
        from ..train import train

        state, message = "done", ""
        try:
            self.evaluator = self.make_evaluator()
            self.history = train(self.config, self.dataset, on_record=self._hook, lr_changes=self.plan, prefault=False)
        except _Stop:
            state = "stopped"
        except TrainingDiverged as exc:
            state, message = "diverged", str(exc)
        except BackpropvizError as exc:
            state, message = "error", str(exc)
        except Exception as exc:  # a bug: said on the page, the server goes on
            state, message = "error", f"internal error ({type(exc).__name__}: {exc})"
        try:
            if self.rec is not None:
                self._whole_losses()
        except Exception:
            pass
        with self.cond:
            self.state, self.message = state, message
        self.first.set()

    def _hook(self, rec) -> None:
        import torch

        self.rec = rec
        t = rec.t
        if self.done_steps == t - 1 and bool(torch.isfinite(rec.params[t]).all()):
            self.done_steps = t
        now = time.perf_counter()
        # A step is streamed once its whole-set loss is known: batched every 30 ms when training
        # runs flat out, at once when the pacing leaves time before the next step (no step waits).
        spare = self.speed > 0 and self._next + 1.0 / self.speed > now
        if spare or now - self._last_whole > 0.03:
            self._whole_losses()
        if self.whole_done > 1:
            self.first.set()
        with self.cond:
            self._in_hook = True
            if self.pending_lr is not None:
                self.plan.change(t, self.pending_lr)
                self.pending_lr = None
            if self.budget is not None:
                self.budget -= 1
                if self.budget <= 0:
                    self.budget = None
                    self.state = "paused"
            if self.state == "paused":
                self._whole_losses()
            while self.state == "paused" and not self.stop:
                self.cond.wait(0.25)
            if self.pending_lr is not None:  # came while the worker was here: still before step t
                self.plan.change(t, self.pending_lr)
                self.pending_lr = None
            speed = self.speed  # (once: a command may set it meanwhile)
            if speed > 0 and not self.stop:  # pace the steps: step t at its slot, never faster
                self._next = max(self._next + 1.0 / speed, time.perf_counter() - 0.1)
                # Still between two steps: a learning rate changed now applies to step t, which is
                # then made at once (set_lr), not at its slot (up to 1/speed later).
                self._hurry = False
                while not self.stop and not self._hurry:
                    wait = self._next - time.perf_counter()
                    if wait <= 0:
                        break
                    self.cond.wait(min(wait, 0.1))
            self._in_hook = False
            if self.stop:
                raise _Stop()

    def _whole_losses(self) -> None:
        """The whole training set's loss at the rows recorded since the last call (worker thread)."""
        rec, start, stop = self.rec, self.whole_done, self.done_steps + 1
        if rec is None or stop <= start:
            return
        self.whole[start:stop] = self.evaluator.points(rec.params[start:stop].numpy())
        self.whole_done = stop
        self._last_whole = time.perf_counter()

    # the stream
    def chunk(self, start: int) -> dict | None:
        """Steps ``start`` .. (those ready) as an event's data, or None when none is new."""
        from .pack import encode

        rec, ready = self.rec, min(self.done_steps, self.whole_done - 1)
        if rec is None or ready <= start:
            return None
        stop = min(ready, start + MAX_CHUNK)
        params = rec.params.numpy()
        out = {"run": self.id, "from": start, "params": encode(params[start + 1:stop + 1]),
               "grads": encode(rec.grads.numpy()[start:stop]), "loss": encode(rec.loss[start:stop]),
               "epoch": encode(rec.epoch[start:stop], "i4"), "lr": encode(rec.lr[start:stop]),
               "whole_loss": encode(self.whole[start + 1:stop + 1], "f8"), "to": stop,
               "lr_changes": self.lr_changes()}
        if start == 0:
            out["initial"] = encode(params[0])
            out["initial_whole_loss"] = _json_number(self.whole[0])
        return out

    def status(self) -> dict:
        with self.cond:
            return {"run": self.id, "state": self.state, "seq": self.seq, "steps": self.done_steps,
                    "total": self.n_steps, "message": self.message, "lr_changes": self.lr_changes()}


def _json_number(v):
    v = float(v)
    return v if np.isfinite(v) else None


class Client:
    """One page: its current run."""

    def __init__(self, cid: str):
        self.id, self.run, self.seen = cid, None, time.monotonic()
        self.streams = 0  # event streams open (0: the page was closed, or is reconnecting)

    def orphaned(self) -> None:
        """Stop the run of a page whose every stream has been closed for ORPHAN_GRACE seconds: a
        closed tab's run does not train on unseen, holding one of the MAX_RUNS places."""
        if self.streams == 0 and self.run is not None:
            self.run.halt()


class Playground:
    """The state behind the app: pages, their runs, the limits."""

    def __init__(self, token: str, upload_dir=None):
        from .uploads import Uploads

        self.token = token
        self.uploads = Uploads(upload_dir, max_rows=MAX_SAMPLES)
        self.clients: dict[str, Client] = {}
        self.lock = threading.Lock()
        self.next_id = 1
        self.closing = threading.Event()

    def client(self, cid) -> Client:
        if not isinstance(cid, str) or not CLIENT_ID.match(cid):
            raise MessageError(f"client must be an id of 1 to 64 letters, digits, '-' or '_'; got {cid!r}"[:300])
        with self.lock:
            c = self.clients.get(cid)
            if c is None:
                if len(self.clients) >= MAX_CLIENTS:
                    idle = [k for k, v in self.clients.items() if not (v.run and v.run.alive)]
                    if not idle:
                        raise MessageError(f"the playground serves at most {MAX_CLIENTS} pages at once")
                    oldest = min(idle, key=lambda k: self.clients[k].seen)
                    del self.clients[oldest]
                c = self.clients[cid] = Client(cid)
            c.seen = time.monotonic()
            return c

    def running(self) -> int:
        with self.lock:
            return sum(1 for c in self.clients.values() if c.run is not None and c.run.alive)

    def command(self, message) -> dict:
        """Answer one page message (see the module's table); MessageError for a bad one."""
        if not isinstance(message, dict):
            raise MessageError(f"a message must be a JSON object {{client, action, ...}}; got a {type(message).__name__}")
        from . import livework

        unknown = sorted(set(message) - {"client", "action", "config", "speed", "lr", "steps", "play"}, key=str)
        if unknown:
            raise MessageError(f"unknown field {str(unknown[0])[:60]!r} in the message; fields are action, client, "
                               "config, lr, play, speed, steps")
        action = message.get("action")
        if action in livework.ACTIONS:  # the live views' background work: the surface, traced steps
            return livework.command(self.client(message.get("client")), message)
        if action not in ACTIONS:
            raise MessageError(f"action must be one of {', '.join(ACTIONS + livework.ACTIONS)}; got {str(action)[:60]!r}")
        client = self.client(message.get("client"))
        speed = check_speed(message["speed"]) if "speed" in message else None
        run = client.run
        if action == "new":
            if "config" not in message:
                raise MessageError("action 'new' needs a config: the run's settings as run --config reads them")
            config = check_config(message["config"], self.uploads)
            play = message.get("play", False)
            if not isinstance(play, bool):
                raise MessageError(f"play must be true (train at once) or false; got {str(play)[:60]!r}")
            meta, make_evaluator, n_steps, dataset = live_meta(config)
            if run is not None:
                run.halt()
            with self.lock:
                run_id, self.next_id = self.next_id, self.next_id + 1
            fresh = client.run = LiveRun(run_id, config, meta, make_evaluator, n_steps,
                                         DEFAULT_SPEED if speed is None else speed, dataset)
            # "play": a setting changed while training trains the new run at once, without a second
            # round trip; the answer carries its first steps (FIRST_STEPS_WAIT). The stream sends
            # them too, from step 0 (the page keeps one of each step).
            answer = {"ok": True, "run": run_id, "config": meta["run"]["config"], "meta": meta, "steps": n_steps}
            if play and self.running() < MAX_RUNS:
                fresh.play()
                if fresh.first.wait(FIRST_STEPS_WAIT):
                    first = fresh.chunk(0)
                    if first is not None:
                        first.pop("to")
                        answer["first"] = first
            return {**answer, "status": fresh.status()}
        if run is None:
            raise MessageError(f"action {action!r} needs a run: send action 'new' with a config first")
        if speed is not None:
            run.speed = speed
        if action in ("play", "step"):
            if run.thread is None and self.running() >= MAX_RUNS:
                raise MessageError(f"the playground trains at most {MAX_RUNS} runs at once; pause or close another page")
            run.play(budget=1 if action == "step" else None)
        elif action == "pause":
            run.pause()
        elif action == "lr":
            if "lr" not in message:
                raise MessageError("action 'lr' needs an lr: the learning rate from the next step on")
            run.set_lr(message["lr"])
        return {"ok": True, **run.status()}

    def halt_runs(self) -> list:
        """Halt every page's run (each stops before its next step); returns them."""
        with self.lock:
            runs = [c.run for c in self.clients.values() if c.run is not None]
        for run in runs:
            run.halt()
        return runs

    def shutdown(self) -> None:
        self.closing.set()
        self.halt_runs()


# -- the app --------------------------------------------------------------------------------------


_FONT_LOCK = threading.Lock()  # the page's first visit waits for the build started with the server


def _font_css() -> str:
    with _FONT_LOCK:
        return _font_css_once()


@functools.lru_cache(maxsize=1)
def _font_css_once() -> str:
    """The Japanese font subset for the page's labels (built once; the viewer's 日本語 button)."""
    from .pack import page_labels
    from .page import font_css

    try:
        return font_css({"labels": page_labels()})
    except Exception:  # no font on this machine: system fonts
        return ""


@functools.lru_cache(maxsize=4)
def page_html(token: str) -> str:
    """The playground page: the viewer's styles and modules (import map to this server's URLs)."""
    from ..config import RunConfig
    from ..data import DATASETS, GENERATED_DATASETS
    from ..losses import LOSSES
    from ..models import ACTIVATIONS
    from ..optim import DEFAULTS, OPTIMIZERS, SCHEDULES
    from .pack import page_labels
    from .page import CLASSIC, STATIC, _script_text, import_map, styles

    imports = import_map("/static")
    imports["imports"]["bpv-live/"] = "/live/"
    from .uploads import data_choices

    choices = {"data": list(DATASETS), "generated": list(GENERATED_DATASETS), "data_panel": data_choices(MAX_SAMPLES), "loss": list(LOSSES), "activation": list(ACTIVATIONS),
               "optimizer": list(OPTIMIZERS), "schedule": list(SCHEDULES), "defaults": RunConfig().to_dict(),
               "limits": {"layers": MAX_LAYERS, "neurons": MAX_NEURONS, "samples": MAX_SAMPLES, "steps": MAX_STEPS},
               "optimizer_defaults": DEFAULTS, "labels": page_labels()}
    css = styles() + "\n" + (LIVE / "playground.css").read_text(encoding="utf-8") \
        + (LIVE / "datapanel.css").read_text(encoding="utf-8")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>backpropviz playground</title>",
        f"<style>\n{css}\n</style>",
        # The Japanese font subset takes a second or two to build once: the page's text comes at
        # once, and its scripts wait for this stylesheet (it blocks them) before they draw. After
        # the styles, so that its --bpv-font wins.
        '<link rel="stylesheet" href="/font.css">',
        *[f"<script>{_script_text((STATIC / rel).read_text(encoding='utf-8'))}</script>" for rel in CLASSIC],
        f'<script type="importmap">{_script_text(json.dumps(imports))}</script>',
        "</head>", "<body>",
        '<div id="bpv-live" class="bpv-live">Loading… (this page needs JavaScript)</div>',
        f'<script type="application/json" id="bpv-choices">{_script_text(json.dumps(choices))}</script>',
        '<script type="module">import { start } from "bpv-live/playground.js"; '
        'start(document.getElementById("bpv-live"), JSON.parse(document.getElementById("bpv-choices").textContent));'
        "</script>",
        "</body>", "</html>",
    ])


def make_app(playground: Playground, port: int | None = None):
    """The Starlette app of ``playground`` (every request checked for its token)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from . import livework
    from .page import STATIC
    from .uploads import upload_route
    from .exports import export_routes

    token = playground.token
    cookie = f"bpv_token_{port}" if port else "bpv_token"

    class TokenGate:
        """403 for any request without the token (query ``token=`` or the page's cookie)."""

        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.app(scope, receive, send)
            request = Request(scope)
            given = request.query_params.get("token") or request.cookies.get(cookie) or ""
            if not secrets.compare_digest(given.encode("utf-8", "replace"), token.encode()):
                response = PlainTextResponse("403: this backpropviz server needs the token of the URL it printed "
                                             "(…/?token=…)\n", status_code=403)
                return await response(scope, receive, send)
            return await self.app(scope, receive, send)

    async def font(request):
        return Response(await asyncio.to_thread(_font_css), media_type="text/css",
                        headers={"Cache-Control": "no-store"})

    async def index(request):
        response = HTMLResponse(await asyncio.to_thread(page_html, token), headers={"Cache-Control": "no-store"})
        response.set_cookie(cookie, token, httponly=True, samesite="strict")
        return response

    async def read_body(request) -> bytes:
        body, taken = b"", 0
        async for part in request.stream():
            taken += len(part)
            if taken <= MAX_BODY:
                body += part
            elif taken > DRAIN_LIMIT:  # read on up to there, so that the 413 reaches the client (DRAIN_LIMIT)
                break
        if taken > MAX_BODY:
            raise MessageError(f"a message has at most {MAX_BODY} bytes")
        return body

    async def command(request):
        too_large = JSONResponse({"error": f"a message has at most {MAX_BODY} bytes"}, status_code=413)
        length = request.headers.get("content-length", "")
        oversize = length.isdigit() and int(length) > MAX_BODY
        if length.isdigit() and int(length) > DRAIN_LIMIT:  # said before the body is read
            return too_large
        try:  # an oversize body is read to its end (see read_body), then refused
            body = await asyncio.wait_for(read_body(request), BODY_TIMEOUT)
        except MessageError:
            return too_large
        except asyncio.TimeoutError:  # a message that stops half-way does not hold its connection forever
            if oversize:
                return too_large
            return JSONResponse({"error": f"the message did not arrive in full within {BODY_TIMEOUT:g} s"},
                                status_code=408)
        except ClientDisconnect:  # the page went away mid-message: nobody to answer
            return Response(status_code=400)
        try:
            message = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:  # ValueError: JSONDecodeError, a number of 4300+ digits
            return JSONResponse({"error": f"the message is not JSON ({exc})"[:300]}, status_code=400)
        except RecursionError:
            return JSONResponse({"error": "the message is nested too deeply"}, status_code=400)
        try:
            answer = await asyncio.to_thread(playground.command, message)
        except asyncio.CancelledError:  # the server is stopping
            return JSONResponse({"error": "the playground server is stopping"}, status_code=503)
        except BackpropvizError as exc:
            return JSONResponse({"error": str(exc)[:1000]}, status_code=400)
        except RecursionError:
            return JSONResponse({"error": "the message is nested too deeply"}, status_code=400)
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
            return JSONResponse({"error": f"a setting has a value of the wrong kind ({exc})"[:1000]}, status_code=400)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def events(request):
        try:
            client = playground.client(request.query_params.get("client"))
        except MessageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

        async def stream():
            client.streams += 1
            try:
                async for event in events_of(client):
                    yield event
            finally:
                client.streams -= 1
                if client.streams == 0:
                    try:
                        asyncio.get_running_loop().call_later(ORPHAN_GRACE, client.orphaned)
                    except RuntimeError:  # no loop: the server is stopping, and stops every run
                        pass

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def events_of(client):
        """The events of ``client``'s runs, as they come (steps, status, the live views')."""
        yield "retry: 1000\n\n"
        run, sent, last = None, 0, None
        seen = {}  # the live views' events sent (web/livework.py)
        quiet = 0.0
        while not playground.closing.is_set():
            if client.run is not run:
                run, sent, last = client.run, 0, None
                seen = {}
            if run is not None:
                chunk = run.chunk(sent)
                if chunk is not None:
                    sent = chunk.pop("to")
                    yield f"event: steps\ndata: {json.dumps(chunk, allow_nan=False)}\n\n"
                    quiet = 0.0
                    continue
                status = run.status()
                if status != last and (status["state"] not in ("done", "diverged") or sent >= run.done_steps):
                    last = status
                    yield f"event: status\ndata: {json.dumps(status)}\n\n"
                for name, data in livework.events(run, seen):
                    yield f"event: {name}\ndata: {json.dumps(data, allow_nan=False)}\n\n"
            # A training run is polled every 5 ms (its next step reaches the page sooner), others every 20 ms.
            pause = 0.005 if run is not None and run.state == "running" else 0.02
            await asyncio.sleep(pause)
            quiet += pause
            if quiet > 15:  # a comment keeps proxies and the browser from closing an idle stream
                quiet = 0.0
                yield ": idle\n\n"

    async def no_icon(request):
        return Response(status_code=204)

    routes = [Route("/", index), Route("/font.css", font), Route("/favicon.ico", no_icon), Route("/api/command", command, methods=["POST"]), Route("/api/events", events),
              upload_route(playground.uploads), *export_routes(playground), Mount("/static", StaticFiles(directory=STATIC)), Mount("/live", StaticFiles(directory=LIVE))]
    return Starlette(routes=routes, middleware=[Middleware(TokenGate)])


class Server:
    """A playground server on ``host:port`` in a background thread (port 0: a free one).

    >>> server = Server(port=0).start()       # doctest: +SKIP
    >>> server.url                             # doctest: +SKIP
    'http://127.0.0.1:53421/?token=...'
    >>> server.stop()                          # doctest: +SKIP
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str | None = None, upload_dir=None):
        self.host, self.token = host, token or secrets.token_urlsafe(24)
        self.playground = Playground(self.token, upload_dir)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise BackpropvizError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                                   "choose another --port (0: any free one)") from None
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.thread: threading.Thread | None = None
        self._uvicorn = None

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"

    def start(self) -> "Server":
        import uvicorn

        # (sys.setswitchinterval(0.001) was tried for the request thread against a run's worker:
        # moons mlp:8,8 a neuron added 202 and 182 ms median, beside 174 and 213 without, load 5)

        # Torch on one thread while the server runs: a playground's models are small (see the
        # limits), and torch's second thread waking for each of their ops tripled the server's CPU
        # time at 60 steps a second (moons mlp:8,8: 22% -> 60% of a core, the same steps), taken
        # from the browser that draws them on the same machine. (The whole-set evaluator's own
        # switch to one thread for small work, entered and left by two threads at once, had left
        # the count at 1 or 2 by chance.) Set back by stop().
        import torch

        self._torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        config = uvicorn.Config(make_app(self.playground, self.port), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self._uvicorn = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._uvicorn.run, kwargs={"sockets": [self.sock]},
                                       name="backpropviz-serve", daemon=True)
        self.thread.start()
        # The page (its font subset: a second or two) is built ahead of the first visit.
        threading.Thread(target=lambda: (page_html(self.token), _font_css()), name="backpropviz-page",
                         daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise BackpropvizError("the playground server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the runs and the server (within ``timeout`` seconds, open streams included)."""
        self.playground.shutdown()
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
            if self.thread is not None:
                self.thread.join(timeout / 2)
            self._uvicorn.force_exit = True
            if self.thread is not None:
                self.thread.join(timeout / 2)
        try:
            self.sock.close()
        except OSError:
            pass
        if getattr(self, "_torch_threads", None):
            import torch

            torch.set_num_threads(self._torch_threads)
            self._torch_threads = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

