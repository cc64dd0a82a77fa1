"""The CLI as a user meets it: the article's demo, runs, redraws, and every kind of bad input."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backpropviz.history import History

from clihelpers import one_line_error


def test_demo_prints_the_article_table_and_writes_figures(cli, tmp_path):
    r = cli("demo", "--out", tmp_path / "d", "--lang", "en", "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    assert r.out.splitlines()[:5] == ["X1 X2 RESULT", "0 & 0 = 0 (0.00)", "0 & 1 = 0 (0.04)",
                                      "1 & 0 = 0 (0.04)", "1 & 1 = 1 (0.94)"]
    assert (tmp_path / "d" / "overview.png").stat().st_size > 10_000
    assert (tmp_path / "d" / "loss_curve.png").stat().st_size > 5_000
    assert History.load(tmp_path / "h.npz").n_steps == 1000


def test_run_then_plot_redraws_from_the_saved_history(cli, tmp_path):
    h = tmp_path / "or.npz"
    r = cli("run", "--data", "or", "--epochs", "200", "--lr", "1", "--out", tmp_path / "run", "--format", "svg",
            "--lang", "ja", "--save-history", h, "--export-csv", tmp_path / "or.csv", "--surface-resolution", "21",
            "--boundary-epochs", "0,5,50,200")
    assert r.code == 0, r
    assert "0 | 1 = 1" in r.out and str(h) in r.out
    assert (tmp_path / "run" / "overview.svg").is_file()
    assert len((tmp_path / "or.csv").read_text().splitlines()) == 202
    r = cli("plot", h, "--out", tmp_path / "again", "--format", "pdf", "--lang", "en")
    assert r.code == 0, r
    assert (tmp_path / "again" / "overview.pdf").read_bytes()[:4] == b"%PDF"


def test_run_with_random_init_and_momentum(cli, tmp_path):
    r = cli("run", "--init", "random", "--seed", "0", "--momentum", "0.9", "--epochs", "100",
            "--out", tmp_path, "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    h = History.load(tmp_path / "h.npz")
    assert h.config["momentum"] == 0.9 and h.config["init"] is None and h.config["seed"] == 0
    assert not np.allclose(h.params[0], [-1, 1, 0])


@pytest.mark.parametrize("args, fragments", [
    (["run", "--data", "nope"], ["unknown data set 'nope'", "and", "xor"]),
    (["run", "--loss", "hinge"], ["unknown loss 'hinge'", "bce", "mse"]),
    (["run", "--optimizer", "lbfgs"], ["unknown optimizer 'lbfgs'", "sgd"]),
    (["run", "--lr", "0"], ["--lr", "> 0", "0"]),
    (["run", "--lr", "-0.1"], ["--lr", "-0.1"]),
    (["run", "--lr", "abc"], ["--lr", "abc"]),
    (["run", "--epochs", "0"], ["--epochs", ">= 1", "0"]),
    (["run", "--epochs", "1.5"], ["--epochs", "1.5"]),
    (["run", "--momentum", "1.5"], ["--momentum", "1.5"]),
    (["run", "--init", "1,2"], ["--init", "3 values", "got 2"]),
    (["run", "--init", "a,b,c"], ["--init", "'a,b,c'"]),
    (["run", "--init", "1,nan,0"], ["--init", "finite"]),
    (["run", "--format", "gif"], ["--format", "png", "gif"]),
    (["run", "--lang", "fr"], ["en", "ja", "fr"]),
    (["run", "--surface-resolution", "1"], ["--surface-resolution", "1"]),
    (["run", "--surface-range", "1,0,0,1"], ["--surface-range"]),
    (["run", "--boundary-epochs", "0,5000", "--epochs", "10"], ["--boundary-epochs", "5000"]),
    (["run", "--save-history", "h.txt"], ["--save-history", ".npz"]),
    (["run", "--bogus"], ["--bogus"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "fresh"
    r = cli(*args, *(["--out", out] if args[0] == "run" and "--out" not in args else []))
    one_line_error(r, *fragments)
    assert not out.exists() or not any(out.iterdir()), "nothing may be written on bad input"


def test_unwritable_out_is_refused_before_training(cli, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me")
    one_line_error(cli("run", "--out", blocker / "sub"), "--out", "not writable")
    one_line_error(cli("run", "--out", blocker), "--out", "is a file")
    assert blocker.read_text() == "keep me"


def test_missing_and_corrupt_history_files(cli, tmp_path):
    one_line_error(cli("plot", tmp_path / "none.npz", "--out", tmp_path / "o"), "none.npz", "does not exist")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file at all")
    one_line_error(cli("plot", bad, "--out", tmp_path / "o"), "bad.npz", "not a backpropviz history",
                   "--save-history")
    truncated = tmp_path / "trunc.npz"
    good = tmp_path / "good.npz"
    assert cli("run", "--epochs", "5", "--out", tmp_path / "o", "--save-history", good).code == 0
    truncated.write_bytes(good.read_bytes()[:300])
    one_line_error(cli("plot", truncated, "--out", tmp_path / "o2"), "trunc.npz")
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    one_line_error(cli("plot", foreign, "--out", tmp_path / "o3"), "missing", "params")
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())


def test_console_script_help_and_error_in_a_real_process(tmp_path):
    exe = Path(sys.executable).parent / "backpropviz"
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout and "plot" in r.stdout
    r = subprocess.run([exe, "run", "--lr", "-1", "--out", tmp_path], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_run_options_take_the_place_of_the_run_options_parameter():
    import inspect

    from backpropviz.cli.options import RUN_OPTIONS, RunOptions, takes_run_options

    def command(first: int = 1, run_options: RunOptions = None, last: int = 2):
        return first, run_options, last

    wrapped = takes_run_options(exclude=("eps",))(command)
    names = list(inspect.signature(wrapped).parameters)
    shared = [name for name, _, _ in RUN_OPTIONS if name != "eps"]
    assert names == ["first", *shared, "last"]
    defaults = {name: default for name, _, default in RUN_OPTIONS}
    typer_gives = {name: defaults[name] for name in shared} | {"first": 5, "last": 6, "lr": 0.1, "model": "mlp:2"}
    first, given, last = wrapped(**typer_gives)
    assert (first, last) == (5, 6)
    assert given.given == ["--model mlp:2", "--lr 0.1"]
    assert given.values["eps"] is None


def test_run_options_refuse_a_command_whose_own_option_clashes():
    from backpropviz.cli.options import RunOptions, takes_run_options

    def clashing(lr: float = 0.1, run_options: RunOptions = None):
        return lr

    with pytest.raises(TypeError, match="lr"):
        takes_run_options()(clashing)
    with pytest.raises(TypeError, match="run_options"):
        takes_run_options()(lambda lr=0.1: lr)
