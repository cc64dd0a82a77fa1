"""The recorder's memory: a snapshot goes to disk tensor by tensor (never joined into one flat copy),
its files are the bytes ``np.save`` writes of the joined array, and the stated budget
(``rec.estimate['memory_bytes']``) covers what the recorder holds and the largest copy it makes.

The peak resident set is measured by bench/bench_recorder.py (a child process per run); here the
bytes are counted exactly, against the tensors themselves.
"""

import io

import numpy as np
import pytest
import torch

import backpropviz
from backpropviz.record import store


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


class Mixed(torch.nn.Module):
    """float32 and float64 parameters (the snapshot is float64), BatchNorm's buffers (one int64),
    a frozen parameter (its gradient None: NaN in the file), and a transposed (non-contiguous) one."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(5, 300)
        self.bn = torch.nn.BatchNorm1d(300)
        self.b = torch.nn.Linear(300, 2).double()
        self.frozen = torch.nn.Parameter(torch.randn(3, 4), requires_grad=False)
        self.t = torch.nn.Parameter(torch.randn(7, 2).t())  # (2, 7), not contiguous

    def forward(self, x):
        h = torch.relu(self.bn(self.a(x)))
        return self.b(h.double()).sum() + (self.t ** 2).sum() + 0 * self.frozen.sum()


def spy_parts(monkeypatch):
    """Every part handed to ``write_npy_parts``, per file name (the arrays themselves)."""
    parts, real = {}, store.write_npy_parts

    def spy(folder, name, given, n, dtype):
        seen = parts.setdefault(name, [])

        def each():
            for part in given:
                seen.append(part)
                yield part

        return real(folder, name, each(), n, dtype)

    monkeypatch.setattr(store, "write_npy_parts", spy)
    return parts


def test_snapshot_files_are_np_save_of_the_joined_tensors(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = Mixed()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    x = torch.randn(16, 5)
    with backpropviz.record(model, opt, tmp_path / "r", snapshots=[1]):
        seen = []
        for _ in range(2):
            state = [p.detach().double().clone().reshape(-1) for p in model.parameters()]
            buffers = [b.detach().double().clone().reshape(-1) for b in model.buffers()]
            opt.zero_grad()
            model(x).backward()
            grads = [torch.full((p.numel(),), float("nan"), dtype=torch.float64) if p.grad is None
                     else p.grad.double().reshape(-1) for p in model.parameters()]
            seen.append((state, buffers, grads))
            opt.step()
    folder = tmp_path / "r" / "snapshots"
    for step, (state, buffers, grads) in enumerate(seen):
        assert (folder / f"{step:012d}.params.npy").read_bytes() == npy_bytes(torch.cat(state).numpy())
        assert (folder / f"{step:012d}.buffers.npy").read_bytes() == npy_bytes(torch.cat(buffers).numpy())
        assert (folder / f"{step:012d}.grads.npy").read_bytes() == npy_bytes(torch.cat(grads).numpy())
    rec = backpropviz.load_recording(tmp_path / "r")
    assert rec.snapshot(0).buffers["bn.num_batches_tracked"] == 0
    assert rec.snapshot(1).buffers["bn.num_batches_tracked"] == 1
    assert np.isnan(rec.snapshot(1).param("frozen", grad=True)).all()


def test_a_float32_model_on_the_cpu_is_written_from_its_own_memory(tmp_path, monkeypatch):
    parts = spy_parts(monkeypatch)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 20), torch.randint(0, 3, (32,))
    with backpropviz.record(model, opt, tmp_path / "r", snapshots=backpropviz.every(2)):
        for step in range(4):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            if step % 2 == 0:  # its gradient was written in the step's pre-hook: from the .grad tensors
                written = parts[f"snapshots/{step:012d}.grads.npy"]
                assert len(written) == 4
                for part, p in zip(written, model.parameters()):
                    assert np.shares_memory(part, p.grad.numpy())
    params = [n for n in parts if n.endswith(".params.npy")]
    assert params == [f"snapshots/{s:012d}.params.npy" for s in (0, 2, 4)]
    last = parts[params[-1]]
    assert len(last) == 4  # one part per tensor, never one joined copy
    for part, p in zip(last, model.parameters()):
        assert np.shares_memory(part, p.detach().numpy())


def test_the_stated_memory_covers_what_the_recorder_holds_and_its_largest_copy(tmp_path, monkeypatch):
    parts = spy_parts(monkeypatch)
    torch.manual_seed(0)
    model = Mixed()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x = torch.randn(16, 5)
    with backpropviz.record(model, opt, tmp_path / "r", snapshots=backpropviz.every(1), chunk_rows=8,
                            projection=4) as rec:
        held = (sum(t.untyped_storage().nbytes() for t in rec.prev) + rec.buf.untyped_storage().nbytes()
                + rec.host.nbytes + rec.signs.untyped_storage().nbytes())
        for _ in range(3):
            opt.zero_grad()
            model(x).backward()
            opt.step()
    tensors = [p.detach().numpy() for p in model.parameters()] + [b.numpy() for b in model.buffers()]
    copies = [part.nbytes for file in parts.values() for part in file
              if not any(np.shares_memory(part, t) for t in tensors)]
    assert max(copies) == 300 * 5 * 8  # a.weight as float64, the largest tensor converted
    assert held + max(copies) <= rec.estimate["memory_bytes"] <= 1.1 * (held + max(copies))


def test_write_npy_parts_refuses_parts_that_do_not_add_up_and_leaves_no_file(tmp_path):
    a = np.arange(5, dtype=np.float32)
    assert store.write_npy_parts(tmp_path, "x.npy", [a[:2], a[2:]], 5, np.float32) == store.NPY_HEADER + 20
    assert (tmp_path / "x.npy").read_bytes() == npy_bytes(a)
    with pytest.raises(ValueError):
        store.write_npy_parts(tmp_path, "y.npy", [a[:2]], 5, np.float32)
    with pytest.raises(ValueError):
        store.write_npy_parts(tmp_path, "z.npy", [a.astype(np.float64)], 5, np.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
