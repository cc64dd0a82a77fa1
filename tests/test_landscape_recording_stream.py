"""``landscape --model ... --recording DIR`` reads the recording's snapshots one at a time
(``recording_views.SnapshotRows``): the same plane as the path stacked in memory, and a peak
memory that does not grow with the number of snapshots as K x P does (issue #13).

The references are the in-memory route: the snapshots stacked (from the reader, or from a plain
torch loop's own state dicts saved as --checkpoint files) and handed to ``model_plane`` whole.
The factories below are what the CLI's ``--model`` / ``--data`` name (this module, by its name).
"""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import backpropviz
from backpropviz.analysis.landscape import Landscape, model_plane
from backpropviz.analysis import recording_views
from backpropviz.analysis.recording_views import SnapshotRows
from backpropviz.models import get_flat
from backpropviz.record import load_recording

HERE = __name__  # the module name --model and --data name


def bn_mlp() -> nn.Module:
    """A small MLP with BatchNorm: its statistics differ between snapshots."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))


def blobs():
    g = torch.Generator().manual_seed(3)
    centres = torch.tensor([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = torch.arange(60) % 3
    return centres[y] + 0.8 * torch.randn(60, 2, generator=g), y


def wide() -> nn.Module:
    """About 200,000 parameters (204,603)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 440), nn.Tanh(), nn.Linear(440, 440), nn.Tanh(), nn.Linear(440, 3))


def wide_data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(32, 20, generator=g), torch.randint(0, 3, (32,), generator=g)


def record_loop(model, X, y, folder, steps: int, every: int, lr: float = 0.5, batch: int = 20) -> dict:
    """A plain SGD loop on mini-batches, recorded; returns the loop's own state dicts at the
    snapshot steps (and the last state)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    states = {}
    with backpropviz.record(model, opt, folder, steps=steps, snapshots=backpropviz.every(every)) as rec:
        for step in range(steps):
            if step % every == 0:
                states[step] = {k: v.clone() for k, v in model.state_dict().items()}
            idx = torch.arange(step * batch, (step + 1) * batch) % len(y)
            opt.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            rec.step(loss)
    states[steps] = {k: v.clone() for k, v in model.state_dict().items()}
    return states


@pytest.fixture(scope="module")
def mlp_recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream") / "rec"
    X, y = blobs()
    states = record_loop(mlp(), X, y, folder, steps=40, every=5)
    return folder, states


@pytest.mark.parametrize("method", ["pca", "random", "hessian"])
@pytest.mark.parametrize("center_row", [-1, 3])
def test_snapshot_rows_give_the_plane_of_the_stacked_snapshots(mlp_recording, method, center_row):
    folder, _ = mlp_recording
    rec = load_recording(folder)
    steps = rec.snapshot_steps
    stacked = np.stack([rec.snapshot(s).params for s in steps]).astype(np.float64)  # the in-memory reference
    X, y = blobs()
    model = mlp()
    kw = dict(method=method, center_row=center_row, resolution=5, dtype=torch.float64)
    ref = model_plane(model, F.cross_entropy, X, y, path=stacked, **kw)
    rows = SnapshotRows(rec, steps)
    np.testing.assert_array_equal(rows.row(center_row % len(steps)), stacked[center_row])
    land = model_plane(model, F.cross_entropy, X, y, path=rows, **kw)
    np.testing.assert_array_equal(land.origin, ref.origin)
    np.testing.assert_allclose(land.directions, ref.directions, rtol=0, atol=1e-9 * np.abs(ref.directions).max())
    np.testing.assert_allclose(land.path, ref.path, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(land.path_residual, ref.path_residual, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(land.set_loss, ref.set_loss, rtol=1e-12)
    np.testing.assert_allclose(land.path_loss, ref.path_loss, rtol=1e-10)
    np.testing.assert_allclose([land.alpha, land.beta], [ref.alpha, ref.beta], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(land.loss, ref.loss, rtol=1e-8)
    assert land.config["path_extent"] == pytest.approx(ref.config["path_extent"], rel=1e-12)
    if method == "pca":
        np.testing.assert_allclose(land.explained_variance, ref.explained_variance, rtol=1e-9)
        assert ref.explained_variance[1] > 1e-3  # the path is not a line: PC2 is a direction of its own
    assert land.fidelity() == ref.fidelity()


def test_pca_of_two_snapshots_has_a_second_direction_orthogonal_to_the_first(mlp_recording):
    folder, _ = mlp_recording
    rec = load_recording(folder)
    steps = rec.snapshot_steps[-2:]
    stacked = np.stack([rec.snapshot(s).params for s in steps]).astype(np.float64)
    d, explained = SnapshotRows(rec, steps).pca(stacked[-1])
    line = (stacked[1] - stacked[0]) / np.linalg.norm(stacked[1] - stacked[0])  # start to centre
    assert d[0] @ line == pytest.approx(1.0, abs=1e-12)  # the start on the negative side
    assert d[1] @ d[0] == pytest.approx(0.0, abs=1e-12) and np.linalg.norm(d[1]) == pytest.approx(1.0, abs=1e-12)
    assert explained == pytest.approx([1.0, 0.0], abs=1e-12)


def printed_lines(out: str) -> list[str]:
    """What the command printed, but the files it wrote and how long it took."""
    return [re.sub(r"in [0-9.]+ s", "in T s", line) for line in out.splitlines() if not line.startswith("wrote")]


def cli_landscape(cli, out, *source):
    r = cli("landscape", "--model", f"{HERE}:bn_mlp", "--data", f"{HERE}:blobs", *source, "--method", "pca",
            "-r", "5", "--center-step", "2", "--views", "contour", "--no-curvature", "--dtype", "float64",
            "--out", out)
    assert r.code == 0, r
    return r, Landscape.load(out / "landscape.npz")


def test_cli_landscape_of_a_recording_is_that_of_its_snapshots_as_checkpoints(cli, tmp_path):
    """The streamed route against the in-memory one: the loop's own state dicts at the snapshot
    steps, saved as --checkpoint files; BatchNorm statistics differ between them, so each row's
    loss is with its own."""
    X, y = blobs()
    states = record_loop(bn_mlp(), X, y, tmp_path / "rec", steps=12, every=3)
    files = []
    for step, state in sorted(states.items()):
        files += ["--checkpoint", tmp_path / f"step {step}"]
        torch.save(state, files[-1])
    r, land = cli_landscape(cli, tmp_path / "streamed", "--recording", tmp_path / "rec")
    r_ref, ref = cli_landscape(cli, tmp_path / "in_memory", *files)
    assert land.config["path_labels"] == ref.config["path_labels"] == [f"step {s}" for s in (0, 3, 6, 9, 12)]
    assert land.config["own_buffers"] and ref.config["own_buffers"]
    m = bn_mlp()
    m.load_state_dict(states[6])
    np.testing.assert_array_equal(land.origin, get_flat(m).double().numpy())  # the centre, --center-step 2
    for name in ("origin", "path", "path_residual", "set_loss", "path_loss", "alpha", "beta", "loss",
                 "explained_variance"):
        np.testing.assert_allclose(getattr(land, name), getattr(ref, name), rtol=1e-8, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(land.directions, ref.directions, rtol=0, atol=1e-9)
    numbers = ("explained_variance", "path_extent", "x_range", "y_range")  # the same to rounding
    for key in numbers:
        np.testing.assert_allclose(land.config[key], ref.config[key], rtol=1e-8, err_msg=key)
    drop = ("model", *numbers)
    assert {k: v for k, v in land.config.items() if k not in drop} == {k: v for k, v in ref.config.items()
                                                                       if k not in drop}
    assert land.config["model"]["recording"] == str(tmp_path / "rec")
    assert printed_lines(r.out) == printed_lines(r_ref.out)


def traced_peak(run) -> int:
    """tracemalloc's peak (numpy's buffers among them) while ``run()`` runs."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_landscape_of_a_recording_does_not_hold_every_snapshot(tmp_path, monkeypatch):
    """8 vs 32 snapshots of a 204,603-parameter model, through what ``landscape --recording``
    runs (``recording_path``, then ``model_plane``): the peak grows by far less than the 24 more
    snapshots would take (24 P float32 numbers); the in-memory route, measured alike, by more.
    The block of columns is made smaller than 8 snapshots, so that a block that holds all of
    them at K = 8 and only part of them at K = 32 is not taken for growth."""
    from backpropviz.cli.usermodel import recording_path
    from backpropviz.usermodel import load_user_model

    monkeypatch.setattr(recording_views, "GRAM_BLOCK_BYTES", 1 << 20)
    X, y = wide_data()
    P = sum(p.numel() for p in wide().parameters())
    for K in (8, 32):
        record_loop(wide(), X, y, tmp_path / f"rec{K}", steps=K - 1, every=1, lr=0.05, batch=16)

    def streamed(K):
        user = load_user_model(f"{HERE}:wide", f"{HERE}:wide_data", None)
        rows, row, labels, own = recording_path(user, tmp_path / f"rec{K}", -1, f"{HERE}:wide")
        land = model_plane(user.model, user.loss_fn, user.X, user.y, method="pca", path=rows, center_row=row,
                           row_losses=own, labels=labels, resolution=3)
        assert land.path.shape == (K, 2)

    def in_memory(K):
        rec = load_recording(tmp_path / f"rec{K}")
        path = np.stack([rec.snapshot(s).params for s in rec.snapshot_steps])
        model_plane(wide(), F.cross_entropy, X, y, method="pca", path=path, resolution=3)

    streamed(8)  # imports and caches out of the measure
    peak = {K: traced_peak(lambda: streamed(K)) for K in (8, 32)}
    stacked = {K: traced_peak(lambda: in_memory(K)) for K in (8, 32)}
    snapshots_bytes = 24 * P * 4
    assert stacked[32] - stacked[8] > snapshots_bytes, stacked  # the measure sees K x P when it is held
    assert peak[32] - peak[8] < 0.05 * snapshots_bytes, (peak, stacked)
