"""``History``: every optimisation step of one run, and its ``.npz`` file (DESIGN.md).

Rows: ``params[0]`` is the initial state, ``params[t + 1]`` the state after step ``t``;
``grads[t]`` and ``loss[t]`` were computed at ``params[t]`` on step ``t``'s batch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BackpropvizError

REQUIRED = ("params", "grads", "loss", "epoch", "param_names", "X", "y", "config")
# Arrays beyond DESIGN.md's, written when a run has them (see the History fields).
OPTIONAL_ARRAYS = ("lr", "epoch_train_loss", "epoch_train_acc", "epoch_test_loss", "epoch_test_acc",
                   "X_test", "y_test")


@dataclass
class History:
    """A recorded run. Arrays are numpy; ``config`` is the run's configuration as a dict."""

    params: np.ndarray
    grads: np.ndarray
    loss: np.ndarray
    epoch: np.ndarray
    param_names: list[str]
    X: np.ndarray
    y: np.ndarray
    config: dict
    batches: np.ndarray | None = None
    status: str = "completed"
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    # Per-step learning rate (T,), as the schedule set it.
    lr: np.ndarray | None = None
    # Once per epoch, on the whole training / test set, at the parameters in force when epoch e
    # starts (row e) and after the last epoch (last row): shape (E + 1,). Losses are the data
    # loss only (no L1/L2 term), so that train and test compare like for like.
    epoch_train_loss: np.ndarray | None = None
    epoch_train_acc: np.ndarray | None = None
    epoch_test_loss: np.ndarray | None = None
    epoch_test_acc: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    feature_names: list[str] | None = None
    class_names: list[str] | None = None

    def __post_init__(self):
        T = len(self.loss)
        P = len(self.param_names)
        if self.params.shape != (T + 1, P) or self.grads.shape != (T, P) or self.epoch.shape != (T,):
            raise BackpropvizError(
                f"inconsistent history: params {self.params.shape}, grads {self.grads.shape}, "
                f"loss {self.loss.shape}, epoch {self.epoch.shape}, {P} names"
            )

    @property
    def n_steps(self) -> int:
        return len(self.loss)

    @property
    def n_classes(self) -> int:
        """Number of classes (2 when the file does not say: the gates, the article)."""
        return len(self.class_names) if self.class_names else 2

    @property
    def is_binary(self) -> bool:
        return self.n_classes <= 2

    @property
    def has_test(self) -> bool:
        return self.X_test is not None and len(self.X_test) > 0

    @property
    def epoch_param_rows(self) -> np.ndarray:
        """Row of ``params`` where each epoch starts, plus the final row: shape (E + 1,).

        ``epoch_train_loss[e]`` was measured at ``params[epoch_param_rows[e]]``.
        """
        if self.n_steps == 0:
            return np.zeros(1, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, self.epoch[1:] != self.epoch[:-1]])
        return np.r_[starts, self.n_steps].astype(np.int64)

    @property
    def final(self) -> np.ndarray:
        return self.params[-1]

    def index(self, name: str) -> int:
        """Column of the parameter called ``name``."""
        try:
            return self.param_names.index(name)
        except ValueError:
            raise BackpropvizError(
                f"no parameter {name!r}; this history has: {', '.join(self.param_names[:12])}"
                + (" ..." if len(self.param_names) > 12 else "")
            ) from None

    def __repr__(self) -> str:
        return (f"History(steps={self.n_steps}, params={len(self.param_names)}, "
                f"final_loss={self.loss[-1] if self.n_steps else float('nan'):.4g}, status={self.status!r})")

    # -- files ---------------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "params": self.params, "grads": self.grads, "loss": self.loss, "epoch": self.epoch,
            "param_names": np.array(self.param_names, dtype=str), "X": self.X, "y": self.y,
            "config": np.array(json.dumps(self.config, sort_keys=True)),
            "status": np.array(self.status),
        }
        if self.batches is not None:
            arrays["batches"] = self.batches
        for name in OPTIONAL_ARRAYS:
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value)
        for name in ("feature_names", "class_names"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.array(value, dtype=str)
        arrays.update(self.extra)
        return arrays

    def save(self, path) -> Path:
        """Write the ``.npz`` history file atomically (a failed write leaves no partial file)."""
        path = Path(path)
        atomic_write(path, lambda f: np.savez_compressed(f, **self.to_arrays()))
        return path

    @classmethod
    def load(cls, path) -> "History":
        """Read a history file, with a clear error for a missing, foreign or damaged file."""
        arrays = read_npz(path, "backpropviz history", REQUIRED,
                          missing_hint=" (a .npz written by --save-history)")
        try:
            config = json.loads(str(arrays.pop("config")))
        except json.JSONDecodeError:
            raise BackpropvizError(f"{str(path)!r}: the config entry is not valid JSON") from None
        known = {"params", "grads", "loss", "epoch", "param_names", "X", "y", "batches", "status",
                 "feature_names", "class_names", *OPTIONAL_ARRAYS}
        extra = {k: v for k, v in arrays.items() if k not in known}
        names = {k: [str(s) for s in arrays[k]] if k in arrays else None
                 for k in ("feature_names", "class_names")}
        return cls(
            params=arrays["params"], grads=arrays["grads"], loss=arrays["loss"],
            epoch=arrays["epoch"], param_names=[str(s) for s in arrays["param_names"]],
            X=arrays["X"], y=arrays["y"], config=config, batches=arrays.get("batches"),
            status=str(arrays.get("status", "completed")), extra=extra,
            **{k: arrays.get(k) for k in OPTIONAL_ARRAYS}, **names,
        )

    def to_csv(self, path=None) -> str:
        """One row per step: step, epoch, loss, parameters before the step, their gradients.

        A final row holds the parameters after the last step (loss and gradients empty).
        Returns the text; also writes it to ``path`` when given.
        """
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["step", "epoch", "loss", *self.param_names, *(f"grad_{n}" for n in self.param_names)])
        for t in range(self.n_steps):
            w.writerow([t, int(self.epoch[t]), repr(float(self.loss[t])),
                        *(repr(float(v)) for v in self.params[t]),
                        *(repr(float(v)) for v in self.grads[t])])
        last_epoch = int(self.epoch[-1]) + 1 if self.n_steps else 0
        w.writerow([self.n_steps, last_epoch, "", *(repr(float(v)) for v in self.params[-1]),
                    *([""] * len(self.param_names))])
        text = buf.getvalue()
        if path is not None:
            atomic_write(Path(path), lambda f: f.write(text.encode()))
        return text


def read_npz(path, kind: str, required=(), *, missing_hint: str = "") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file this package wrote, loaded without pickle.

    A missing, damaged or foreign file raises one BackpropvizError naming the file and what
    was expected (``kind``, the ``required`` arrays, ``missing_hint`` such as where such files
    come from). numpy's own advice to load a file "unsafely" is never passed on: a file that
    needs pickle is not one of ours.
    """
    path = Path(path)
    if path.is_dir():
        raise BackpropvizError(f"{str(path)!r} is a folder; give a {kind} file{missing_hint}")
    if not path.is_file():
        raise BackpropvizError(f"{kind} file {str(path)!r} does not exist{missing_hint}")
    not_ours = f"{str(path)!r} is not a {kind}{missing_hint}"
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic != b"PK\x03\x04":  # every .npz is a zip archive
            what = "a single-array .npy file" if magic.startswith(b"\x93NUM") else "not an .npz archive"
            raise BackpropvizError(f"{not_ours}: it is {what}")
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except BackpropvizError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickle" in str(exc):
            raise BackpropvizError(f"{not_ours}: it holds Python objects, which backpropviz never writes") \
                from None
        raise BackpropvizError(f"{not_ours}: it is damaged ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise BackpropvizError(f"{not_ours}: it is damaged or truncated ({exc})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise BackpropvizError(f"{not_ours}: missing {', '.join(missing)}")
    return arrays


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
