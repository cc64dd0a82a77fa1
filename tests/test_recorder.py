"""backpropviz.record on a user's own loop: it changes nothing, and what it writes is what the loop saw.

Every case runs the same hand-written loop twice, without and with the recorder, and compares the
final parameters and buffers bit for bit. In the recorded run the loop itself reads, at every
step, the parameters, the gradient the optimiser is about to use, each group's lr and the loss;
the recording is compared against those, and its scalars against their definitions in numpy
float64.
"""

import json
import math
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from recordhelpers import sigkill_once_flushed

import backpropviz
from backpropviz.errors import BackpropvizError

STEPS = 12
# Every device torch offers here; a machine with a GPU runs the CUDA cases by `make test` unchanged.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device here"))]


class SignSGD(torch.optim.Optimizer):
    """A user-defined optimiser: p <- p - lr * sign(grad)."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(torch.sign(p.grad), alpha=-group["lr"])


class Tied(torch.nn.Module):
    """An autoencoder whose decoder reuses the encoder's weight (one tensor, two names)."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Linear(6, 3)
        self.decoder = torch.nn.Linear(3, 6)
        self.decoder.weight = self.encoder.weight  # (3, 6), used transposed below
        self.out = torch.nn.Linear(6, 3)

    def forward(self, x):
        h = torch.tanh(self.encoder(x))
        return self.out(torch.nn.functional.linear(h, self.encoder.weight.t(), self.decoder.bias))


def mlp(batchnorm=False):
    layers = [torch.nn.Linear(6, 16)] + ([torch.nn.BatchNorm1d(16)] if batchnorm else [])
    return torch.nn.Sequential(*layers, torch.nn.ReLU(), torch.nn.Linear(16, 3))


def setup(case, device="cpu"):
    """(model, optimizer, scheduler or None, micro-batches per step, clip norm or None)."""
    torch.manual_seed(0)
    model = (Tied() if case == "tied" else mlp(batchnorm=case == "batchnorm")).to(device)
    params = list(model.parameters())
    scheduler, accumulate, clip = None, 1, None
    if case == "adam" or case == "batchnorm":
        opt = torch.optim.Adam(params, lr=0.01)
    elif case == "user_optimizer":
        opt = SignSGD(params, lr=0.01)
    elif case == "groups":
        opt = torch.optim.SGD([{"params": [model[0].weight, model[0].bias]},
                               {"params": [model[2].weight, model[2].bias], "lr": 0.02}],
                              lr=0.1, momentum=0.9)
        scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    elif case == "frozen":
        model[0].weight.requires_grad_(False)
        opt = torch.optim.SGD([p for p in params if p.requires_grad], lr=0.1)
    else:
        opt = torch.optim.SGD(params, lr=0.1)
    if case == "accumulation":
        accumulate = 3
    if case == "clipping":
        clip = 0.05
    return model, opt, scheduler, accumulate, clip


def batches(step, accumulate, device="cpu"):
    g = torch.Generator().manual_seed(1000 + step)
    for _ in range(accumulate):
        yield torch.randn(16, 6, generator=g).to(device), torch.randint(0, 3, (16,), generator=g).to(device)


def host(t):
    return t.detach().cpu().numpy()


def flat(tensors):
    return np.concatenate([host(t).reshape(-1) for t in tensors])


def train(case, folder=None, device="cpu", **options):
    """The loop on ``device``; with ``folder``, recorded. Returns the final state dict and what the loop read."""
    model, opt, scheduler, accumulate, clip = setup(case, device)
    seen = {"states": [flat(model.parameters())], "grads": [], "lr": [], "loss": [],
            "buffers": [[b.clone() for b in model.buffers()]]}
    rec = backpropviz.record(model, opt, folder, **options) if folder else None
    with rec if rec else _nothing():
        for step in range(STEPS):
            opt.zero_grad()
            for x, y in batches(step, accumulate, device):
                loss = torch.nn.functional.cross_entropy(model(x), y) / accumulate
                loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            seen["grads"].append([None if p.grad is None else p.grad.clone() for p in model.parameters()])
            seen["lr"].append([g["lr"] for g in opt.param_groups])
            opt.step()
            if rec:
                rec.step(loss)
            seen["loss"].append(loss.item())
            if scheduler:
                scheduler.step()
            seen["states"].append(flat(model.parameters()))
            seen["buffers"].append([b.clone() for b in model.buffers()])
    return model.state_dict(), seen


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


CASES = ["sgd", "adam", "user_optimizer", "groups", "frozen", "batchnorm", "accumulation",
         "clipping", "tied"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES)
def test_recorder_changes_nothing_and_records_what_the_loop_saw(case, device, tmp_path):
    plain, _ = train(case, device=device)
    recorded, seen = train(case, tmp_path / "rec", device, snapshots=backpropviz.every(5), projection=8,
                           chunk_rows=5)
    assert plain.keys() == recorded.keys()
    for name in plain:
        assert torch.equal(plain[name], recorded[name]), name  # bit for bit

    r = backpropviz.load_recording(tmp_path / "rec")
    assert r.complete and r.status == "completed"
    assert r.meta["device"] == str(next(iter(plain.values())).device)
    assert r.steps.tolist() == list(range(STEPS))
    assert r.snapshot_steps == [0, 5, 10, STEPS]
    np.testing.assert_array_equal(r.loss, seen["loss"])
    np.testing.assert_array_equal(r.lr, np.array(seen["lr"]))
    for s in r.snapshot_steps:
        snap = r.snapshot(s)
        np.testing.assert_array_equal(snap.params, seen["states"][s])
        for b, value in zip(r.meta["buffers"], seen["buffers"][s]):
            np.testing.assert_array_equal(snap.buffers[b["name"]], host(value))
            assert snap.buffers[b["name"]].dtype == host(value).dtype
        if s == STEPS:
            assert snap.grads is None  # the last state: no step was taken from it
            continue
        grads = seen["grads"][s]
        expected = np.concatenate([np.full(p.numel(), np.nan, np.float32) if g is None
                                   else host(g).reshape(-1) for p, g in zip(setup(case)[0].parameters(), grads)])
        np.testing.assert_array_equal(snap.grads, expected)
        assert snap.missing == [n for n, g in zip(r.param_names, grads) if g is None]

    # scalars against their definitions, float64
    offsets = [(p["offset"], p["numel"]) for p in r.meta["params"]]
    sc = r.scalars
    for t in range(STEPS):
        before = seen["states"][t].astype(np.float64)
        after = seen["states"][t + 1].astype(np.float64)
        for j, (o, n) in enumerate(offsets):
            g = seen["grads"][t][j]
            if g is None:
                assert math.isnan(sc["grad_norm"][t, j])
            else:
                assert sc["grad_norm"][t, j] == pytest.approx(np.linalg.norm(host(g).astype(np.float64)), rel=1e-6)
            w = np.linalg.norm(before[o:o + n])
            u = np.linalg.norm(after[o:o + n] - before[o:o + n])
            assert sc["weight_norm"][t, j] == pytest.approx(w, rel=1e-6)
            assert sc["update_norm"][t, j] == pytest.approx(u, rel=1e-5, abs=1e-12)
            with np.errstate(divide="ignore", invalid="ignore"):  # BatchNorm's bias starts at 0
                ratio = np.float64(u) / w
            assert sc["update_ratio"][t, j] == pytest.approx(ratio, rel=1e-5, abs=1e-12, nan_ok=True)


def test_frozen_parameter_is_marked_not_faked(tmp_path):
    _, seen = train("frozen", tmp_path / "rec")
    r = backpropviz.load_recording(tmp_path / "rec")
    j = r.param_names.index("0.weight")
    assert np.isnan(r.scalars["grad_norm"][:, j]).all()
    assert (r.scalars["update_norm"][:, j] == 0).all()  # measured: the weight did not move
    assert r.meta["params"][j]["requires_grad"] is False and r.meta["params"][j]["group"] == -1
    assert r.snapshot(0).missing == ["0.weight"]
    layers, per_layer = r.layer_scalars()
    # layer "0" has only its bias's gradient: sqrt of the one square
    k = r.param_names.index("0.bias")
    np.testing.assert_allclose(per_layer["grad_norm"][:, layers.index("0")], r.scalars["grad_norm"][:, k])


def test_tied_weight_is_recorded_once_and_named(tmp_path):
    train("tied", tmp_path / "rec")
    r = backpropviz.load_recording(tmp_path / "rec")
    model = Tied()
    assert r.param_names == [n for n, _ in model.named_parameters()]
    assert "decoder.weight" not in r.param_names
    assert r.meta["aliases"] == {"decoder.weight": "encoder.weight"}
    assert r.n_params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_layer_scalars_combine_the_tensors_of_a_module(device, tmp_path):
    _, seen = train("sgd", tmp_path / "rec", device)
    r = backpropviz.load_recording(tmp_path / "rec")
    layers, per_layer = r.layer_scalars()
    assert layers == ["0", "2"]
    for t in range(STEPS):
        g = seen["grads"][t]
        expected = np.sqrt(sum(np.sum(host(x).astype(np.float64) ** 2) for x in g[2:4]))
        assert per_layer["grad_norm"][t, 1] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_projection_is_the_documented_signed_sketch_and_keeps_distances(device, tmp_path):
    k, seed = 64, 7
    _, seen = train("sgd", tmp_path / "rec", device, projection=k, seed=seed)
    r = backpropviz.load_recording(tmp_path / "rec")
    path = r.projection
    assert path.shape == (STEPS + 1, k)
    # docs/recording-format.md: the flat parameters in rows of k (zero-padded), one sign per row
    gen = torch.Generator().manual_seed(seed)
    n_rows = -(-r.n_params // k)
    sign = torch.randint(0, 2, (n_rows,), generator=gen).numpy() * 2.0 - 1
    for t in range(STEPS + 1):
        padded = np.zeros(n_rows * k)
        padded[: r.n_params] = seen["states"][t]
        np.testing.assert_allclose(path[t], sign @ padded.reshape(n_rows, k), rtol=1e-5, atol=1e-5)
    a, b = seen["states"][0].astype(np.float64), seen["states"][-1].astype(np.float64)
    ratio = np.linalg.norm(path[-1] - path[0]) / np.linalg.norm(b - a)
    assert 0.5 < ratio < 1.5


def test_logspaced_and_listed_snapshots_keep_first_and_last(tmp_path):
    train("sgd", tmp_path / "log", steps=STEPS, snapshots=backpropviz.logspaced(4))
    steps = backpropviz.load_recording(tmp_path / "log").snapshot_steps
    assert steps[0] == 0 and steps[-1] == STEPS and len(steps) >= 4
    assert np.all(np.diff(steps)[:-1] <= np.diff(steps)[1:])  # dense early
    train("sgd", tmp_path / "list", snapshots=[3, 7, 100])
    assert backpropviz.load_recording(tmp_path / "list").snapshot_steps == [0, 3, 7, STEPS]


def test_recording_is_readable_while_the_loop_runs(tmp_path):
    model, opt, *_ = setup("sgd")
    with backpropviz.record(model, opt, tmp_path / "rec", chunk_rows=5) as rec:
        for step in range(12):
            opt.zero_grad()
            x, y = next(batches(step, 1))
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss)
        live = backpropviz.load_recording(tmp_path / "rec")
        assert not live.complete and live.status == "incomplete"
        assert live.steps.tolist() == list(range(10))  # two whole chunks flushed, two rows buffered
    done = backpropviz.load_recording(tmp_path / "rec")
    assert done.steps.tolist() == list(range(12))
    np.testing.assert_array_equal(done.loss[:10], live.loss)


def test_plain_numpy_reads_the_recording(tmp_path):
    train("batchnorm", tmp_path / "rec", snapshots=backpropviz.every(4))
    folder = tmp_path / "rec"
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["format"] == "backpropviz-recording" and meta["version"] == 1
    entries = [json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines()]
    rows = np.concatenate([np.load(folder / e["file"], allow_pickle=False)
                           for e in entries if e["kind"] == "scalars"])
    r = backpropviz.load_recording(folder)
    np.testing.assert_array_equal(rows[:, meta["columns"].index("loss")], r.loss)
    state = next(e for e in entries if e["kind"] == "state" and e["step"] == 4)
    np.testing.assert_array_equal(np.load(folder / state["params"], allow_pickle=False), r.snapshot(4).params)


CHILD = """
import sys, torch, backpropviz
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
with backpropviz.record(model, opt, sys.argv[1], chunk_rows=10, snapshots=backpropviz.every(7)) as rec:
    step = 0
    while True:
        g = torch.Generator().manual_seed(1000 + step)
        x, y = torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g)
        opt.zero_grad(); loss = torch.nn.functional.cross_entropy(model(x), y); loss.backward(); opt.step()
        rec.step(loss)
        step += 1
"""


def test_killed_run_leaves_a_readable_recording_up_to_its_last_flush(tmp_path):
    folder = tmp_path / "rec"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), str(folder)])
    sigkill_once_flushed(child, folder, chunks=5, timeout=60)
    assert child.returncode == -signal.SIGKILL
    r = backpropviz.load_recording(folder)
    assert not r.complete
    n = len(r.steps)
    assert n >= 50 and n % 10 == 0 and r.steps.tolist() == list(range(n))
    # the same loop, run here for n steps, saw the same losses and reached the same states
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    states = {0: flat(model.parameters())}
    # A snapshot is written when it is taken, the scalars a chunk at a time: a snapshot may be
    # later than the last flushed chunk's steps.
    for step in range(max([n, *r.snapshot_steps])):
        x, y = next(batches(step, 1))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if step < n:
            assert r.loss[step] == loss.item()
        states[step + 1] = flat(model.parameters())
    for s in r.snapshot_steps:  # whatever snapshots were flushed are whole
        assert s % 7 == 0
        np.testing.assert_array_equal(r.snapshot(s).params, states[s])


def test_disk_budget_refusal_names_the_largest_setting_that_fits(tmp_path):
    model, opt, *_ = setup("sgd")
    with pytest.raises(BackpropvizError) as err:
        backpropviz.record(model, opt, tmp_path / "rec", steps=1000, snapshots=backpropviz.every(10),
                           disk_budget="150kB")
    message = str(err.value)
    assert "\n" not in message and "150 kB" in message
    k = int(message.split("snapshots=every(")[1].split(")")[0])
    fits = backpropviz.record(model, opt, tmp_path / "rec", steps=1000, snapshots=backpropviz.every(k),
                              disk_budget="150kB")
    assert fits.estimate["disk_bytes"] <= 150_000
    with pytest.raises(BackpropvizError):
        backpropviz.record(model, opt, tmp_path / "rec", steps=1000, snapshots=backpropviz.every(k - 1),
                           disk_budget="150kB")
    assert not (tmp_path / "rec").exists()  # refused before anything was written


def test_disk_budget_refusals_for_logspaced_and_for_too_many_steps(tmp_path):
    model, opt, *_ = setup("sgd")
    with pytest.raises(BackpropvizError, match=r"logspaced\(\d+\)"):
        backpropviz.record(model, opt, tmp_path / "rec", steps=1000, snapshots=backpropviz.logspaced(50),
                           disk_budget="160kB")
    with pytest.raises(BackpropvizError, match=r"the first \d+ of the 40 listed steps fit"):
        backpropviz.record(model, opt, tmp_path / "rec", steps=1000, snapshots=list(range(1, 41)),
                           disk_budget="160kB")
    with pytest.raises(BackpropvizError, match=r"at most steps=[\d,]+ fit"):
        backpropviz.record(model, opt, tmp_path / "rec", steps=10**7, disk_budget="10MB")
    with pytest.raises(BackpropvizError, match="needs steps="):
        backpropviz.record(model, opt, tmp_path / "rec", disk_budget="10MB")
    with pytest.raises(BackpropvizError, match="needs steps="):
        backpropviz.record(model, opt, tmp_path / "rec", snapshots=backpropviz.logspaced(5))
    with pytest.raises(BackpropvizError, match="memory_budget"):
        backpropviz.record(model, opt, tmp_path / "rec", memory_budget=100)


def test_disk_estimate_is_what_a_run_writes(tmp_path):
    _, _ = train("batchnorm", tmp_path / "rec", steps=STEPS, snapshots=backpropviz.every(3), projection=8)
    r = backpropviz.load_recording(tmp_path / "rec")
    written = sum(f.stat().st_size for f in (tmp_path / "rec").rglob("*") if f.is_file())
    estimate = r.meta["estimate"]["disk_bytes"]
    assert 0.6 * estimate <= written <= estimate


def test_run_longer_than_its_disk_budget_stops_recording_not_training(tmp_path):
    model, opt, *_ = setup("sgd")
    steps = 20
    with pytest.warns(UserWarning, match="disk budget"):
        with backpropviz.record(model, opt, tmp_path / "rec", steps=steps, disk_budget="20kB",
                                chunk_rows=4, snapshots=backpropviz.every(5)) as rec:
            for step in range(steps * 10):
                x, y = next(batches(step, 1))
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                rec.step(loss)
    r = backpropviz.load_recording(tmp_path / "rec")
    assert r.complete and any(e["kind"] == "stopped" for e in r.entries)
    written = sum(f.stat().st_size for f in (tmp_path / "rec").rglob("*") if f.is_file())
    assert written <= 20_000 + 300  # the budget, and the stopped and end lines
    assert len(r.steps) < steps * 10 and r.steps.tolist() == list(range(len(r.steps)))


def resident_bytes() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/self/status")


def test_recorder_memory_does_not_grow_with_the_number_of_steps(tmp_path):
    model, opt, *_ = setup("sgd")
    x, y = next(batches(0, 1))
    rss = {}
    with backpropviz.record(model, opt, tmp_path / "rec", chunk_rows=16,
                            snapshots=backpropviz.every(20)) as rec:
        for step in range(1, 1001):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            rec.step(loss)
            if step in (200, 1000):
                rss[step] = resident_bytes()
    assert len(backpropviz.load_recording(tmp_path / "rec").steps) == 1000
    # 800 more steps (50 chunks and 40 snapshots written): no more memory; a leak of one
    # 500-byte row a step would show as 400 kB
    assert rss[1000] - rss[200] < 400_000, rss
    long = backpropviz.record(model, opt, tmp_path / "a", steps=10**7, chunk_rows=16).estimate
    short = backpropviz.record(model, opt, tmp_path / "b", steps=10**3, chunk_rows=16).estimate
    assert long["memory_bytes"] == short["memory_bytes"] == rec.estimate["memory_bytes"]
    assert long["disk_bytes"] > 1000 * short["disk_bytes"]


def test_bad_arguments_are_refused_in_one_line(tmp_path):
    model, opt, *_ = setup("sgd")
    cases = [
        (lambda: backpropviz.record("model", opt, tmp_path / "a"), "torch.nn.Module"),
        (lambda: backpropviz.record(model, object(), tmp_path / "a"), "torch.optim.Optimizer"),
        (lambda: backpropviz.record(model, opt, tmp_path / "a", projection=0), "projection="),
        (lambda: backpropviz.record(model, opt, tmp_path / "a", snapshots="often"), "snapshots="),
        (lambda: backpropviz.every(0), "every"),
        (lambda: backpropviz.record(model, opt, tmp_path / "a", disk_budget="lots"), "disk_budget="),
    ]
    for make, needle in cases:
        with pytest.raises(BackpropvizError) as err:
            make()
        assert needle in str(err.value) and "\n" not in str(err.value)
    train("sgd", tmp_path / "used")
    with pytest.raises(BackpropvizError, match="already holds a recording"):
        with backpropviz.record(model, opt, tmp_path / "used"):
            pass
    with backpropviz.record(model, opt, tmp_path / "b") as rec:
        opt.zero_grad()
        model(torch.randn(2, 6)).sum().backward()
        opt.step()
        with pytest.raises(BackpropvizError, match="one-element tensor"):
            rec.step(torch.ones(3))


def test_loop_that_raises_is_recorded_up_to_the_error(tmp_path):
    model, opt, *_ = setup("sgd")
    with pytest.raises(RuntimeError, match="boom"):
        with backpropviz.record(model, opt, tmp_path / "rec") as rec:
            for step in range(5):
                x, y = next(batches(step, 1))
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
                rec.step()
            raise RuntimeError("boom")
    r = backpropviz.load_recording(tmp_path / "rec")
    assert r.status.startswith("error: RuntimeError: boom") and len(r.steps) == 5
    assert r.snapshot_steps == [0, 5] and np.isnan(r.loss).all()


def test_steps_without_a_loss_read_nan_across_chunks(tmp_path):
    model, opt, *_ = setup("sgd")
    with backpropviz.record(model, opt, tmp_path / "rec", chunk_rows=4) as rec:
        for step in range(10):
            x, y = next(batches(step, 1))
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if step < 4:
                rec.step(loss)
    r = backpropviz.load_recording(tmp_path / "rec")
    assert np.isfinite(r.loss[:4]).all() and np.isnan(r.loss[4:]).all()


def test_package_import_stays_light():
    code = "import sys, backpropviz; assert callable(backpropviz.record); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", "import sys, backpropviz; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"  # torch comes with the first use of the recorder
