"""A recording's folder on disk (docs/recording-format.md): ``.npy`` files put in place whole,
an append-only ``index.jsonl`` naming them, ``meta.json``; and what a recording will cost.

No torch here: the reader and the size estimate need only numpy.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np

from ..errors import BackpropvizError
from ..history import atomic_write

FORMAT = "backpropviz-recording"
VERSION = 1
NPY_HEADER = 128  # np.save's header for a 1-D or 2-D array
INDEX_LINE = 160  # bytes of one index.jsonl line, about


def write_npy(folder: Path, name: str, array: np.ndarray) -> int:
    """Write ``array`` to ``folder/name`` whole (temporary file, then rename); its size in bytes."""
    path = Path(folder) / name
    atomic_write(path, lambda f: np.save(f, array, allow_pickle=False), now=True)
    return NPY_HEADER + array.nbytes


def write_npy_parts(folder: Path, name: str, parts, n: int, dtype) -> int:
    """Write the 1-D array of ``n`` values of ``dtype`` that ``parts`` (1-D arrays of that dtype,
    one after another) make, without joining them: the bytes ``np.save`` writes of their
    concatenation, put in place whole. Memory: one part at a time. Its size in bytes."""
    path, dtype = Path(folder) / name, np.dtype(dtype)

    def write(f):
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                 "fortran_order": False, "shape": (n,)})
        count = 0
        for part in parts:
            if part.dtype != dtype or part.ndim != 1 or not part.flags.c_contiguous:
                raise ValueError(f"{name}: a part of dtype {part.dtype}, shape {part.shape}")
            f.write(part.data)
            count += part.size
        if count != n:
            raise ValueError(f"{name}: {count} values written for {n}")

    atomic_write(path, write, now=True)
    return NPY_HEADER + n * dtype.itemsize


def write_json(path: Path, obj) -> int:
    """Write ``obj`` as JSON to ``path`` whole; its size in bytes."""
    data = json.dumps(obj, indent=1, allow_nan=False).encode()
    atomic_write(Path(path), lambda f: f.write(data), now=True)
    return len(data)


class Index:
    """``index.jsonl``: each line one whole ``write`` in append mode, after the file it names is in place."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def append(self, entry: dict) -> int:
        line = (json.dumps(entry, allow_nan=False) + "\n").encode()
        os.write(self.fd, line)
        return len(line)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r})"


def read_index(folder: Path) -> list[dict]:
    """The complete lines of ``index.jsonl`` (a last line a killed writer left unfinished is dropped)."""
    path = Path(folder) / "index.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    entries = []
    for line in data.split(b"\n")[:-1]:  # the part after the last newline is unfinished
        if line.strip():
            entries.append(json.loads(line))
    return entries


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value, what: str) -> int | None:
    """``2_000_000``, ``"2MB"``, ``"1.5GiB"`` -> bytes (None stays None)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
        number, unit = (float(match.group(1)), match.group(2).lower()) if match else (None, None)
    if number is None or unit not in _UNITS or not math.isfinite(number) or number <= 0:
        raise BackpropvizError(f"{what} takes a size in bytes (a number > 0, or text such as "
                               f"'500MB', '2GB', '1.5GiB'); got {value!r}")
    return int(number * _UNITS[unit])


def human(n: float) -> str:
    """Bytes in a short decimal form: 412 MB, 3.1 GB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


def disk_estimate(steps: int, n_columns: int, chunk_rows: int, n_params: int, itemsize: int,
                  n_buffer_values: int, states: list[int], every_step: bool = False) -> dict:
    """Bytes on disk of a recording of ``steps`` steps that saves ``states`` (sorted, 0 and last in),
    and with ``every_step`` the parameters and gradient of every step in chunks (``steps/``)."""
    n_chunks = max(1, math.ceil(steps / chunk_rows))
    scalars = steps * n_columns * 8 + n_chunks * (NPY_HEADER + INDEX_LINE)
    state = 2 * NPY_HEADER + n_params * itemsize + n_buffer_values * 8 + INDEX_LINE
    grads = NPY_HEADER + n_params * itemsize + INDEX_LINE
    n_grads = sum(1 for s in states if s < steps)
    snapshots = len(states) * state + n_grads * grads
    exact = (2 * steps * n_params * itemsize + n_chunks * (2 * NPY_HEADER + INDEX_LINE)
             if every_step else 0)
    return {"scalars_bytes": scalars, "snapshots_bytes": snapshots, "n_snapshots": len(states),
            "snapshot_bytes": state + grads, "every_step_bytes": exact,
            "disk_bytes": scalars + snapshots + exact + 4096 + 2 * INDEX_LINE}
