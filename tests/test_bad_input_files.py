"""Bad input, class 2: files that load but would crash later. A history is checked when it is
loaded (History.load), so every command that reads one refuses it the same way: one line naming
the file and what is wrong, exit 2, nothing written; numpy's "allow_pickle" advice never shows.
"""

import json

import numpy as np
import pytest

from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.history import History
from backpropviz.train import train

from clihelpers import one_line_error


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Arrays of a full-batch perceptron run and of a mini-batch MLP run, as saved."""
    folder = tmp_path_factory.mktemp("histories")
    runs = {"perceptron": RunConfig(epochs=20),
            "mlp": RunConfig(data="xor", model="mlp:3", epochs=10, batch_size=2)}
    arrays = {}
    for name, config in runs.items():
        train(config).save(folder / f"{name}.npz")
        with np.load(folder / f"{name}.npz") as z:
            arrays[name] = {k: z[k] for k in z.files}
    return arrays


def _write(tmp_path, base, **changes):
    arrays = dict(base)
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def _config(base, **settings):
    return np.array(json.dumps({**json.loads(str(base["config"])), **settings}))


def _nan_at(a, index):
    a = a.astype(np.float32).copy()
    a[index] = np.nan
    return a


# (which run, changes to its arrays, words the error must contain)
BROKEN = {
    "config not JSON": ("perceptron", lambda a: {"config": np.array("{oops")}, ["config", "JSON"]),
    "config a list": ("perceptron", lambda a: {"config": np.array("[1, 2]")}, ["config", "JSON object"]),
    "config invalid run": ("perceptron", lambda a: {"config": _config(a, lr="fast")}, ["config", "--lr"]),
    "config other model": ("perceptron", lambda a: {"config": _config(a, model="mlp:4")},
                           ["mlp:4", "17 parameters", "records 3"]),
    "params text": ("perceptron", lambda a: {"params": a["params"].astype(str)}, ["params", "not numbers"]),
    "params 1-D": ("perceptron", lambda a: {"params": a["params"][:, 0]}, ["params", "dimensions"]),
    "params NaN": ("perceptron", lambda a: {"params": _nan_at(a["params"], (5, 1))}, ["params", "NaN", "(5, 1)"]),
    "grads NaN": ("perceptron", lambda a: {"grads": _nan_at(a["grads"], (0, 0))}, ["grads", "NaN"]),
    "loss 2-D": ("perceptron", lambda a: {"loss": a["loss"][:, None]}, ["loss", "dimensions"]),
    "rows disagree": ("perceptron", lambda a: {"params": a["params"][:-2]}, ["disagree", "params"]),
    "epoch fractions": ("perceptron", lambda a: {"epoch": a["epoch"] + 0.5}, ["epoch", "whole numbers"]),
    "names numbers": ("perceptron", lambda a: {"param_names": np.array([1, 2, 3])}, ["param_names", "strings"]),
    "X text": ("perceptron", lambda a: {"X": a["X"].astype(str)}, ["X", "not numbers"]),
    "X short": ("perceptron", lambda a: {"X": a["X"][:3]}, ["X has 3 rows", "y 4"]),
    "y not a class": ("perceptron", lambda a: {"y": np.array([0, 1, 2, 7], np.float32)}, ["y", "class numbers"]),
    "y NaN": ("perceptron", lambda a: {"y": np.array([0, 1, np.nan, 1], np.float32)}, ["y", "finite"]),
    "status array": ("perceptron", lambda a: {"status": np.array([1, 2])}, ["status", "string"]),
    "epoch metrics too long": ("perceptron", lambda a: {"epoch_train_loss": np.ones(99)},
                               ["epoch_train_loss", "at most 21"]),
    "batches out of range": ("mlp", lambda a: {"batches": a["batches"] + 100}, ["batches", "0..3"]),
    "batches too few": ("mlp", lambda a: {"batches": a["batches"][:5]}, ["batches", "shape (5, 2)"]),
    "batches text": ("mlp", lambda a: {"batches": a["batches"].astype(str)}, ["batches", "whole numbers"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_an_inconsistent_history_is_refused_when_loaded(saved, tmp_path, case):
    run, change, words = BROKEN[case]
    path = _write(tmp_path, saved[run], **change(saved[run]))
    with pytest.raises(BackpropvizError) as info:
        History.load(path)
    message = str(info.value)
    assert str(path) in message and "not a valid backpropviz history" in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("case", ["params NaN", "X short", "batches out of range", "config other model"])
@pytest.mark.parametrize("command", ["plot", "explain", "landscape", "gradcheck"])
def test_every_command_refuses_it_the_same_way_and_writes_nothing(saved, cli, tmp_path, case, command):
    run, change, words = BROKEN[case]
    path = _write(tmp_path, saved[run], **change(saved[run]))
    out = tmp_path / "out"
    r = cli(command, path) if command == "gradcheck" else cli(command, path, "--out", out)
    one_line_error(r, "not a valid backpropviz history", *words)
    assert not out.exists()


def test_the_saved_histories_themselves_load(saved, tmp_path):
    for run in saved:
        History.load(_write(tmp_path, saved[run]))


def test_a_damaged_archive_is_one_short_line(saved, cli, tmp_path):
    # A local file header whose name length is damaged: zipfile's error quoted the 6,000 bytes it
    # then read as the entry's name, and that was the whole "one line". Also a truncated file.
    import zipfile

    good = tmp_path / "good.npz"
    np.savez_compressed(good, **saved["perceptron"])
    data = bytearray(good.read_bytes())
    entry = zipfile.ZipFile(good).getinfo("epoch.npy").header_offset
    data[entry + 26:entry + 28] = (6000).to_bytes(2, "little")
    bad = tmp_path / "damaged.npz"
    bad.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: len(data) // 2])
    for path in (bad, truncated):
        r = cli("plot", path, "--out", tmp_path / "out")
        one_line_error(r, str(path), "damaged")
        assert len(r.err) < 400, r.err
        assert "internal error" not in r.err
    assert "'epoch'" in cli("plot", bad).err  # the entry is named


@pytest.fixture
def history_file(saved, tmp_path):
    path = tmp_path / "h.npz"
    np.savez(path, **saved["perceptron"])
    return path


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_text("0.1 0.2 0.3\n0.4 0.5 0.6\n"), ["not a .npy file"]),
    (lambda p: np.save(p, np.array([{"a": 1}, {"b": 2}], dtype=object), allow_pickle=True), ["Python objects"]),
    (lambda p: np.save(p, np.array([["a", "b", "c"], ["d", "e", "f"]])), ["<U1", "not numbers"]),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), ["damaged"]),
])
def test_directions_that_are_not_a_numeric_array_are_named(cli, tmp_path, history_file, make, words):
    path = tmp_path / "d.npy"
    make(path)
    r = cli("landscape", history_file, "--method", "custom", "--directions", path, "--out", tmp_path / "out")
    one_line_error(r, "--directions", str(path), "(2, P)", *words)
    assert "allow_pickle" not in r.err and "pickle.load" not in r.err
    assert not (tmp_path / "out").exists()


def test_another_history_given_as_directions_is_named_as_such(cli, tmp_path, history_file):
    r = cli("landscape", history_file, "--method", "custom", "--directions", history_file, "--out", tmp_path / "o")
    one_line_error(r, "--directions", ".npz archive", "(2, P)")


def test_numeric_directions_still_work(cli, tmp_path, history_file):
    path = tmp_path / "d.npy"
    np.save(path, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    r = cli("landscape", history_file, "--method", "custom", "--directions", path, "--out", tmp_path / "o",
            "--views", "contour", "--no-curvature", "--resolution", "11")
    assert r.code == 0, r
