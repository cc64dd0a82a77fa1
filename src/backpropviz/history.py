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

    def save(self, path, *, now: bool = False) -> Path:
        """Write the ``.npz`` history file atomically (a failed write leaves no partial file);
        ``now``: in place at once, even inside a command's ``Outputs`` (see ``atomic_write``)."""
        path = Path(path)
        atomic_write(path, lambda f: np.savez_compressed(f, **self.to_arrays()), now=now)
        return path

    @classmethod
    def load(cls, path) -> "History":
        """Read a history file, with a clear error for a missing, foreign, damaged or inconsistent
        file (every array is checked here, so that no command trips over it later)."""
        arrays = read_npz(path, "backpropviz history", REQUIRED,
                          missing_hint=" (a .npz written by --save-history)")
        config = check_history_arrays(arrays, f"{str(path)!r}")
        known = {"params", "grads", "loss", "epoch", "param_names", "X", "y", "batches", "status",
                 "feature_names", "class_names", *OPTIONAL_ARRAYS}
        extra = {k: v for k, v in arrays.items() if k not in known and k != "config"}
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


def check_history_arrays(arrays: dict[str, np.ndarray], where: str) -> dict:
    """Check the arrays of a history file against DESIGN.md's contract; return its config.

    Shapes agree (params (T+1, P), grads (T, P), loss and epoch (T,), one name per column,
    X (N, F) with one y per row, batches (T, B) of row numbers or -1), numbers are real and
    finite (a diverged run keeps only its finite steps), the config is a valid run whose
    model has these parameters. Raises one BackpropvizError naming the file and the entry.
    """
    def bad(what: str):
        raise BackpropvizError(f"{where} is not a valid backpropviz history: {what} "
                               "(a .npz written by --save-history)")

    def numeric(name: str, ndim: int, *, integer: bool = False, finite: bool = True) -> np.ndarray:
        a = arrays[name]
        kinds = "iu" if integer else "fiu"
        if a.dtype.kind not in kinds or a.dtype.kind == "b":
            bad(f"{name} holds {a.dtype} values, not {'whole numbers' if integer else 'numbers'}")
        if a.ndim != ndim:
            bad(f"{name} has {a.ndim} dimensions {a.shape}, not {ndim}")
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            at = np.argwhere(~np.isfinite(a))[0]
            bad(f"{name} holds NaN or infinity (at {tuple(int(i) for i in at)})")
        return a

    def text(name: str, ndim: int) -> np.ndarray:
        a = arrays[name]
        if a.dtype.kind != "U" or a.ndim != ndim:
            bad(f"{name} must be {'a string' if ndim == 0 else 'a list of strings'}; "
                f"got {a.dtype} of shape {a.shape}")
        return a

    params, grads = numeric("params", 2), numeric("grads", 2)
    loss, epoch = numeric("loss", 1), numeric("epoch", 1, integer=True)
    names = text("param_names", 1)
    X, y = numeric("X", 2), arrays["y"]
    T, P = loss.shape[0], names.shape[0]
    if params.shape != (T + 1, P) or grads.shape != (T, P) or epoch.shape != (T,):
        bad(f"its arrays disagree: params {params.shape}, grads {grads.shape}, loss {loss.shape}, "
            f"epoch {epoch.shape}, {P} param_names (expected ({T + 1}, {P}), ({T}, {P}), ({T},), ({T},))")
    if len(set(names.tolist())) != P:
        bad("param_names repeats a name")
    if T and (epoch[0] < 0 or (np.diff(epoch) < 0).any()):
        bad("epoch must count up from 0")
    if y.ndim == 2 and y.shape[1:] == (1,):
        y = y.reshape(-1)
    numeric_y = y.dtype.kind in "fiu" and y.dtype.kind != "b"
    if not numeric_y or y.ndim != 1 or (y.dtype.kind == "f" and not np.isfinite(y).all()):
        bad(f"y must be one finite number per row; got {y.dtype} of shape {arrays['y'].shape}")
    if X.shape[0] != y.shape[0] or X.shape[0] == 0:
        bad(f"X has {X.shape[0]} rows and y {y.shape[0]}: one target per row, at least one row")
    if "class_names" in arrays:
        classes = text("class_names", 1)
        if len(classes) and not (np.isin(y, np.arange(max(len(classes), 2)))).all():
            bad(f"y must hold class numbers 0..{max(len(classes), 2) - 1} (class_names has {len(classes)}); "
                f"got {np.unique(y)[:5].tolist()}")
    if "feature_names" in arrays and text("feature_names", 1).shape[0] != X.shape[1]:
        bad(f"feature_names has {arrays['feature_names'].shape[0]} names for {X.shape[1]} columns of X")
    if "batches" in arrays:
        batches = numeric("batches", 2, integer=True)
        if batches.shape[0] != T or (T and ((batches < -1) | (batches >= X.shape[0])).any()):
            bad(f"batches must be ({T}, B) row numbers of X (0..{X.shape[0] - 1}) or -1; got shape "
                f"{batches.shape}, values {int(batches.min()) if batches.size else 0}.."
                f"{int(batches.max()) if batches.size else 0}")
        if T and not (batches >= 0).any(axis=1).all():
            bad("batches has a step without any row")
    if "status" in arrays:
        text("status", 0)
    for name in ("lr", "epoch_train_loss", "epoch_train_acc", "epoch_test_loss", "epoch_test_acc"):
        if name in arrays:
            numeric(name, 1, finite=False)
    if "lr" in arrays and arrays["lr"].shape != (T,):
        bad(f"lr has shape {arrays['lr'].shape}; expected ({T},), one rate per step")
    rows = (len(np.unique(epoch)) if T else 0) + 1  # each epoch's start, and the end
    for loss_name, acc_name in (("epoch_train_loss", "epoch_train_acc"), ("epoch_test_loss", "epoch_test_acc")):
        lengths = {arrays[n].shape[0] for n in (loss_name, acc_name) if n in arrays}
        if len(lengths) > 1 or (lengths and max(lengths) > rows):
            bad(f"{loss_name} and {acc_name} must have one value per epoch start and the end, at most {rows}; "
                f"got {sorted(lengths)}")
    if "X_test" in arrays or "y_test" in arrays:
        if not ("X_test" in arrays and "y_test" in arrays):
            bad("X_test and y_test come together")
        X_test = numeric("X_test", 2)
        y_test = arrays["y_test"].reshape(-1) if arrays["y_test"].ndim == 2 else arrays["y_test"]
        if X_test.shape[1:] != X.shape[1:] or y_test.shape != (X_test.shape[0],) \
                or y_test.dtype.kind not in "fiu":
            bad(f"X_test {X_test.shape} and y_test {arrays['y_test'].shape} must match X's columns and each other")
    try:
        config = json.loads(str(text("config", 0)))
    except json.JSONDecodeError:
        bad("its config entry is not valid JSON")
    if not isinstance(config, dict):
        bad(f"its config must be a JSON object of run settings; got {type(config).__name__}")
    n_classes = len(arrays["class_names"]) if "class_names" in arrays else 2
    _check_config(config, X.shape[1], n_classes, names, bad)
    return config


def _check_config(config: dict, n_features: int, n_classes: int, names, bad) -> None:
    """The config is a valid run, and its model has the history's parameters."""
    from .config import RunConfig

    try:
        run = RunConfig.from_dict(config)
        run.validate()
    except (BackpropvizError, TypeError, ValueError) as exc:
        bad(f"its config is not a valid run ({exc})")
    from .models import build_model, param_names

    try:
        model = build_model(run.model, n_features, seed=0, activation=run.activation,
                            n_outputs=1 if n_classes <= 2 else n_classes)
    except BackpropvizError as exc:
        bad(f"its config's model does not fit its data ({exc})")
    expected = param_names(model)
    if list(expected) != [str(n) for n in names]:
        bad(f"its config's model {run.model!r} on {n_features} inputs has {len(expected)} parameters "
            f"({', '.join(expected[:4])}{', ...' if len(expected) > 4 else ''}), but the file records "
            f"{len(names)} ({', '.join(str(n) for n in names[:4])}{', ...' if len(names) > 4 else ''})")


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
    except OSError as exc:
        raise BackpropvizError(f"cannot read {str(path)!r} ({exc.strerror or exc})") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        what = "a single-array .npy file" if magic.startswith(b"\x93NUM") else "not an .npz archive"
        raise BackpropvizError(f"{not_ours}: it is {what}")
    note_input(path)
    arrays, entry = {}, None
    try:
        with np.load(path, allow_pickle=False) as z:
            for entry in z.files:
                arrays[entry] = z[entry]
    except ValueError as exc:
        if "pickle" in str(exc):
            raise BackpropvizError(f"{not_ours}: it holds Python objects, which backpropviz never writes") \
                from None
        raise BackpropvizError(f"{not_ours}: it is damaged ({_entry_text(entry)}{_short(exc)})") from None
    except Exception as exc:  # zipfile, zlib, the .npy header parser: all say the bytes are wrong
        import zlib

        why = _short(exc) if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError, OSError)) \
            else "its contents cannot be parsed"
        raise BackpropvizError(f"{not_ours}: it is damaged or truncated ({_entry_text(entry)}{why})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise BackpropvizError(f"{not_ours}: missing {', '.join(missing)}")
    return arrays


def _entry_text(entry: str | None) -> str:
    return f"entry {entry!r}: " if entry else ""


def _short(exc: BaseException, limit: int = 120) -> str:
    """An exception's message on one short line (a damaged header can make it thousands long)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Outputs:
    """The files one command writes, put in place together when it succeeds.

    While an ``Outputs`` is active (``with outputs:``; the CLI runs every command in one),
    ``atomic_write`` writes each file to a temporary name beside its place and ``commit``
    moves them all there at the end: a command that fails or is interrupted leaves no new
    file behind and replaces none of the files already there (``rollback`` removes the
    temporary files, and the folders made for them if they stayed empty). A full disk shows
    while the temporary files are written, before anything is replaced. Files the command
    read (``note_input``) are never written over.
    """

    def __init__(self):
        self.staged: dict[Path, str] = {}  # final path -> temporary file beside it
        self.inputs: set[str] = set()
        self.made_dirs: list[Path] = []
        self.committed: list[Path] = []

    def __repr__(self) -> str:
        return f"Outputs(staged={len(self.staged)}, committed={len(self.committed)}, inputs={len(self.inputs)})"

    def __enter__(self):
        _ACTIVE.append(self)
        return self

    def __exit__(self, kind, exc, tb):
        _ACTIVE.remove(self)
        if kind is not None or self.staged:  # failed, or ended without commit: nothing stays
            self.rollback()
        return False

    def commit(self) -> list[Path]:
        """Move every staged file into place (signals wait until the renames are done)."""
        from .interrupts import deferred

        with deferred():
            for path, tmp in list(self.staged.items()):
                os.replace(tmp, path)
                del self.staged[path]
                self.committed.append(path)
        return self.committed

    def rollback(self) -> None:
        """Remove the staged temporary files and the folders made for this command, if empty."""
        for tmp in self.staged.values():
            _unlink(tmp)
        self.staged.clear()
        for folder in reversed(self.made_dirs):
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty (a file kept on purpose, or someone else's), or gone
        self.made_dirs.clear()


_ACTIVE: list[Outputs] = []


def _active() -> Outputs | None:
    return _ACTIVE[-1] if _ACTIVE else None


def note_input(path) -> None:
    """Record that the running command reads ``path``: writing over it is then refused."""
    outputs = _active()
    if outputs is not None:
        outputs.inputs.add(os.path.realpath(path))


def is_input(path) -> bool:
    """Did the running command read ``path`` (the same file, through any name)?"""
    outputs = _active()
    return outputs is not None and os.path.realpath(path) in outputs.inputs


def make_dirs(path: Path) -> None:
    """``mkdir -p path``, remembering for the running command which folders it made."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    outputs = _active()
    if outputs is not None:
        outputs.made_dirs.extend(reversed(missing))


def write_error(path, exc: OSError) -> BackpropvizError:
    """One line for a file that could not be written: which, why, and what to do."""
    import errno

    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = "free some space or write elsewhere (another --out)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "choose a folder you can write to"
    else:
        advice = "choose another place to write"
    return BackpropvizError(f"cannot write {str(path)!r} ({reason}); {advice}. "
                            "Nothing was replaced")


def atomic_write(path: Path, write, *, now: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place.

    Inside an active ``Outputs`` the move waits for its ``commit`` (unless ``now``: a file to
    keep even if the command then fails, such as the steps of a run that diverged or was
    interrupted). A failed write leaves no partial file and raises one BackpropvizError.
    """
    path = Path(path)
    outputs = _active()
    if is_input(path):
        raise BackpropvizError(f"refusing to write {str(path)!r}: this command reads that file; "
                               "give another output name or --out folder")
    tmp = None
    try:
        make_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        if outputs is None or now:
            os.replace(tmp, path)
        else:
            earlier = outputs.staged.pop(path, None)
            if earlier is not None:
                _unlink(earlier)
            outputs.staged[path] = tmp
    except BaseException as exc:
        if tmp is not None:
            _unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
