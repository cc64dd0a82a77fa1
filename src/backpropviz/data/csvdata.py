"""The user's own table: a CSV file with a header row, one target column and numeric features.

>>> ds = make_dataset("csv", path="points.csv", target="label")             # doctest: +SKIP
>>> ds = make_dataset("csv", path="points.csv", target="label", features=("a", "b"))  # doctest: +SKIP

Every problem is reported with the data row (1 = the first row under the header), the line of
the file and the column, so that it can be fixed in a spreadsheet. Features are standardised
like the bundled tables; the target may hold numbers or text (each distinct value is a class,
classes sorted by value). With ``task="regression"`` the target is a number to predict
(standardised like the features); ``task="auto"`` (the default) takes a numeric target of
non-integer values or of more than ``MAX_CLASSES`` distinct values as regression, any other as classes.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import BackpropvizError
from . import Dataset, register, standardize
from .tables import select_features

CSV_MAX_ROWS = 100_000
MAX_CLASSES = 20
MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@register("csv", takes_features=True)
def from_csv(*, path=None, target=None, features=None, max_rows: int = CSV_MAX_ROWS, task="auto",
             **_options) -> Dataset:
    """Read ``path``: classes from the column ``target``, inputs from ``features`` (default: all other columns)."""
    if not path:
        raise BackpropvizError("the csv data set needs a file: --csv FILE --target COLUMN")
    path = Path(path)
    if path.is_dir():
        raise BackpropvizError(f"--csv {str(path)!r} is a folder; give a CSV file (header row, one row per sample)")
    if not path.is_file():
        raise BackpropvizError(f"CSV file {str(path)!r} does not exist")
    if not target:
        raise BackpropvizError(f"{path.name}: say which column holds the classes with --target COLUMN")
    header, rows, lines = read_csv(path, max_rows)

    lookup = {name.lower(): i for i, name in enumerate(header)}
    if str(target).lower() not in lookup:
        raise BackpropvizError(f"{path.name} has no column {target!r} for --target; columns: {', '.join(header)}")
    t = lookup[str(target).lower()]
    special = features is not None and [str(f).lower() for f in features] in (["pca"], ["all"])
    if features is None or special:
        columns = [i for i in range(len(header)) if i != t]
    else:
        columns = []
        for name in features:
            key = str(name).strip().lower()
            if key not in lookup:
                raise BackpropvizError(
                    f"{path.name} has no column {name!r} for --features; columns: {', '.join(header)}")
            if lookup[key] == t:
                raise BackpropvizError(f"--features must not include the target column {header[t]!r}")
            columns.append(lookup[key])
    if not columns:
        raise BackpropvizError(f"{path.name} has no feature columns besides the target {header[t]!r}")

    X = np.empty((len(rows), len(columns)), dtype=np.float64)
    labels = []
    for r, (row, line) in enumerate(zip(rows, lines)):
        where = f"{path.name}: row {r + 1} (line {line})"
        label = row[t].strip()
        if label.lower() in MISSING:
            raise BackpropvizError(f"{where}, column {header[t]!r}: the target is missing; fill it in or remove the row")
        labels.append(label)
        for j, c in enumerate(columns):
            cell = row[c].strip()
            if cell.lower() in MISSING:
                raise BackpropvizError(f"{where}, column {header[c]!r}: missing value; fill it in or remove the row")
            value = _number(cell)
            if value is None:
                raise BackpropvizError(
                    f"{where}, column {header[c]!r}: expected a finite number, got {cell!r}"
                    + ("" if features else "; pick numeric columns with --features a,b"))
            X[r, j] = value

    task, detected = _task(labels, str(task or "auto").lower(), header[t], path.name, lines)
    meta = {}
    if task == "regression":
        values, mean, std = standardize(np.array([float(v) for v in labels])[:, None])
        y, class_names = values.reshape(-1), ()
        meta = {"target_mean": float(mean[0]), "target_std": float(std[0]), "task_detected": detected}
    else:
        y, class_names = _classes(labels, header[t], path.name)
    Xs, _, _ = standardize(X)
    names, how = [header[c] for c in columns], "all" if features is None else "columns"
    if special:
        Xs, names, how = select_features(Xs, names, features, path.name)
    return Dataset(path.stem, np.ascontiguousarray(Xs, dtype=np.float32), y,
                   feature_names=tuple(names), class_names=class_names,
                   meta={"kind": "csv", "path": str(path), "target": header[t], "features": how,
                         "standardized": True, **meta}, task=task)


def read_csv(path, max_rows: int = CSV_MAX_ROWS) -> tuple[list[str], list[list[str]], list[int]]:
    """``(header, rows, lines)`` of the CSV file ``path``: the header's names, the data rows (blank
    lines skipped, each as long as the header) and their line numbers; BackpropvizError for a file
    that is not UTF-8, not CSV, empty, has unnamed or repeated columns, ragged rows, or more than
    ``max_rows`` data rows."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _read(f, path.name, max_rows)
    except UnicodeDecodeError as exc:
        raise BackpropvizError(f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise BackpropvizError(f"{path.name} is not a readable CSV file: {exc}") from None


def _task(labels: list[str], task: str, column: str, name: str, lines: list[int]) -> tuple[str, bool]:
    """``(task, detected)`` for the target column: ``task`` itself (a regression target must be
    numeric), or for ``auto`` regression when the numbers are not whole or too many to be classes."""
    numbers = [_number(v) for v in labels]
    if task == "regression":
        bad = next((r for r, v in enumerate(numbers) if v is None), None)
        if bad is not None:
            raise BackpropvizError(
                f"{name}: row {bad + 1} (line {lines[bad]}), column {column!r}: a regression target must be a "
                f"finite number, got {labels[bad]!r}")
        return task, False
    if task == "auto" and all(v is not None for v in numbers):
        distinct = set(numbers)
        if len(distinct) > MAX_CLASSES or any(v != int(v) for v in distinct):
            return "regression", True
    return "classification", False


def _read(f, name: str, max_rows: int):
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise BackpropvizError(f"{name} is empty; expected a header row and data rows")
    header = [h.strip() for h in header]
    seen = set()
    for i, h in enumerate(header):
        if not h:
            raise BackpropvizError(f"{name}: column {i + 1} of the header has no name")
        if h.lower() in seen:
            raise BackpropvizError(f"{name}: the header names column {h!r} twice")
        seen.add(h.lower())
    rows, lines = [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(rows) >= max_rows:
            raise BackpropvizError(
                f"{name}: row {len(rows) + 1} (line {reader.line_num}) is past the limit of "
                f"{max_rows} data rows; use a sample of the file")
        if len(row) != len(header):
            raise BackpropvizError(
                f"{name}: row {len(rows) + 1} (line {reader.line_num}) has {len(row)} fields; "
                f"the header has {len(header)}")
        rows.append(row)
        lines.append(reader.line_num)
    if not rows:
        raise BackpropvizError(f"{name} has a header but no data rows")
    return header, rows, lines


def _classes(labels: list[str], column: str, name: str):
    distinct = list(dict.fromkeys(labels))
    numbers = [_number(v) for v in distinct]
    if all(v is not None for v in numbers):
        order = sorted(range(len(distinct)), key=lambda i: numbers[i])
    else:
        order = sorted(range(len(distinct)), key=lambda i: distinct[i])
    ordered = [distinct[i] for i in order]
    if len(ordered) < 2:
        raise BackpropvizError(
            f"{name}: the target column {column!r} holds one class only ({ordered[0]!r}); "
            "a classifier needs at least two")
    if len(ordered) > MAX_CLASSES:
        raise BackpropvizError(
            f"{name}: the target column {column!r} holds {len(ordered)} distinct values; "
            f"backpropviz classifies into at most {MAX_CLASSES} classes")
    index = {v: k for k, v in enumerate(ordered)}
    return np.array([index[v] for v in labels], dtype=np.float32), tuple(ordered)
