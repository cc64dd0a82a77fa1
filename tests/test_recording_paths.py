"""Every code path that records a run, exercised: the small buffers and the large ones (anonymous
maps populated when made, MAP_POPULATE, from 4 MiB), with and without MAP_POPULATE, a finished
run handing its buffers over and a stopped one copying the filled part, and rows of another
dtype than the gradients or parameters that are not contiguous. The reference is a plain PyTorch
forward and backward pass at the recorded parameters.
"""

import mmap
import signal

import numpy as np
import pytest
import torch

import backpropviz.train as T
from backpropviz.config import RunConfig
from backpropviz.interrupts import Interrupted
from backpropviz.losses import get_loss
from backpropviz.models import build_model

# mlp:64,64 on XOR has 4,417 parameters: 250 full-batch steps record (251 x 4481) float32
# parameters = 4.3 MiB, beyond the 4 MiB from which the recorder maps its buffers.
LARGE = RunConfig(data="xor", model="mlp:64,64", activation="tanh", optimizer="adam", lr=0.01, epochs=250, seed=3)


@pytest.fixture
def maps_made(monkeypatch):
    """The sizes of the populated anonymous maps the recorder makes (the large path)."""
    sizes = []
    real = mmap.mmap

    def spy(fileno, length, *args, flags=0, **kwargs):
        if fileno == -1 and flags & getattr(mmap, "MAP_POPULATE", 0):
            sizes.append(length)
        return real(fileno, length, *args, flags=flags, **kwargs)

    monkeypatch.setattr(mmap, "mmap", spy)
    return sizes


def _plain_gradient(config, history, step):
    """The whole-set gradient at params[step], by a fresh model and autograd (no recorder)."""
    model = build_model(config.model, 2, seed=0, activation=config.activation)
    flat = torch.from_numpy(history.params[step].copy())
    offset = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
    loss = get_loss(config.loss)(model(torch.from_numpy(history.X)), torch.from_numpy(history.y).reshape(-1, 1))
    grads = torch.autograd.grad(loss, list(model.parameters()))
    return loss.item(), torch.cat([g.reshape(-1) for g in grads]).numpy()


@pytest.fixture(scope="module")
def large():
    return T.train(LARGE)


def test_a_large_run_records_into_mapped_buffers(maps_made):
    large = T.train(LARGE)
    assert large.params.shape == (251, 4417) and large.params.nbytes >= 4 << 20
    assert maps_made == [251 * 4417 * 4, 250 * 4417 * 4]  # parameters and gradients, mapped
    for step in (0, 125, 249):
        loss, grad = _plain_gradient(LARGE, large, step)
        assert large.loss[step] == pytest.approx(loss, rel=1e-6)
        np.testing.assert_allclose(large.grads[step], grad, rtol=1e-5, atol=1e-7)
    assert np.isfinite(large.params).all() and large.status == "completed"


def test_the_large_path_records_the_same_bits_as_the_small_one(large, monkeypatch, maps_made):
    monkeypatch.delattr(mmap, "MAP_ANONYMOUS")  # recording_buffers falls back to np.empty
    small = T.train(LARGE)
    assert maps_made == []
    assert small.params.tobytes() == large.params.tobytes()
    assert small.grads.tobytes() == large.grads.tobytes()
    assert small.loss.tobytes() == large.loss.tobytes()


def test_without_map_populate_the_buffers_are_plain_arrays(large, monkeypatch, maps_made):
    # Where mmap has no MAP_POPULATE (not Linux), the pages are mapped at first write instead;
    # the recording must not change.
    monkeypatch.delattr(mmap, "MAP_POPULATE")
    again = T.train(LARGE)
    assert maps_made == [] and again.params.tobytes() == large.params.tobytes()


def test_a_large_run_stopped_early_copies_what_it_filled(large, maps_made):
    def stop(step):
        if step == 100:
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted) as info:
        T.train(LARGE, on_step=stop)
    h = info.value.history
    assert h.n_steps == 100 and h.status.startswith("interrupted at step 100")
    assert len(maps_made) == 2 and h.params.shape == (101, 4417)  # a copy of the rows filled
    assert h.params.flags.owndata and h.grads.flags.owndata
    assert h.params.tobytes() == large.params[:101].tobytes()
    assert h.grads.tobytes() == large.grads[:100].tobytes()


def test_the_recorder_takes_gradients_of_another_dtype_and_strided_parameters():
    # float64 rows: the gradients are float32 and the flat parameters are not contiguous; the
    # rows hold their values.
    rng = torch.Generator().manual_seed(1)
    flat0 = torch.randn(10, dtype=torch.float64, generator=rng)
    rec = T.Recorder(flat0.clone(), n_steps=2)
    expected_grads, expected_params = [], [flat0.clone()]
    for step in range(2):
        grads = [torch.randn(6, generator=rng), torch.randn(4, generator=rng)]
        rec.record(float(step), grads)
        wide = torch.randn(20, dtype=torch.float64, generator=rng)
        rec.record_params(wide[::2])  # a strided view
        expected_grads.append(torch.cat(grads).double())
        expected_params.append(wide[::2].clone())
    params, grads, loss, _ = rec.arrays()
    np.testing.assert_array_equal(grads, torch.stack(expected_grads).numpy())
    np.testing.assert_array_equal(params, torch.stack(expected_params).numpy())
    assert list(loss) == [0.0, 1.0]


def test_mini_batch_runs_record_each_steps_rows():
    config = RunConfig(data="moons", n_samples=30, model="mlp:4", epochs=3, batch_size=7, seed=2)
    h = T.train(config)
    # 30 rows in batches of 7: 5 steps per epoch, the last one of 2 rows (padded with -1).
    assert h.batches.shape == (15, 7) and h.epoch.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    for e in range(3):
        rows = h.batches[5 * e:5 * e + 5].reshape(-1)
        assert sorted(rows[rows >= 0].tolist()) == list(range(30)) and (rows < 0).sum() == 5
