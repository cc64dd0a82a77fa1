"""The scripts in examples/: each runs as a user runs it (a subprocess, in an empty folder) and
writes a readable recording whose loss fell and the figures of it; the recorded run is the
same loop without the recorder, bit for bit."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import backpropviz

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIGURES = ("loss", "layers", "weights", "grads", "path")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_example(name, cwd, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_outputs(out: Path, stdout: str, n_steps: int):
    rec = backpropviz.load_recording(out / "recording")
    assert rec.complete and rec.status == "completed"
    assert len(rec.steps) == n_steps
    assert np.isfinite(rec.loss).all()
    assert rec.loss[-1] < rec.loss[0]
    assert rec.snapshot_steps[0] == 0 and rec.snapshot_steps[-1] == n_steps  # the first and last state
    for name in FIGURES:
        path = out / "figures" / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC, path
        assert f"wrote {path.relative_to(out.parent)}" in stdout
    page = (out / "recording.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") or page.lower().startswith("<!doctype html>")
    assert f"wrote {(out / 'recording.html').relative_to(out.parent)}" in stdout
    return rec


@pytest.fixture
def one_thread():
    """The reference loops run on one thread, as the examples do here (OMP_NUM_THREADS=1): a
    convolution's gradient sums in another order on more threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def final_state(rec):
    snap = rec.snapshot(rec.snapshot_steps[-1])
    return {name: np.asarray(snap.param(name)) for name in snap.layout}


def test_digits_cnn_records_trains_and_draws_in_a_fresh_folder(tmp_path, one_thread):
    done = run_example("digits_cnn", tmp_path, "cnn", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    n_steps = 24  # 1,500 training images in batches of 64
    rec = check_outputs(tmp_path / "cnn", done.stdout, n_steps)
    assert (tmp_path / "cnn" / "explain" / "graph.png").read_bytes()[:8] == PNG_MAGIC
    assert "validation accuracy" in done.stdout

    # The same loop, written here without the recorder, ends in the recording's last state.
    cnn = load_example("digits_cnn")
    X, y = cnn.digits()
    X, y = X[:-cnn.N_VALIDATION], y[:-cnn.N_VALIDATION]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(cnn.SEED))
    model = cnn.make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for xb, yb in loader:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    recorded = final_state(rec)
    assert set(recorded) == {name for name, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(recorded[name], p.detach().numpy(), err_msg=name)
    snap = rec.snapshot(n_steps)
    np.testing.assert_array_equal(snap.buffers["features.1.running_mean"], model.features[1].running_mean.numpy())


def test_residual_mlp_records_groups_and_clipping_and_draws(tmp_path, one_thread):
    done = run_example("residual_mlp", tmp_path, "res", "--epochs", "3", "--lang", "ja")
    assert done.returncode == 0, done.stderr
    n_steps = 3 * 19  # 1,200 points in batches of 64
    rec = check_outputs(tmp_path / "res", done.stdout, n_steps)
    assert rec.projection is not None and rec.projection.shape[1] == 32
    np.testing.assert_array_equal(rec.lr, np.tile([0.1, 0.01], (n_steps, 1)))  # the two groups
    # clip_grad_norm_(max_norm=1): the gradient the optimiser used has a total norm of at most 1
    total = np.sqrt(np.nansum(rec.scalars["grad_norm"] ** 2, axis=1))
    assert total.max() <= 1.0 + 1e-5

    res = load_example("residual_mlp")
    X, y = res.moons()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(res.SEED))
    model = res.make_model()
    optimizer = torch.optim.SGD([
        {"params": [*model.stem.parameters(), *model.head.parameters()], "lr": 0.1},
        {"params": model.blocks.parameters(), "lr": 0.01}], momentum=0.9)
    for _ in range(3):
        for xb, yb in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
    recorded = final_state(rec)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(recorded[name], p.detach().numpy(), err_msg=name)


@pytest.mark.parametrize("name", ["digits_cnn", "residual_mlp"])
def test_example_refuses_a_folder_with_a_recording_and_a_bad_epoch_count(tmp_path, name):
    (tmp_path / "out" / "recording").mkdir(parents=True)
    (tmp_path / "out" / "recording" / "meta.json").write_text("{}")
    done = run_example(name, tmp_path, "out", "--epochs", "1")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "already holds a recording" in done.stderr
    assert not (tmp_path / "out" / "figures").exists()
    done = run_example(name, tmp_path, "other", "--epochs", "0")
    assert done.returncode == 2 and done.stderr.strip() == (
        "error: --epochs takes a whole number of at least 1; got 0")
    assert not (tmp_path / "other").exists()
