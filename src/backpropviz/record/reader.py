"""``load_recording(path)``: a recording's numbers as numpy arrays (docs/recording-format.md).

Plain numpy and json, no torch: it reads a recording while its loop still writes it, or after the
loop died (what was flushed is there; ``complete`` says whether the ``end`` line is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BackpropvizError
from . import store

QUANTITIES = ("grad_norm", "weight_norm", "update_norm")


@dataclass
class Snapshot:
    """One saved state: flat parameters (P,), the next step's gradient (P,) or None, the buffers."""

    step: int
    params: np.ndarray
    grads: np.ndarray | None
    buffers: dict[str, np.ndarray]
    missing: list[str] = field(default_factory=list)  # parameters without a gradient (NaN in grads)
    layout: dict = field(default_factory=dict, repr=False)

    def param(self, name: str, *, grad: bool = False) -> np.ndarray:
        """One parameter tensor (or its gradient), in its shape: ``snap.param("0.weight")``."""
        if name not in self.layout:
            raise BackpropvizError(f"no parameter {name!r}; the recording has: {', '.join(self.layout)}")
        entry = self.layout[name]
        flat = self.grads if grad else self.params
        if flat is None:
            raise BackpropvizError(f"state {self.step} has no gradient (it is the last state)")
        return flat[entry["offset"]: entry["offset"] + entry["numel"]].reshape(entry["shape"])

    def __repr__(self) -> str:
        return (f"Snapshot(step={self.step}, params={self.params.shape}, "
                f"grads={'none' if self.grads is None else self.grads.shape}, buffers={len(self.buffers)})")


class Recording:
    """A recording read from its folder; ``load_recording`` makes one."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.meta = json.loads((self.path / "meta.json").read_text())
        except FileNotFoundError:
            raise BackpropvizError(f"{str(self.path)!r} is not a recording: it has no meta.json "
                                   "(written by backpropviz.record when its loop starts)") from None
        except (OSError, ValueError) as exc:
            raise BackpropvizError(f"{str(self.path)!r}: meta.json cannot be read ({exc})") from None
        if self.meta.get("format") != store.FORMAT or not isinstance(self.meta.get("version"), int):
            raise BackpropvizError(f"{str(self.path)!r}: meta.json is not a backpropviz recording's")
        if self.meta["version"] > store.VERSION:
            raise BackpropvizError(f"{str(self.path)!r} is a recording of format version "
                                   f"{self.meta['version']}; this backpropviz reads up to {store.VERSION}")
        self.entries = store.read_index(self.path)
        self.columns = self.meta["columns"]
        self._col = {name: i for i, name in enumerate(self.columns)}
        chunks = [self._load(e["file"]) for e in self.entries if e["kind"] == "scalars"]
        self.rows = np.concatenate(chunks) if chunks else np.zeros((0, len(self.columns)))
        self.end = next((e for e in self.entries if e["kind"] == "end"), None)
        self._states = {e["step"]: e for e in self.entries if e["kind"] == "state"}
        self._grads = {e["step"]: e for e in self.entries if e["kind"] == "grads"}

    def _load(self, name: str) -> np.ndarray:
        return np.load(self.path / name, allow_pickle=False)

    # -- what was recorded ---------------------------------------------------------------------

    @property
    def param_names(self) -> list[str]:
        return [p["name"] for p in self.meta["params"]]

    @property
    def layer_names(self) -> list[str]:
        return list(dict.fromkeys(p["layer"] for p in self.meta["params"]))

    @property
    def n_params(self) -> int:
        return self.meta["n_params"]

    @property
    def complete(self) -> bool:
        """Whether the loop ended (its ``with`` block closed); False while running or after a crash."""
        return self.end is not None

    @property
    def status(self) -> str:
        return self.end["status"] if self.end else "incomplete"

    @property
    def steps(self) -> np.ndarray:
        return self.rows[:, 0].astype(np.int64)

    @property
    def loss(self) -> np.ndarray:
        return self.rows[:, 1]

    @property
    def lr(self) -> np.ndarray:
        return self.rows[:, [self._col[f"lr/{g['index']}"] for g in self.meta["groups"]]]

    def column(self, name: str) -> np.ndarray:
        """One scalar column by its name in ``meta['columns']`` (``"grad_norm/0.weight"``)."""
        return self.rows[:, self._col[name]]

    @property
    def scalars(self) -> dict[str, np.ndarray]:
        """Per parameter tensor, (T, N) in ``param_names`` order: norms and ``update_ratio``."""
        out = {q: self.rows[:, [self._col[f"{q}/{n}"] for n in self.param_names]] for q in QUANTITIES}
        with np.errstate(divide="ignore", invalid="ignore"):
            out["update_ratio"] = out["update_norm"] / out["weight_norm"]
        return out

    def layer_scalars(self) -> tuple[list[str], dict[str, np.ndarray]]:
        """Per layer (module): norms combined as sqrt(sum of squares), NaN grads left out."""
        per = self.scalars
        layers = self.layer_names
        of = np.array([layers.index(p["layer"]) for p in self.meta["params"]])
        out = {}
        for q in QUANTITIES:
            cols = []
            for i in range(len(layers)):
                block = per[q][:, of == i]
                squares = np.where(np.isnan(block), 0.0, block**2).sum(axis=1)
                cols.append(np.where(np.isnan(block).all(axis=1), np.nan, np.sqrt(squares)))
            out[q] = np.stack(cols, axis=1) if cols else np.zeros((len(self.rows), 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            out["update_ratio"] = out["update_norm"] / out["weight_norm"]
        return layers, out

    @property
    def projection(self) -> np.ndarray | None:
        """(rows, k): the projected states 0..T (T+1 rows once complete), or None without one."""
        if not self.meta.get("projection"):
            return None
        k = self.meta["projection"]["k"]
        path = self.rows[:, [self._col[f"proj/{j}"] for j in range(k)]]
        if self.end is not None and "final_projection" in self.end and len(path) == self.end["steps"]:
            path = np.vstack([path, np.asarray(self.end["final_projection"])[None]])
        return path

    @property
    def snapshot_steps(self) -> list[int]:
        return sorted(self._states)

    def snapshot(self, step: int) -> Snapshot:
        """The saved state ``step`` (parameters, buffers) with the gradient of step ``step``."""
        if step not in self._states:
            raise BackpropvizError(f"no snapshot of step {step!r}; the recording has: "
                                   f"{', '.join(map(str, self.snapshot_steps)) or 'none'}")
        entry = self._states[step]
        flat_buffers = self._load(entry["buffers"])
        buffers = {}
        for b in self.meta["buffers"]:
            values = flat_buffers[b["offset"]: b["offset"] + b["numel"]].reshape(b["shape"])
            buffers[b["name"]] = values.astype(_numpy_dtype(b["dtype"]))
        grads_entry = self._grads.get(step)
        grads = self._load(grads_entry["file"]) if grads_entry else None
        return Snapshot(step, self._load(entry["params"]), grads, buffers,
                        list(grads_entry["missing"]) if grads_entry else [],
                        {p["name"]: p for p in self.meta["params"]})

    # -- the every-step tier and the parts kept with it -----------------------------------------

    @property
    def has_every_step(self) -> bool:
        """Whether the recording keeps every state's parameters and every step's gradient."""
        return bool(self.meta.get("every_step"))

    def every_step(self) -> tuple[np.ndarray, np.ndarray]:
        """``(params (S, P), grads (n, P))`` of a recording made with ``every_step=True``: the flat
        parameters of states 0..S-1 and the gradients of steps 0..n-1 flushed so far. S is n + 1
        when the state after the last step is saved (a completed run's last state), else n."""
        if not self.has_every_step:
            raise BackpropvizError(f"{str(self.path)!r} was recorded without every_step=True: it keeps "
                                   "the parameters at its snapshots only (snapshot_steps)")
        dtype = np.dtype(self.meta["snapshot_dtype"])
        chunks = [e for e in self.entries if e["kind"] == "steps"]
        params = [self._load(e["params"]) for e in chunks]
        grads = [self._load(e["grads"]) for e in chunks]
        n = sum(len(g) for g in grads)
        if n in self._states:
            params.append(self._load(self._states[n]["params"])[None])
        empty = np.zeros((0, self.n_params), dtype=dtype)
        return (np.concatenate(params) if params else empty), (np.concatenate(grads) if grads else empty)

    def part(self, kind: str) -> dict | None:
        """The index line of a part kept with ``Recorder.add_arrays`` (the last one of that kind), or None."""
        return next((e for e in reversed(self.entries) if e["kind"] == kind), None)

    def part_arrays(self, kind: str) -> dict[str, np.ndarray]:
        """The arrays of that part, by name (empty when there is none)."""
        entry = self.part(kind)
        return {name: self._load(file) for name, file in entry["arrays"].items()} if entry else {}

    @property
    def is_run(self) -> bool:
        """Whether this is a run of the built-in trainer that ended (``run --recording``): it then
        holds a whole ``History`` (``to_history``)."""
        return self.has_every_step and self.part("history") is not None

    def to_history(self):
        """The ``History`` of a run of the built-in trainer (``backpropviz run --recording DIR``,
        ``train(config, recording=DIR)``): the arrays of its ``.npz`` history, bit for bit."""
        from ..history import OPTIONAL_ARRAYS, History, check_history_arrays

        part = self.part("history")
        if part is None or not self.has_every_step:
            raise BackpropvizError(
                f"{str(self.path)!r} holds no whole run: a History comes from a recording of the built-in "
                "trainer (backpropviz run --recording), written when the run ends"
                + (" (this one has not ended: killed or still running; its steps are in every_step())"
                   if self.has_every_step else ""))
        T = part["steps"]
        params, grads = self.every_step()
        if len(params) < T + 1 or len(grads) < T or len(self.rows) < T:
            raise BackpropvizError(f"{str(self.path)!r}: its history has {T} steps, its files hold "
                                   f"{len(grads)} (steps/ or scalars/ cut short)")
        arrays = self.part_arrays("history")
        arrays.update(params=params[: T + 1], grads=grads[:T], lr=self.lr[:T, 0],
                      loss=self.loss[:T].astype(part["loss_dtype"]))
        config = check_history_arrays(arrays, f"{str(self.path)!r}")
        known = {"params", "grads", "loss", "epoch", "param_names", "X", "y", "batches", "status",
                 "config", "feature_names", "class_names", *OPTIONAL_ARRAYS}
        names = {k: [str(v) for v in arrays[k]] if k in arrays else None for k in ("feature_names", "class_names")}
        return History(params=arrays["params"], grads=arrays["grads"], loss=arrays["loss"],
                       epoch=arrays["epoch"], param_names=[str(v) for v in arrays["param_names"]],
                       X=arrays["X"], y=arrays["y"], config=config, batches=arrays.get("batches"),
                       status=str(arrays.get("status", "completed")),
                       extra={k: v for k, v in arrays.items() if k not in known},
                       **{k: arrays.get(k) for k in OPTIONAL_ARRAYS}, **names)

    def __repr__(self) -> str:
        return (f"Recording({str(self.path)!r}, {len(self.rows)} steps, {self.n_params:,} parameters, "
                f"{len(self._states)} snapshots{', every step' if self.has_every_step else ''}, {self.status})")


def _numpy_dtype(torch_name: str):
    """The numpy dtype for a buffer's torch dtype name (float for what numpy lacks, e.g. bfloat16)."""
    name = torch_name.removeprefix("torch.")
    try:
        return np.dtype(name)
    except TypeError:
        return np.float32 if "float" in name else np.float64


def load_recording(path) -> Recording:
    """Read the recording in folder ``path`` (also while its loop still runs, or after it died)."""
    return Recording(path)
