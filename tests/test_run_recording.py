"""``backpropviz run --recording DIR``: the built-in trainer records through ``backpropviz.record``
with the every-step tier, and the folder gives back the run's History bit for bit.

References: the run's own ``.npz`` history (``--save-history``), and for the tier of a user loop
the parameters and gradients read in that loop at every step.
"""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from clihelpers import one_line_error
from recordhelpers import sigkill_once_flushed

import backpropviz
from backpropviz.errors import BackpropvizError

RUNS = {
    "article": ["--epochs", "40"],
    "minibatch": ["--data", "moons", "--n-samples", "120", "--model", "mlp:6", "--optimizer", "adam", "--lr", "0.02",
                  "--epochs", "4", "--batch-size", "16", "--test-fraction", "0.25", "--schedule", "cosine"],
}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def npz(path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return dict(f)


def page_data(path) -> dict:
    return json.loads(path.read_text().split('id="bpv-data">')[1].split("</script>")[0])


@pytest.mark.parametrize("case", RUNS)
def test_run_recording_holds_the_npz_history_bit_for_bit(case, cli, tmp_path):
    args = RUNS[case]
    assert cli("run", *args, "--out", tmp_path / "a", "--save-history", tmp_path / "alone.npz").code == 0
    result = cli("run", *args, "--out", tmp_path / "b", "--save-history", tmp_path / "h.npz",
                 "--recording", tmp_path / "rec")
    assert result.code == 0, result
    assert f"wrote {tmp_path / 'rec'}" in result.out
    alone, saved = npz(tmp_path / "alone.npz"), npz(tmp_path / "h.npz")
    assert sorted(alone) == sorted(saved) and all(same_bits(alone[k], saved[k]) for k in alone)  # npz unchanged

    r = backpropviz.load_recording(tmp_path / "rec")
    assert r.complete and r.status == "completed" and r.is_run
    params, grads = r.every_step()  # the tier itself, before any History is made of it
    assert same_bits(params, saved["params"]) and same_bits(grads, saved["grads"])
    np.testing.assert_array_equal(r.loss.astype(np.float32), saved["loss"])
    np.testing.assert_array_equal(r.lr[:, 0], saved["lr"])
    assert r.steps.tolist() == list(range(len(saved["loss"])))
    rebuilt = r.to_history().to_arrays()
    assert sorted(rebuilt) == sorted(saved)
    differ = [k for k in saved if not same_bits(rebuilt[k], saved[k])]
    assert differ == []
    if case == "minibatch":
        assert (saved["batches"] >= 0).sum() < saved["batches"].size  # a short last batch, padded
        assert json.loads(str(saved["config"]))["schedule"] == "cosine"


def test_every_step_tier_of_a_user_loop_is_what_the_loop_saw(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    steps, seen_params, seen_grads = 23, [], []
    flat = lambda ts: torch.cat([t.detach().reshape(-1) for t in ts]).clone().numpy()  # noqa: E731
    with backpropviz.record(model, opt, tmp_path / "rec", steps=steps, every_step=True, chunk_rows=5) as rec:
        for step in range(steps):
            g = torch.Generator().manual_seed(step)
            x, y = torch.randn(16, 3, generator=g), torch.randint(0, 2, (16,), generator=g)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            seen_params.append(flat(model.parameters()))
            seen_grads.append(flat(p.grad for p in model.parameters()))
            opt.step()
            rec.step(loss)
    seen_params.append(flat(model.parameters()))
    r = backpropviz.load_recording(tmp_path / "rec")
    params, grads = r.every_step()
    assert params.shape == (steps + 1, r.n_params) and grads.shape == (steps, r.n_params)
    np.testing.assert_array_equal(params, np.stack(seen_params))
    np.testing.assert_array_equal(grads, np.stack(seen_grads))
    assert len([e for e in r.entries if e["kind"] == "steps"]) == 5  # chunks of 5 rows, not a file a step
    assert not r.is_run  # a user's loop: no History part
    with pytest.raises(BackpropvizError, match="built-in trainer"):
        r.to_history()
    # the estimates count the tier: 2 x P float32 per row in memory, per step on disk
    plain = backpropviz.record(model, opt, tmp_path / "other", steps=steps, chunk_rows=5).estimate
    tier = r.meta["estimate"]
    assert tier["memory_bytes"] - plain["memory_bytes"] == 5 * 2 * r.n_params * 4
    written = sum(f.stat().st_size for f in (tmp_path / "rec").rglob("*") if f.is_file())
    assert written <= tier["disk_bytes"] < plain["disk_bytes"] + 2 * steps * r.n_params * 4 + 5 * 500
    assert written > plain["disk_bytes"] * 0.6 + 2 * steps * r.n_params * 4


def test_killed_run_leaves_a_readable_recording_up_to_its_last_flush(cli, tmp_path):
    folder = tmp_path / "rec"
    args = ["--data", "or", "--lr", "0.1"]
    child = subprocess.Popen([sys.executable, "-m", "backpropviz", "run", *args, "--epochs", "200000",
                              "--recording", str(folder), "--out", str(tmp_path / "figs")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sigkill_once_flushed(child, folder, chunks=2, timeout=120)
    assert child.returncode == -signal.SIGKILL
    r = backpropviz.load_recording(folder)
    assert not r.complete and not r.is_run
    params, grads = r.every_step()
    n = len(grads)
    assert n >= 2048 and n % 1024 == 0 and len(params) == n and len(r.rows) == n  # whole chunks, 1,024 rows
    with pytest.raises(BackpropvizError, match="has not ended"):
        r.to_history()
    # the same command for n epochs (full batch: one step each) made the same first n steps
    assert cli("run", *args, "--epochs", n, "--out", tmp_path / "ref", "--save-history", tmp_path / "ref.npz").code == 0
    ref = npz(tmp_path / "ref.npz")
    assert same_bits(params, ref["params"][:n]) and same_bits(grads, ref["grads"])
    np.testing.assert_array_equal(r.loss.astype(np.float32), ref["loss"])
    # and the commands read it as a recording of its steps
    assert cli("plot", folder, "--out", tmp_path / "p").code == 0


def test_too_small_disk_budget_is_refused_with_the_largest_setting_that_fits(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 1))  # 241
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(BackpropvizError) as err:
        backpropviz.record(model, opt, tmp_path / "rec", steps=1000, every_step=True, disk_budget="500kB")
    message = str(err.value)
    assert "\n" not in message and "500 kB" in message and "every step" in message
    most = int(message.split("at most steps=")[1].split(" ")[0].replace(",", ""))
    assert 0 < most < 1000
    fits = backpropviz.record(model, opt, tmp_path / "rec", steps=most, every_step=True, disk_budget="500kB")
    assert fits.estimate["disk_bytes"] <= 500_000
    with pytest.raises(BackpropvizError):
        backpropviz.record(model, opt, tmp_path / "rec", steps=most + 1, every_step=True, disk_budget="500kB")
    assert "without every_step: snapshots=None fits" in message  # 1,000 steps of scalars do fit
    backpropviz.record(model, opt, tmp_path / "rec", steps=1000, disk_budget="500kB")
    assert not (tmp_path / "rec").exists()  # refused (and constructed) before anything was written
    with pytest.raises(BackpropvizError, match="every_step= takes True or False"):
        backpropviz.record(model, opt, tmp_path / "rec", every_step="yes")


def test_bad_recording_path_is_one_line_and_exit_2(cli, tmp_path):
    assert cli("run", "--epochs", "3", "--recording", tmp_path / "rec", "--out", tmp_path / "a").code == 0
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    one_line_error(cli("run", "--epochs", "3", "--recording", tmp_path / "rec", "--out", tmp_path / "b"),
                   "already holds a recording")
    (tmp_path / "file").write_text("mine")
    one_line_error(cli("run", "--epochs", "3", "--recording", tmp_path / "file", "--out", tmp_path / "b"),
                   "is a file")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    one_line_error(cli("run", "--epochs", "3", "--recording", tmp_path / "full", "--out", tmp_path / "b"),
                   "not empty")
    assert (tmp_path / "file").read_text() == "mine"
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert [p for p in after if p not in before] == [p.relative_to(tmp_path) for p in
                                                     (tmp_path / "file", tmp_path / "full", tmp_path / "full/notes.txt")]


def test_commands_read_the_recording_as_its_npz(cli, tmp_path):
    args = ["--data", "xor", "--model", "mlp:3", "--epochs", "30", "--lr", "0.5"]
    assert cli("run", *args, "--out", tmp_path / "run", "--save-history", tmp_path / "h.npz",
               "--recording", tmp_path / "rec").code == 0
    pages = {}
    for source in ("h.npz", "rec"):
        assert cli("html", tmp_path / source, "--out", tmp_path / f"{source}.html").code == 0
        pages[source] = page_data(tmp_path / f"{source}.html")
    assert pages["rec"] == pages["h.npz"]  # the full explorer page, not the recording's own page
    assert "surface" in json.dumps(pages["rec"])
    for command, extra in (("plot", []), ("animate", ["--frames", "3"]), ("landscape", ["--resolution", "9"])):
        figures = {}
        for source in ("h.npz", "rec"):
            result = cli(command, tmp_path / source, "--out", tmp_path / command / source, *extra)
            assert result.code == 0, result
            figures[source] = sorted(p.name for p in (tmp_path / command / source).iterdir())
        assert figures["rec"] == figures["h.npz"] and figures["rec"]
    texts = [cli("explain", tmp_path / source, "--step", "7", "--out", tmp_path / "explain" / source).out
             for source in ("h.npz", "rec")]
    said = [[line for line in text.splitlines() if not line.startswith("wrote ")] for text in texts]
    assert said[0] == said[1] and said[0][0].startswith("step 7")


def test_interrupted_run_keeps_its_history_in_the_recording(cli, tmp_path):
    folder = tmp_path / "rec"
    child = subprocess.Popen([sys.executable, "-m", "backpropviz", "run", "--epochs", "200000",
                              "--recording", str(folder), "--out", str(tmp_path / "figs")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None and not (folder / "index.jsonl").exists():
            time.sleep(0.02)
        time.sleep(0.5)  # some steps
        child.send_signal(signal.SIGTERM)
        err = child.communicate(timeout=60)[1]
    finally:
        child.kill()
    assert child.returncode == 143, err
    assert f"the recording {str(folder)!r} holds them (marked as interrupted)" in err
    r = backpropviz.load_recording(folder)
    assert r.is_run and r.status.startswith("interrupted at step")
    history = r.to_history()
    n = history.n_steps
    assert n > 0 and history.status == r.status
    assert cli("run", "--epochs", n, "--out", tmp_path / "ref", "--save-history", tmp_path / "ref.npz").code == 0
    ref = npz(tmp_path / "ref.npz")
    assert same_bits(history.params, ref["params"]) and same_bits(history.grads, ref["grads"])
    assert same_bits(history.loss, ref["loss"]) and same_bits(history.epoch, ref["epoch"])


@pytest.mark.parametrize("where", ["update", "params", "recording"])
def test_a_signal_inside_a_step_waits_until_the_step_is_recorded(where, monkeypatch, tmp_path):
    """Ctrl-C raised at three points inside step 5 (in the optimiser's update, while the
    parameters are stored, while the recording takes the loss): the step is finished first, so the
    history holds 6 whole steps, equal to a 6-epoch run's, and the recording holds that history."""
    from backpropviz import train as train_module
    from backpropviz.config import RunConfig
    from backpropviz.record.recorder import Recorder as Recording

    targets = {"update": (train_module.HookedOptimizer, "step"), "params": (train_module.Recorder, "record_params"),
               "recording": (Recording, "step")}
    cls, name = targets[where]
    original, calls = getattr(cls, name), []

    def interrupting(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            signal.raise_signal(signal.SIGINT)  # Python's handler runs before the next line
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, interrupting)
    config = RunConfig(epochs=50)
    with pytest.raises(KeyboardInterrupt) as caught:
        train_module.train(config, recording=tmp_path / "rec")
    monkeypatch.undo()
    history = caught.value.history
    assert history.n_steps == 6 and history.status == "interrupted at step 6 (Ctrl-C)"
    ref = train_module.train(RunConfig(epochs=6))
    assert same_bits(history.params, ref.params) and same_bits(history.grads, ref.grads)
    assert same_bits(history.loss, ref.loss)
    kept = backpropviz.load_recording(tmp_path / "rec").to_history()
    assert same_bits(kept.params, history.params) and same_bits(kept.loss, history.loss)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the loop's guard is gone
