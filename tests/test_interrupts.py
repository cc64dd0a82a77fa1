"""Interruptions: Ctrl-C (SIGINT) and SIGTERM at any moment, sent to a real process.

Start-up, training and saving all end with exit 128 + signal and one line saying what was
kept; never a traceback, never a temporary file. A long ``run --save-history`` keeps the steps
done so far there, whole, marked as interrupted and loadable by every command.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backpropviz.history import History

ENTRY = [sys.executable, "-m", "backpropviz"]
LONG_RUN = ["run", "--data", "xor", "--model", "mlp:8", "--epochs", "200000"]


def _start(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "BACKPROPVIZ_DEBUG"}
    # A child of a non-interactive shell may inherit SIGINT ignored; a terminal's Ctrl-C is not.
    return subprocess.Popen([*ENTRY, *map(str, args)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_torch(p, timeout=120):
    """Block until the process has loaded torch (the command is running), then a moment more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if "libtorch" in Path(f"/proc/{p.pid}/maps").read_text():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the command never loaded torch")


def _interrupt_training(args, signum, folder):
    """Start ``args`` in ``folder``, signal it once it trains; (exit code, stdout, stderr).

    How long start-up takes on a loaded machine varies, so a signal that came before training
    began (the line says so) is tried again with a longer wait.
    """
    for wait in (3, 8, 20):
        p = _start(args, folder)
        _wait_for_torch(p)
        time.sleep(wait)
        rc, out, err = _stop(p, signum)
        if "during training" in err:
            return rc, out, err
    raise AssertionError(f"training never started: {err}")


def _stop(p, signum):
    p.send_signal(signum)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


def _one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("backpropviz: interrupted ("), err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    return lines[0]


def _no_temporaries(folder):
    assert not [p for p in Path(folder).rglob("*") if p.name.endswith(".tmp")]


needs_proc = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")


@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_during_start_up_is_one_line(tmp_path, signum, code, name):
    p = _start(["demo", "--out", tmp_path / "out"], tmp_path)
    time.sleep(0.4)  # the interpreter is up, the imports are under way
    rc, out, err = _stop(p, signum)
    line = _one_line(err)
    assert rc == code and f"({name})" in line and "nothing was written" in line
    assert not (tmp_path / "out").exists()


@needs_proc
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_training_interrupted_with_save_history_keeps_the_steps_done(tmp_path, signum, code):
    saved = tmp_path / "h.npz"
    saved.write_bytes(b"an older file of the same name")
    rc, out, err = _interrupt_training([*LONG_RUN, "--save-history", saved, "--out", tmp_path / "figs"],
                                       signum, tmp_path)
    line = _one_line(err)
    assert rc == code, (rc, err)
    assert "during training" in line and str(saved) in line and "interrupted" in line
    h = History.load(saved)  # replaced by a whole, valid history
    assert h.status.startswith("interrupted at step") and 0 < h.n_steps < 200_000
    assert f"after {h.n_steps} of " in line
    assert np.isfinite(h.params).all() and h.params.shape == (h.n_steps + 1, len(h.param_names))
    assert len(h.epoch_train_loss) <= len(h.epoch_param_rows)
    assert not (tmp_path / "figs").exists()
    _no_temporaries(tmp_path)


@needs_proc
def test_training_interrupted_without_save_history_writes_nothing(tmp_path):
    rc, out, err = _interrupt_training([*LONG_RUN, "--out", tmp_path / "figs"], signal.SIGTERM, tmp_path)
    line = _one_line(err)
    assert rc == 143 and "during training" in line and "nothing was written" in line
    assert sorted(os.listdir(tmp_path)) == []


@pytest.fixture(scope="module")
def interrupted_history(tmp_path_factory):
    """A history as an interrupted run saves it (the training loop stopped mid-epoch)."""
    from backpropviz.config import RunConfig
    from backpropviz.interrupts import Interrupted
    from backpropviz.train import train

    def stop_at(step):
        if step == 37:
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted) as info:
        train(RunConfig(data="moons", n_samples=20, model="mlp:3", epochs=50, batch_size=4, test_fraction=0.5,
                        seed=1), on_step=stop_at)
    path = tmp_path_factory.mktemp("interrupted") / "h.npz"
    info.value.history.save(path)
    return path


def test_an_interrupted_history_is_marked_and_consistent(interrupted_history):
    h = History.load(interrupted_history)
    assert h.status == "interrupted at step 37 (Ctrl-C)" and h.n_steps == 37
    # 10 training rows in batches of 4: 3 steps per epoch, so step 36 began epoch 12 and 13 epochs
    # started, each with its whole-set metrics measured at its start (none after the last step).
    assert len(h.epoch_train_loss) == len(h.epoch_train_acc) == 13 == len(h.epoch_test_loss)
    assert h.epoch_param_rows.tolist()[-2:] == [36, 37]


@pytest.mark.parametrize("command", [
    ["plot", "{h}", "--out", "{out}"],
    ["explain", "{h}", "--step", "-1", "--out", "{out}"],
    ["landscape", "{h}", "--method", "pca", "--resolution", "11", "--views", "contour", "--out", "{out}"],
    ["gradcheck", "{h}", "--step", "-1"],
])
def test_every_command_reads_an_interrupted_history(cli, tmp_path, interrupted_history, command):
    args = [a.format(h=interrupted_history, out=tmp_path / "out") for a in command]
    r = cli(*args)
    assert r.code == 0, r


def test_signals_wait_while_a_file_is_put_in_place(tmp_path):
    from backpropviz.interrupts import Interrupted, deferred, while_running

    while_running()
    try:
        done = []
        with pytest.raises(Interrupted):
            with deferred():
                signal.raise_signal(signal.SIGINT)
                done.append("the block ran to its end")
        assert done == ["the block ran to its end"]
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@needs_proc
def test_a_signal_at_any_moment_leaves_only_whole_files(tmp_path):
    # Spread over start-up, training, drawing and saving of a short run.
    for k, delay in enumerate((0.5, 1.5, 3.0, 5.0, 8.0)):
        folder = tmp_path / f"try{k}"
        folder.mkdir()
        p = _start(["run", "--data", "moons", "--model", "mlp:4", "--epochs", "400", "--save-history", "h.npz",
                    "--export-csv", "h.csv", "--out", "figs"], folder)
        time.sleep(delay)
        rc, out, err = _stop(p, signal.SIGINT)
        if rc == 0:  # it finished first: everything is there
            assert (folder / "h.npz").is_file() and (folder / "figs").is_dir()
        else:
            assert rc == 130, (rc, err)
            _one_line(err)
        _no_temporaries(folder)
        if (folder / "h.npz").exists():
            History.load(folder / "h.npz")


def test_a_sigterm_that_typer_answers_with_130_still_exits_143_naming_it(monkeypatch, capsys):
    """A signal while typer parses the options (outside the command) comes back as typer's bare
    exit code 130: the line and the code still name the signal that came."""
    import typer

    from backpropviz import interrupts
    from backpropviz.cli.app import main

    real = typer.main.get_command

    def parsing_interrupted(app):
        command = real(app)

        def interrupted_main(*args, **kwargs):
            try:
                interrupts._raise(signal.SIGTERM, None)  # the handler main installed, mid-parse
            except KeyboardInterrupt:
                return 130  # what typer answers a KeyboardInterrupt with, outside the command
        command.main = interrupted_main
        return command

    monkeypatch.setattr(typer.main, "get_command", parsing_interrupted)
    code = main(["demo"])
    err = capsys.readouterr().err
    assert code == 143 and "interrupted (SIGTERM)" in err and "nothing was written" in err
