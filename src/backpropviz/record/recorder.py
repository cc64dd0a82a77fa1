"""``record(model, optimizer, path)``: record a user's own PyTorch loop through the optimiser's hooks.

Each ``optimizer.step()`` runs two hooks. The pre-hook sees the gradient the optimiser is about
to use (after clipping, after accumulation) and the parameters before the step; the post-hook
the parameters after it. Everything per step is computed on the model's device with batched
``torch._foreach_*`` calls into one row of a device buffer; the buffer goes to the host and to
disk once per chunk. The loop's numbers are never touched: the hooks only read (the update
norm uses a copy of the parameters the recorder owns). Format: docs/recording-format.md.
"""

from __future__ import annotations

import datetime
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import BackpropvizError
from ..history import make_dirs
from . import store
from .schedule import as_schedule

CHUNK_ROWS = 1024
FLUSH_SECONDS = 10.0
NAN_BLOCK = 1 << 16  # values of a missing gradient's NaN made at a time, on its way to disk


def record(model, optimizer, path, *, steps: int | None = None, snapshots=None,
           every_step: bool = False, projection: int | None = None, seed: int = 0, disk_budget=None,
           memory_budget=None, chunk_rows: int = CHUNK_ROWS, flush_seconds: float = FLUSH_SECONDS) -> "Recorder":
    """Record the training of ``model`` by ``optimizer`` into the folder ``path``.

    Use it as a ``with`` block around your loop; call ``rec.step(loss)`` after each
    ``optimizer.step()`` to record the loss too (without it, every other number is recorded)::

        with backpropviz.record(model, opt, "runs/x", snapshots=backpropviz.every(100)) as rec:
            for x, y in loader:
                opt.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); opt.step()
                rec.step(loss)

    - ``steps``: the number of optimiser steps you expect; needed for ``logspaced`` and
      ``disk_budget``, and states the disk use up front (``rec.estimate``).
    - ``snapshots``: ``every(k)``, ``logspaced(n)``, a list of steps, or None; state 0 and the
      last state are always saved (parameters, buffers, and the gradient of the next step).
    - ``every_step``: True to also keep the exact record of every step, for small models: the
      full parameters of every state and the gradient of every step, in chunks of
      ``chunk_rows`` rows written with the scalars (2 x P numbers a step, on disk and, per chunk,
      in memory: the estimate counts them); ``load_recording(path).every_step()`` reads them.
    - ``projection``: k (1..1024) to also record every state projected to k numbers (a seeded
      signed sketch), enough to draw the path on PCA planes; ``seed`` seeds it.
    - ``disk_budget``, ``memory_budget``: bytes or text ("2GB"); a recording that would not fit
      is refused before the first step with the largest setting that fits.
    """
    return Recorder(model, optimizer, path, steps=steps, snapshots=snapshots, every_step=every_step,
                    projection=projection,
                    seed=seed, disk_budget=disk_budget, memory_budget=memory_budget,
                    chunk_rows=chunk_rows, flush_seconds=flush_seconds)


def _check_count(value, what: str, low: int, high: int | None = None):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        accepted = f"a whole number {low}..{high}" if high is not None else f"a whole number >= {low}"
        raise BackpropvizError(f"{what} takes {accepted} (or None); got {value!r}")
    return int(value)


def _has_step_hooks(optimizer) -> bool:
    """An optimiser that is no ``torch.optim.Optimizer`` but has its step hooks and parameter
    groups (the built-in trainer's ``train.HookedOptimizer``)."""
    return (callable(getattr(optimizer, "register_step_pre_hook", None))
            and callable(getattr(optimizer, "register_step_post_hook", None))
            and isinstance(getattr(optimizer, "param_groups", None), list))


def _snapshot_dtype(params) -> torch.dtype:
    return torch.float64 if any(p.dtype == torch.float64 for p in params) else torch.float32


def _buffer_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


class Recorder:
    """The recording of one loop (made by ``record``; use it once, as a ``with`` block)."""

    def __init__(self, model, optimizer, path, *, steps=None, snapshots=None, every_step=False,
                 projection=None, seed=0, disk_budget=None, memory_budget=None, chunk_rows=CHUNK_ROWS,
                 flush_seconds=FLUSH_SECONDS):
        if not isinstance(model, torch.nn.Module):
            raise BackpropvizError(f"record() takes a torch.nn.Module as model; got {type(model).__name__}")
        if not (isinstance(optimizer, torch.optim.Optimizer) or _has_step_hooks(optimizer)):
            raise BackpropvizError("record() takes a torch.optim.Optimizer (or a subclass of it) as "
                                   f"optimizer; got {type(optimizer).__name__}")
        self.model, self.optimizer = model, optimizer
        self.path = Path(path)
        self.steps_expected = _check_count(steps, "steps=", 1)
        self.k = _check_count(projection, "projection=", 1, 1024)
        self.seed = _check_count(seed, "seed=", 0)
        self.chunk_rows = _check_count(chunk_rows, "chunk_rows=", 1)
        if not (isinstance(flush_seconds, (int, float)) and flush_seconds > 0):
            raise BackpropvizError(f"flush_seconds= takes a number of seconds > 0; got {flush_seconds!r}")
        self.flush_seconds = float(flush_seconds)
        self.schedule = as_schedule(snapshots, self.steps_expected)
        if not isinstance(every_step, bool):
            raise BackpropvizError(f"every_step= takes True or False; got {every_step!r}")
        self.every_step = every_step
        self.disk_budget = store.parse_bytes(disk_budget, "disk_budget=")
        self.memory_budget = store.parse_bytes(memory_budget, "memory_budget=")

        self.names, self.params = zip(*model.named_parameters()) if list(model.parameters()) else ((), ())
        if not self.params:
            raise BackpropvizError("record() needs a model with parameters; this one has none")
        self.buffer_names = [n for n, _ in model.named_buffers()]
        self.device = _one_device(self.names, self.params)
        self.dtype = _buffer_dtype(self.device)
        self.snap_dtype = _snapshot_dtype(self.params)
        dtypes = {p.dtype for p in self.params}
        self.norm_dtype = None if dtypes <= {torch.float32, torch.float64} else torch.float32
        self.one_dtype = len(dtypes) == 1 or self.norm_dtype is not None
        group_of = {id(p): g for g, group in enumerate(optimizer.param_groups) for p in group["params"]}
        self.groups = [group_of.get(id(p), -1) for p in self.params]
        self.n_groups = len(optimizer.param_groups)
        self.n_params = sum(p.numel() for p in self.params)
        self.n_buffer_values = sum(b.numel() for b in model.buffers())
        self.columns = (["step", "loss"] + [f"lr/{g}" for g in range(self.n_groups)]
                        + [f"{q}/{n}" for q in ("grad_norm", "weight_norm", "update_norm") for n in self.names]
                        + [f"proj/{j}" for j in range(self.k or 0)])
        self._layout()
        self._fit_memory()
        self.estimate = self._estimate()
        self._check_disk()
        self.step_count = 0
        self.rows = 0
        self.entered = self.closed = self.stopped = False

    # -- sizes -------------------------------------------------------------------------------

    def _layout(self):
        n, g = len(self.params), self.n_groups
        self.c_lr = slice(2, 2 + g)
        self.c_grad = slice(2 + g, 2 + g + n)
        self.c_weight = slice(2 + g + n, 2 + g + 2 * n)
        self.c_update = slice(2 + g + 2 * n, 2 + g + 3 * n)
        self.c_proj = slice(2 + g + 3 * n, 2 + g + 3 * n + (self.k or 0))

    def _snapshot_host_bytes(self) -> int:
        """A snapshot on its way to disk, written one tensor at a time (``_flat``): the largest
        host copy one tensor needs. Off the CPU (or not contiguous) the tensor brought over, plus
        its conversion where its dtype is not the file's (the snapshot's; float64 for buffers);
        on the CPU a tensor of the file's dtype is written from its own memory. A missing
        gradient's NaN: NAN_BLOCK values."""
        on_cpu = self.device.type == "cpu"

        def copy(t, dtype):
            moved = 0 if on_cpu and t.is_contiguous() else t.element_size()
            return t.numel() * (moved + (dtype.itemsize if t.dtype != dtype else 0))

        largest = max(p.numel() for p in self.params)
        return max([copy(p, self.snap_dtype) for p in self.params]
                   + [copy(b, torch.float64) for b in self.model.buffers()]
                   + [min(largest, NAN_BLOCK) * self._itemsize()])

    def _device_fixed_bytes(self) -> int:
        """On the model's device, whatever the chunk: the parameters' copy (for the update
        norms) and the projection's signs (a snapshot is never joined there: see ``_flat``)."""
        proj = -(-self.n_params // self.k) * self._itemsize() if self.k else 0
        return sum(p.numel() * p.element_size() for p in self.params) + proj

    def _row_host_bytes(self) -> int:
        """Host bytes per buffered row: the row itself (float64), its step and learning rates, and
        which of them are tensors on the device (copied into the row there instead)."""
        return (len(self.columns) + 1 + self.n_groups) * 8 + self.n_groups + self._every_step_row_bytes()

    def _fixed_host_bytes(self) -> int:
        on_cpu = self.device.type == "cpu"  # there the device's bytes are host memory too
        return self._snapshot_host_bytes() + (self._device_fixed_bytes() if on_cpu else 0)

    def _fit_memory(self):
        if self.memory_budget is None:
            return
        fixed = self._fixed_host_bytes()
        rows = (self.memory_budget - fixed) // self._row_host_bytes()
        if rows < 1:
            raise BackpropvizError(
                f"memory_budget={store.human(self.memory_budget)} is too small: "
                + ("the copy of the parameters kept for the update norms, " if self.device.type == "cpu"
                   else "")
                + f"the largest tensor of a snapshot on its way to disk and one row of scalars "
                f"alone take {store.human(fixed + self._row_host_bytes())} ({self.n_params:,} "
                f"parameters, {self.n_buffer_values:,} buffer values); give at least that")
        self.chunk_rows = int(min(self.chunk_rows, rows))

    def _itemsize(self) -> int:
        return torch.finfo(self.snap_dtype).bits // 8

    def _every_step_row_bytes(self) -> int:
        """Per buffered row with ``every_step``: the state's parameters and the step's gradient
        (on the device; off the CPU their copy on the host is made once per chunk, as big)."""
        return 2 * self.n_params * self._itemsize() if self.every_step else 0

    def _estimate(self) -> dict:
        steps = self.steps_expected
        memory = self.chunk_rows * self._row_host_bytes() + self._fixed_host_bytes()
        device = self._device_fixed_bytes() + self.chunk_rows * (len(self.columns) * 8
                                                                 + self._every_step_row_bytes())
        estimate = {"memory_bytes": memory, "device_bytes": device,
                    "per_step_bytes": len(self.columns) * 8, "chunk_rows": self.chunk_rows}
        if steps is not None:
            estimate.update(self._disk(self.schedule.states(steps)))
        return estimate

    def _disk(self, states) -> dict:
        return store.disk_estimate(self.steps_expected, len(self.columns), self.chunk_rows,
                                   self.n_params, self._itemsize(), self.n_buffer_values, states,
                                   self.every_step)

    def _check_disk(self):
        if self.disk_budget is None:
            return
        if self.steps_expected is None:
            raise BackpropvizError("disk_budget= needs steps= (the number of optimiser steps "
                                   "expected) to tell up front whether the recording fits")
        need = self.estimate["disk_bytes"]
        if need <= self.disk_budget:
            return
        raise BackpropvizError(
            f"the recording needs about {store.human(need)} (scalars "
            f"{store.human(self.estimate['scalars_bytes'])}, {self.estimate['n_snapshots']} snapshots "
            f"{store.human(self.estimate['snapshots_bytes'])}"
            + (f", every step {store.human(self.estimate['every_step_bytes'])}" if self.every_step else "")
            + f") for steps={self.steps_expected:,} and "
            f"{self.n_params:,} parameters, over disk_budget={store.human(self.disk_budget)}; "
            f"{self._largest_fit()}")

    def _largest_fit(self) -> str:
        """The largest setting under the disk budget, as a phrase for the refusal."""
        from .schedule import Every, LogSpaced

        steps, budget = self.steps_expected, self.disk_budget
        fits = lambda states: self._disk(states)["disk_bytes"] <= budget  # noqa: E731
        if self.every_step:  # the most steps it fits, and what fits without it
            most = self._most_steps()
            self.every_step = False
            try:
                given = ("None" if not getattr(self.schedule, "steps", True) else str(self.schedule))
                without = (f"snapshots={given} fits" if fits(self.schedule.states(steps))
                           else self._largest_fit())
            finally:
                self.every_step = True
            return (f"every_step=True ({2 * self.n_params * self._itemsize():,} bytes a step) fits "
                    + (f"at most steps={most:,} (with snapshots=None)" if most else "not even one step")
                    + f"; without every_step: {without}")
        if not fits([0, steps]):
            low = self._most_steps()
            what = (f"projection={self.k} adds {self.k * 8} bytes a step; " if self.k else "")
            return (f"{what}even snapshots=None (the first and last state only) does not fit; "
                    f"at most steps={low:,} fit" if low else
                    f"{what}not even the first and last state fit; raise disk_budget")
        if isinstance(self.schedule, Every):
            low, high = self.schedule.k, max(steps, 1)
            while low < high:  # the smallest k that fits
                mid = (low + high) // 2
                low, high = (low, mid) if fits(Every(mid).states(steps)) else (mid + 1, high)
            return f"the largest setting that fits is snapshots=every({low})"
        if isinstance(self.schedule, LogSpaced):
            low, high = 2, self.schedule.n
            while low < high:
                mid = (low + high + 1) // 2
                low, high = (mid, high) if fits(LogSpaced(mid).states(steps)) else (low, mid - 1)
            return f"the largest setting that fits is snapshots=logspaced({low})" if fits(
                LogSpaced(low).states(steps)) else "only snapshots=None fits (the first and last state)"
        listed = self.schedule.states(steps)
        n = len(listed)
        while n > 2 and not fits(listed[:n - 1] + [steps]):
            n -= 1
        return (f"the first {n - 2} of the {len(listed) - 2} listed steps fit (besides the first "
                "and last state)")

    def _most_steps(self) -> int:
        """The most steps whose scalars (every-step rows too) and two snapshots fit the disk budget."""
        low, high = 0, self.steps_expected
        keep = self.steps_expected
        try:
            while low < high:
                mid = (low + high + 1) // 2
                self.steps_expected = mid
                low, high = (mid, high) if self._disk([0, mid])["disk_bytes"] <= self.disk_budget else (low, mid - 1)
        finally:
            self.steps_expected = keep
        return low

    # -- the with block ------------------------------------------------------------------------

    def __enter__(self) -> "Recorder":
        if self.entered:
            raise BackpropvizError("a Recorder records one loop; call record() again for another")
        self.entered = True
        self._open_folder()
        with torch.no_grad():
            self.prev = [p.detach().clone() for p in self.params]
        self.buf = torch.full((self.chunk_rows, len(self.columns)), math.nan, dtype=self.dtype,
                              device=self.device)
        self.host = np.full((self.chunk_rows, 1 + self.n_groups), np.nan)  # step, lr per group
        self.lr_on_device = np.zeros((self.chunk_rows, self.n_groups), dtype=bool)  # lr in buf instead
        if self.every_step:  # row i: state first + i's parameters and step first + i's gradient
            self.step_params = torch.empty((self.chunk_rows, self.n_params), dtype=self.snap_dtype,
                                           device=self.device)
            self.step_grads = torch.empty_like(self.step_params)
        self.nan = torch.tensor(math.nan, dtype=self.dtype, device=self.device)
        self.first = 0
        self.last_flush = time.monotonic()
        self.bytes_written = 0
        self.losses_without_step = 0
        self.loss_step = -1  # the step whose loss was last handed over
        self.saved_state = -1
        if self.k:
            self._make_sketch()
        with torch.no_grad():
            self._reach_state([p.detach() for p in self.params])
        self._write_meta()  # counted in bytes_written, as every file after it
        self._save_state(0)
        self.handles = [self.optimizer.register_step_pre_hook(self._before_step),
                        self.optimizer.register_step_post_hook(self._after_step)]
        return self

    def __exit__(self, kind, exc, tb):
        self.close("completed" if kind is None else
                   "error: " + " ".join(f"{kind.__name__}: {exc}".split())[:300])
        return False

    def _open_folder(self):
        if (self.path / "meta.json").exists() or (self.path / "index.jsonl").exists():
            raise BackpropvizError(f"{str(self.path)!r} already holds a recording; give a new folder")
        try:
            make_dirs(self.path / "scalars")
            make_dirs(self.path / "snapshots")
            if self.every_step:
                make_dirs(self.path / "steps")
            self.index = store.Index(self.path / "index.jsonl")
        except OSError as exc:
            from ..history import write_error

            raise write_error(self.path, exc) from None

    def _make_sketch(self):
        """One random sign per row of k flat parameters, drawn once from the seed; see ``_project``."""
        gen = torch.Generator().manual_seed(self.seed)
        n_rows = -(-self.n_params // self.k)
        self.signs = (torch.randint(0, 2, (n_rows,), generator=gen) * 2 - 1).to(
            self.device, self.snap_dtype)

    def _project(self) -> torch.Tensor:
        """z = sum over r of sign_r * (row r of the flat parameters laid out in rows of k), of
        ``prev`` (the state just reached). Per tensor: one vector-matrix product over its whole
        rows (one pass, no temporary), plus the few elements of the rows it shares."""
        k, signs = self.k, self.signs
        z = torch.zeros(k, dtype=self.snap_dtype, device=self.device)
        offset = 0
        for p in self.prev:
            x = p.reshape(-1).to(z.dtype)
            n = x.numel()
            head = min(-offset % k, n)  # the end of the row a previous tensor began
            if head:
                z[offset % k: offset % k + head] += signs[offset // k] * x[:head]
            first = -(-offset // k)
            rows = (n - head) // k
            if rows:  # a matrix-vector product (gemv): a CUDA mm would round to TF32 where it is on
                z += torch.mv(x[head: head + rows * k].view(rows, k).t(), signs[first: first + rows])
            tail = n - head - rows * k
            if tail:
                z[:tail] += signs[first + rows] * x[head + rows * k:]
            offset += n
        return z

    def _write_meta(self):
        model, opt = self.model, self.optimizer
        aliases = {}
        first_name = dict((id(p), n) for n, p in reversed(list(model.named_parameters(remove_duplicate=False))))
        for n, p in model.named_parameters(remove_duplicate=False):
            if first_name[id(p)] != n:
                aliases[n] = first_name[id(p)]
        offset, params = 0, []
        for n, p, g in zip(self.names, self.params, self.groups):
            params.append({"name": n, "shape": list(p.shape), "numel": p.numel(), "offset": offset,
                           "group": g, "requires_grad": p.requires_grad, "dtype": str(p.dtype),
                           "layer": n.rpartition(".")[0]})
            offset += p.numel()
        offset, buffers = 0, []
        for n, b in model.named_buffers():
            buffers.append({"name": n, "shape": list(b.shape), "numel": b.numel(), "offset": offset,
                            "dtype": str(b.dtype), "layer": n.rpartition(".")[0]})
            offset += b.numel()
        groups = []
        for g, group in enumerate(opt.param_groups):
            hyper = {key: _number(v) for key, v in group.items()
                     if key not in ("params", "lr") and _number(v) is not None}
            groups.append({"index": g, "lr": _number(group.get("lr")), "hyper": hyper})
        meta = {"format": store.FORMAT, "version": store.VERSION, "params": params,
                "n_params": self.n_params, "aliases": aliases, "buffers": buffers, "groups": groups,
                "columns": self.columns, "snapshot_dtype": str(self.snap_dtype).removeprefix("torch."),
                "projection": {"k": self.k, "seed": self.seed, "method": "signed-modulo"} if self.k else None,
                "schedule": self.schedule.to_json(), "every_step": self.every_step,
                "steps_expected": self.steps_expected,
                "chunk_rows": self.chunk_rows, "flush_seconds": self.flush_seconds,
                "estimate": self.estimate, "model": repr(model),
                "optimizer": {"class": type(opt).__name__, "repr": repr(opt)},
                "device": str(self.device), "torch": torch.__version__,
                "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.bytes_written += store.write_json(self.path / "meta.json", meta)

    # -- the hooks -----------------------------------------------------------------------------

    def _norms(self, tensors) -> list[torch.Tensor]:
        """L2 norms in the tensors' own dtype (float32 is 5x faster than asking for float64 on a CPU;
        float16 and bfloat16 in float32, so that no norm overflows), all in the buffer's dtype."""
        norms = torch._foreach_norm(tensors, 2, dtype=self.norm_dtype)
        return norms if self.one_dtype else [n.to(self.dtype) for n in norms]

    @torch.no_grad()
    def _before_step(self, optimizer, args, kwargs):
        if self.stopped or self.closed:
            return
        if self.rows == self.chunk_rows or (
                self.rows and time.monotonic() - self.last_flush > self.flush_seconds):
            self._flush()
            if self.stopped:
                return
        row, step = self.buf[self.rows], self.step_count
        grads = [p.grad for p in self.params]
        have = [g for g in grads if g is not None]
        norms = self._norms(have) if have else []
        it = iter(norms)
        row[self.c_grad] = torch.stack([next(it) if g is not None else self.nan for g in grads])
        row[self.c_weight] = self.next_weight
        if self.every_step:
            self._step_row(grads)
        if self.k:
            row[self.c_proj] = self.next_proj
        host = self.host[self.rows]  # numbers the host has anyway: no copy to the device for them
        host[0] = step
        lrs = [g.get("lr") for g in optimizer.param_groups]
        host[1:] = [math.nan if _on_device(v) else _lr(v) for v in lrs]
        for g, v in enumerate(lrs):
            if _on_device(v):  # a tensor lr off the CPU: copied on the device (.item() would wait for it)
                row[self.c_lr.start + g] = v
                self.lr_on_device[self.rows, g] = True
        if step in self.schedule or step == 0:
            self._save_grads(step, grads)

    @torch.no_grad()
    def _after_step(self, optimizer, args, kwargs):
        if self.stopped or self.closed:
            return
        params = [p.detach() for p in self.params]
        torch._foreach_sub_(self.prev, params)  # minus the update
        self.buf[self.rows, self.c_update] = torch.stack(self._norms(self.prev))
        self.rows += 1
        self.step_count += 1
        self._reach_state(params)
        if self.step_count in self.schedule:
            self._save_state(self.step_count)

    def _step_row(self, grads):
        """Row ``rows`` of the every-step chunk: this state's parameters (``prev``: as the optimiser
        or the start left them, as in a snapshot) and the gradient about to be used, NaN where none."""
        i, dtype = self.rows, self.snap_dtype
        torch.cat([p.reshape(-1).to(dtype) for p in self.prev], out=self.step_params[i])
        torch.cat([(g if g is not None else self.nan.expand(p.shape)).reshape(-1).to(dtype)
                   for p, g in zip(self.params, grads)], out=self.step_grads[i])

    def _reach_state(self, params):
        """State ``step_count`` begins: keep its parameters and write its row's weight norms.

        Done right after the optimiser wrote the parameters (in its post-hook, or at the start),
        while they are still in the cache: one copy for the next update norm, read back at once
        for the weight norms and the projection.
        """
        torch._foreach_copy_(self.prev, params)
        self.next_weight = torch.stack(self._norms(self.prev))
        if self.k:
            self.next_proj = self._project()

    def step(self, loss=None) -> None:
        """Hand over the loss of the optimiser step just taken (a tensor or a number)."""
        if self.closed or self.stopped:
            return
        if self.loss_step == self.step_count or self.rows == 0:
            self.losses_without_step += 1  # no optimiser step since the last call (e.g. AMP skipped it)
            return
        self.loss_step = self.step_count
        if loss is None:
            return
        cell = self.buf[self.rows - 1, 1]
        if isinstance(loss, torch.Tensor):
            if loss.numel() != 1:
                raise BackpropvizError(f"rec.step(loss) takes a number or a one-element tensor; got a "
                                       f"tensor of shape {tuple(loss.shape)}")
            cell.copy_(loss.detach().reshape(()))
        else:
            try:
                cell.fill_(float(loss))
            except (TypeError, ValueError):
                raise BackpropvizError(f"rec.step(loss) takes a number or a one-element tensor; got "
                                       f"{type(loss).__name__}") from None

    # -- writing -------------------------------------------------------------------------------

    def _fits(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more stay within the disk budget; if not, stop recording (training goes on)."""
        if self.disk_budget is None or self.bytes_written + nbytes <= self.disk_budget:
            return True
        self.stopped = True
        warnings.warn(f"backpropviz: the recording {str(self.path)!r} reached its disk budget "
                      f"({store.human(self.disk_budget)}) at step {self.step_count}; it stops "
                      "there, training goes on", stacklevel=3)
        self.bytes_written += self.index.append({"kind": "stopped", "step": self.step_count,
                                                 "reason": "disk budget reached"})
        return False

    def _write(self, name: str, array: np.ndarray) -> None:
        self.bytes_written += store.write_npy(self.path, name, array)

    def _append(self, entry: dict) -> None:
        self.bytes_written += self.index.append(entry)

    def _flush(self):
        if not self.rows:
            return
        rows = _to_host(self.buf[: self.rows], torch.float64)  # the one transfer
        rows[:, 0] = self.host[: self.rows, 0]
        on_device = self.lr_on_device[: self.rows]
        rows[:, self.c_lr] = np.where(on_device, rows[:, self.c_lr], self.host[: self.rows, 1:])
        exact = ()
        if self.every_step:
            exact = (_to_host(self.step_params[: self.rows], self.snap_dtype),
                     _to_host(self.step_grads[: self.rows], self.snap_dtype))
        if self._fits(rows.nbytes + store.NPY_HEADER + store.INDEX_LINE
                      + sum(a.nbytes + store.NPY_HEADER for a in exact) + (store.INDEX_LINE if exact else 0)):
            if exact:  # before the scalars: a reader never sees scalar rows without these
                base = f"steps/{self.first:012d}"
                self._write(base + ".params.npy", exact[0])
                self._write(base + ".grads.npy", exact[1])
                self._append({"kind": "steps", "first": self.first, "rows": self.rows,
                              "params": base + ".params.npy", "grads": base + ".grads.npy"})
            name = f"scalars/{self.first:012d}.npy"
            self._write(name, rows)
            self._append({"kind": "scalars", "file": name, "first": self.first, "rows": self.rows})
        self.first += self.rows
        self.rows = 0
        self.buf[:, 1] = math.nan  # the loss: a row whose loss is never handed over reads NaN
        self.lr_on_device[:] = False
        self.last_flush = time.monotonic()

    def _flat(self, tensors, dtype, like=()):
        """The tensors' values one after another, as host arrays of ``dtype``, one tensor at a time:
        a snapshot is written so, never joined (on the CPU a contiguous tensor already of ``dtype``
        is written from its own memory, no copy). A None (a parameter without a gradient, its
        tensor in ``like``) reads NaN, made NAN_BLOCK values at a time."""
        for i, t in enumerate(tensors):
            if t is None:
                n = like[i].numel()
                block = np.full(min(n, NAN_BLOCK), np.nan, dtype=_numpy(dtype))
                for start in range(0, n, NAN_BLOCK):
                    yield block[: n - start]
            else:
                yield _to_host(t.reshape(-1), dtype)

    def _write_flat(self, name: str, tensors, dtype, like=()) -> None:
        n = sum(t.numel() for t in (like or tensors))
        self.bytes_written += store.write_npy_parts(self.path, name, self._flat(tensors, dtype, like),
                                                    n, _numpy(dtype))

    def _save_state(self, step: int):
        buffers = list(self.model.buffers())
        n_buffers = sum(b.numel() for b in buffers)
        if not self._fits(self.n_params * self._itemsize() + n_buffers * 8 + 2 * store.NPY_HEADER
                          + store.INDEX_LINE):
            return
        base = f"snapshots/{step:012d}"
        self._write_flat(base + ".params.npy", self.params, self.snap_dtype)
        self._write_flat(base + ".buffers.npy", buffers, torch.float64)
        self._append({"kind": "state", "step": step, "params": base + ".params.npy",
                      "buffers": base + ".buffers.npy"})
        self.saved_state = step

    def _save_grads(self, step: int, grads):
        if not self._fits(self.n_params * self._itemsize() + store.NPY_HEADER + store.INDEX_LINE):
            return
        name = f"snapshots/{step:012d}.grads.npy"
        self._write_flat(name, grads, self.snap_dtype, like=self.params)
        self._append({"kind": "grads", "step": step, "file": name,
                      "missing": [n for n, g in zip(self.names, grads) if g is None]})

    def add_arrays(self, kind: str, arrays: dict, **fields) -> None:
        """Keep named arrays with the recording: ``KIND/NAME.npy`` each, then one index line
        ``{"kind": KIND, "arrays": {NAME: file}, **fields}`` (inside the ``with`` block). The
        built-in trainer keeps its history's data and config so (``Recording.to_history``).
        Arrays of numbers or of text only (no objects: no pickle)."""
        if not self.entered or self.closed:
            raise BackpropvizError("add_arrays() works inside the recording's with block")
        if not (isinstance(kind, str) and kind.isidentifier()) or kind in _KINDS:
            raise BackpropvizError(f"add_arrays() takes a name for its part (letters, digits, _), not one of "
                                   f"{', '.join(sorted(_KINDS))}; got {kind!r}")
        arrays = {name: np.asarray(a) for name, a in arrays.items()}
        objects = [name for name, a in arrays.items() if a.dtype.hasobject]
        if objects or not all(isinstance(n, str) and n.isidentifier() for n in arrays):
            raise BackpropvizError(f"add_arrays() takes arrays of numbers or text under plain names; got "
                                   f"{objects[0] if objects else list(arrays)!r}")
        if self.stopped or not self._fits(sum(a.nbytes + store.NPY_HEADER for a in arrays.values())
                                          + store.INDEX_LINE):
            return
        try:
            make_dirs(self.path / kind)
        except OSError as exc:
            from ..history import write_error

            raise write_error(self.path / kind, exc) from None
        files = {}
        for name, a in arrays.items():
            files[name] = f"{kind}/{name}.npy"
            self._write(files[name], a)
        self._append({**fields, "kind": kind, "arrays": files})

    def close(self, status: str = "completed") -> None:
        """Flush what is buffered, save the last state, write the ``end`` line, remove the hooks."""
        if self.closed or not self.entered:
            return
        for handle in self.handles:
            handle.remove()
        try:
            if not self.stopped:
                self._flush()
            if not self.stopped and self.saved_state != self.step_count:
                self._save_state(self.step_count)
            end = {"kind": "end", "steps": self.step_count, "status": status,
                   "losses_without_step": self.losses_without_step}
            if self.k:
                end["final_projection"] = [float(v) for v in _to_host(self.next_proj, torch.float64)]
            self.index.append(end)
        finally:
            self.closed = True
            self.index.close()
            self.prev = self.buf = self.step_params = self.step_grads = None

    def __repr__(self) -> str:
        disk = (f", disk about {store.human(self.estimate['disk_bytes'])}"
                if "disk_bytes" in self.estimate else "")
        return (f"Recorder({str(self.path)!r}, {self.n_params:,} parameters, "
                f"step {self.step_count}, memory {store.human(self.estimate['memory_bytes'])}{disk})")


_KINDS = {"scalars", "state", "grads", "steps", "end", "stopped"}  # the index lines of the format


def _numpy(dtype: torch.dtype) -> np.dtype:
    return np.dtype(str(dtype).removeprefix("torch."))


def _to_host(t: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """``t`` as a host array of ``dtype``: every copy the recorder makes from the device to the host
    is this one (a blocking copy: the bytes are there when it returns; on the CPU a tensor already
    of ``dtype`` is not copied)."""
    return t.detach().cpu().to(dtype).numpy()


def _one_device(names, params) -> torch.device:
    """The device all the parameters are on; a model spread over several is refused up front (its
    norms could not be stacked into one row: the first step would fail inside the optimiser)."""
    where = {}
    for n, p in zip(names, params):
        where.setdefault(p.device, n)
    if len(where) > 1:
        listed = ", ".join(f"{d} ({n!r} ...)" for d, n in where.items())
        raise BackpropvizError(f"record() takes a model whose parameters are all on one device; this one's are on "
                               f"{listed}: record each device's part apart, or move the model to one device")
    return next(iter(where))


def _on_device(value) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type != "cpu"


def _lr(value) -> float:
    """A group's lr as a float (a tensor lr too); NaN for an optimiser whose groups have none."""
    if isinstance(value, torch.Tensor):
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _number(value):
    """A group setting as a JSON number (a tensor lr too), or None for what is not one number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:  # read once, for meta.json
        value = (_to_host(value, torch.float64) if _on_device(value) else value).item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
