"""The recorder and the user-model tools on a model off the CPU.

The CUDA cases run where torch sees a GPU (`make test` there, or bench/device_check.py) and show as
skipped elsewhere. Each compares the device against an independent reference: the same model on
the CPU, the loop's own numbers, or numpy in float64.

Two run everywhere, with torch's meta device standing for a GPU: like CUDA it refuses to mix its
tensors with CPU ones (but for 0-dim scalars) and lets them be copied into; unlike CUDA it has no
data, so ``.item()``, ``.cpu()`` and ``.numpy()`` raise. A recorded loop on the meta device thus
fails at any tensor the recorder makes on the wrong device, any value it reads back per step, and
any copy to the host other than ``recorder._to_host`` (which the test replaces by zeros).
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import backpropviz
from backpropviz.errors import BackpropvizError

CUDA = [pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"))]
STEPS = 8


def mlp(batchnorm=False, width=16):
    torch.manual_seed(0)
    norm = [nn.BatchNorm1d(width)] if batchnorm else []
    return nn.Sequential(nn.Linear(6, width), *norm, nn.ReLU(), nn.Linear(width, 3))


def batch(step, device="cpu", n=32):
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(n, 6, generator=g).to(device), torch.randint(0, 3, (n,), generator=g).to(device)


def test_model_spread_over_two_devices_is_refused_before_the_first_step(tmp_path):
    model = mlp()
    model[2].to("meta")  # the second layer elsewhere: its norms could not join the first's in one row
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(BackpropvizError) as caught:
        backpropviz.record(model, opt, tmp_path / "rec")
    text = str(caught.value)
    assert "one device" in text and "cpu ('0.weight'" in text and "meta ('2.weight'" in text
    assert "\n" not in text
    assert not (tmp_path / "rec").exists()  # refused before anything was written


class TensorLrSGD(torch.optim.Optimizer):
    """p <- p - lr * grad with lr a tensor (on the parameters' device) or a number."""

    def __init__(self, groups):
        super().__init__(groups, {"lr": 0.1})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.sub_(group["lr"] * p.grad)


def test_recorder_keeps_every_tensor_of_a_step_on_the_model_device(tmp_path, monkeypatch):
    from backpropviz.record import recorder

    brought = []

    def to_host(t, dtype):
        assert t.device.type == "meta", f"a {tuple(t.shape)} tensor brought over from {t.device}"
        brought.append(tuple(t.shape))
        return np.zeros(t.shape, dtype=recorder._numpy(dtype))

    monkeypatch.setattr(recorder, "_to_host", to_host)
    model = mlp(batchnorm=True).to("meta")
    model[0].bias.requires_grad_(False)  # no gradient: its norm is the recorder's NaN, made on the device
    opt = TensorLrSGD([{"params": [model[0].weight]},
                       {"params": list(model[1].parameters()) + list(model[3].parameters()),
                        "lr": torch.tensor(0.05, device="meta")}])
    with backpropviz.record(model, opt, tmp_path / "rec", snapshots=backpropviz.every(3), projection=4,
                            every_step=True, chunk_rows=3) as rec:
        for step in range(STEPS):
            x, y = batch(step, "meta")
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss)
    r = backpropviz.load_recording(tmp_path / "rec")
    assert r.complete and r.steps.tolist() == list(range(STEPS)) and r.meta["device"] == "meta"
    assert r.snapshot_steps == [0, 3, 6, STEPS]
    np.testing.assert_array_equal(r.lr[:, 0], 0.1)  # a number: kept on the host
    n = r.n_params
    assert brought.count((3, 2 + 2 + 3 * 6 + 4)) == STEPS // 3 and (STEPS % 3, 2 + 2 + 3 * 6 + 4) in brought
    assert brought.count((3, n)) == 2 * (STEPS // 3) and (4,) in brought  # every step; the end's projection


@pytest.mark.parametrize("device", CUDA)
def test_recorder_adds_no_host_device_wait_to_a_step(device, tmp_path):
    """Between flushes and snapshots a recorded step never waits for the GPU (torch's sync debug
    mode raises on every synchronising call: .item(), .cpu(), a blocking copy)."""
    model = mlp(batchnorm=True).to(device)
    model[0].bias.requires_grad_(False)  # a parameter without a gradient: its norm is the NaN on the device
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    with backpropviz.record(model, opt, tmp_path / "rec", snapshots=None, projection=8, chunk_rows=64,
                            flush_seconds=3600) as rec:
        for step in range(STEPS):
            x, y = batch(step, device)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            if step == 0:  # step 0 saves its gradient (a snapshot): that one waits
                opt.step()
                rec.step(loss)
                continue
            torch.cuda.set_sync_debug_mode("error")
            try:
                opt.step()
                rec.step(loss)
            finally:
                torch.cuda.set_sync_debug_mode("default")
    r = backpropviz.load_recording(tmp_path / "rec")
    assert r.steps.tolist() == list(range(STEPS)) and np.isfinite(r.loss).all()
    assert np.isnan(r.scalars["grad_norm"][:, r.param_names.index("0.bias")]).all()


@pytest.mark.parametrize("device", CUDA)
def test_projection_keeps_float32_precision_when_matmuls_may_use_tf32(device, tmp_path):
    """With TF32 allowed for matmuls (torch.set_float32_matmul_precision("high"), common on
    GPUs), the sketch still has float32's precision: TF32 rounds its inputs to 10 bits, an error
    of about 5e-4 of the values, larger than one step's change of the parameters."""
    model = nn.Sequential(nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 4)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    k, seed = 64, 3
    was = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with backpropviz.record(model, opt, tmp_path / "rec", snapshots=backpropviz.every(1), projection=k,
                                seed=seed) as rec:
            for step in range(4):
                x = torch.randn(64, 256, device=device)
                opt.zero_grad()
                loss = model(x).square().mean()
                loss.backward()
                opt.step()
                rec.step(loss)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = was
    r = backpropviz.load_recording(tmp_path / "rec")
    n_rows = -(-r.n_params // k)
    sign = torch.randint(0, 2, (n_rows,), generator=torch.Generator().manual_seed(seed)).numpy() * 2.0 - 1
    for s in r.snapshot_steps:
        padded = np.zeros(n_rows * k)
        padded[: r.n_params] = r.snapshot(s).params
        expected = sign @ padded.reshape(n_rows, k)
        assert np.abs(r.projection[s] - expected).max() <= 1e-5 * np.abs(expected).max(), s


@pytest.mark.parametrize("device", CUDA)
def test_tensor_lr_on_the_device_is_recorded_as_the_step_used_it(device, tmp_path):
    model = mlp().to(device)
    lr = torch.tensor(0.01, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    used = []
    with backpropviz.record(model, opt, tmp_path / "rec", chunk_rows=3) as rec:
        for step in range(STEPS):
            x, y = batch(step, device)
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            used.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            rec.step(loss)
            opt.param_groups[0]["lr"].mul_(0.5)  # in place, after the step: the row keeps the value used
    r = backpropviz.load_recording(tmp_path / "rec")
    np.testing.assert_array_equal(r.lr[:, 0], used)


def user_tools(model, data):
    """What the user-model tools give for ``model`` on ``data`` (a DataLoader)."""
    from backpropviz.analysis.curvature import model_curvature
    from backpropviz.analysis.landscape import interpolation, model_plane
    from backpropviz.usermodel import check_fits, flat_params

    check_fits(model, F.cross_entropy, data)
    flat = flat_params(model)
    land = model_plane(model, F.cross_entropy, data, method="random", resolution=5, seed=1)
    cur = model_curvature(model, F.cross_entropy, data, None, flat, method="power", iters=20)
    buffers = {n: b for n, b in model.named_buffers()}
    line = interpolation(model, F.cross_entropy, data, None, flat, flat * 0.5, t=[0.0, 0.5, 1.0],
                         buffers=(buffers, {n: b * 0.5 if b.is_floating_point() else b for n, b in buffers.items()}))
    return flat, land.loss, land.set_loss, cur.lambda_max, line.loss


@pytest.mark.parametrize("device", CUDA)
def test_user_model_tools_on_a_gpu_model_give_the_cpu_results(device):
    """landscape, curvature and interpolation of a model (with BatchNorm buffers) on the GPU, its
    DataLoader yielding GPU tensors: the numbers of the same model and data on the CPU, and the
    user's model left on its device."""
    from torch.utils.data import DataLoader, TensorDataset

    cpu = mlp(batchnorm=True)
    cpu.train()(batch(0)[0])  # running statistics away from their initial values
    gpu = mlp(batchnorm=True).to(device)
    gpu.load_state_dict(cpu.state_dict())
    X, y = batch(1, n=96)
    on_cpu = user_tools(cpu.eval(), DataLoader(TensorDataset(X, y), batch_size=32))
    on_gpu = user_tools(gpu.eval(), DataLoader(TensorDataset(X.to(device), y.to(device)), batch_size=32))
    for a, b in zip(on_cpu, on_gpu):
        np.testing.assert_array_equal(a, b)  # the same computation on the CPU, on the same numbers
    assert all(t.device.type == "cuda" for t in (*gpu.parameters(), *gpu.buffers()))


@pytest.mark.parametrize("device", CUDA)
def test_explain_and_gradcheck_of_a_gpu_model_agree_with_the_cpu(device):
    from backpropviz.analysis.gradcheck import gradcheck_module
    from backpropviz.analysis.graph_trace import trace_step

    cpu = mlp(batchnorm=True).eval()
    gpu = mlp(batchnorm=True).to(device).eval()
    X, y = batch(2, n=8)
    check_cpu = gradcheck_module(cpu, F.cross_entropy, X, y, per_tensor=None)
    check_gpu = gradcheck_module(gpu, F.cross_entropy, X.to(device), y.to(device), per_tensor=None)
    assert check_gpu.passed() and check_cpu.passed()
    np.testing.assert_allclose(check_gpu.recorded, check_cpu.recorded, rtol=1e-5, atol=1e-7)
    t_cpu = trace_step(cpu, F.cross_entropy, X, y)
    t_gpu = trace_step(gpu, F.cross_entropy, X.to(device), y.to(device))
    assert t_gpu.loss == pytest.approx(t_cpu.loss, rel=1e-5)
    assert [n.id for n in t_gpu.nodes] == [n.id for n in t_cpu.nodes]
    for a, b in zip(t_cpu.nodes, t_gpu.nodes):
        np.testing.assert_allclose(b.value, a.value, rtol=1e-4, atol=1e-6)
        if a.grad is not None:
            np.testing.assert_allclose(b.grad, a.grad, rtol=1e-4, atol=1e-6)
