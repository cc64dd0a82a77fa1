"""Bad input, class 1: numbers the option parser takes but the run cannot (inf, nan, 1e400, seeds
out of range, windows beyond float32, budgets beyond the machine, runs too long to record).

Each is refused up front with one line that names the option and what is accepted, exit 2,
and no file or folder left behind.
"""

import time

import pytest

from backpropviz.config import MAX_SEED, RunConfig
from backpropviz.errors import BackpropvizError

from clihelpers import one_line_error


def _refused(cli, tmp_path, args, *fragments):
    out = tmp_path / "out"
    r = cli(*args, "--out", out)
    one_line_error(r, *fragments)
    assert not out.exists(), "a refused command must not leave its --out folder behind"
    return r


# Every float option: inf, nan and 1e400 (which the parser reads as inf) pass typer's FLOAT type.
@pytest.mark.parametrize("command, option, value", [
    ("run", "--lr", "1e400"), ("run", "--eps", "inf"), ("run", "--momentum", "nan"),
    ("run", "--noise", "inf"), ("run", "--weight-decay", "-inf"), ("run", "--gamma", "nan"),
    ("run", "--beta1", "nan"), ("run", "--l2", "1e400"), ("run", "--surface-span", "inf"),
    ("run", "--test-fraction", "nan"), ("gradcheck", "--eps", "inf"), ("gradcheck", "--tol", "nan"),
    ("basins", "--threshold", "inf"), ("basins", "--solved-accuracy", "nan"),
])
def test_every_float_option_must_be_finite(cli, tmp_path, command, option, value):
    args = [command, option, value] + (["--epochs", "5"] if command != "gradcheck" else [])
    if command == "gradcheck":
        r = cli(*args)
        one_line_error(r, option, "finite")
    else:
        _refused(cli, tmp_path, args, option, "finite")


@pytest.mark.parametrize("value", ["-1", str(MAX_SEED + 1), "99999999999999999999"])
@pytest.mark.parametrize("command, option", [("run", "--seed"), ("landscape", "--direction-seed"),
                                             ("basins", "--direction-seed")])
def test_seeds_outside_what_every_generator_takes_are_refused(cli, tmp_path, command, option, value):
    # numpy's default_rng refuses negatives, torch overflows above 2**64, scikit-learn's
    # random_state takes at most 2**32 - 1: the message names that largest seed.
    _refused(cli, tmp_path, [command, option, value, "--epochs", "5"], option, str(MAX_SEED), value)


def test_the_largest_seed_is_a_seed_like_any_other(cli, tmp_path):
    r = cli("run", "--data", "moons", "--seed", str(MAX_SEED), "--epochs", "2", "--out", tmp_path,
            "--views", "metrics")
    assert r.code == 0, r


def test_seed_in_a_config_is_checked_too():
    with pytest.raises(BackpropvizError, match=str(MAX_SEED)):
        RunConfig(seed=-3).validate()
    with pytest.raises(BackpropvizError, match="--seed"):
        RunConfig(seed=True).validate()


@pytest.mark.parametrize("args, option, accepted", [
    (["run", "--surface-span", "1e308"], "--surface-span", "1e+38"),
    (["run", "--surface-range", "-1e308,1e308,-1,1"], "--surface-range", "1e+38"),
    (["run", "--surface-range", "0,inf,0,1"], "--surface-range", "finite"),
    (["landscape", "--range", "1e308"], "--range", "1e+38"),
    (["landscape", "--range", "-1e308,1e308,-1,1"], "--range", "1e+38"),
    (["landscape", "--range", "nan"], "--range", "finite"),
    (["basins", "--range", "1e308"], "--range", "1e+38"),
])
def test_windows_beyond_float32_are_refused(cli, tmp_path, args, option, accepted):
    # 1e308 used to overflow numpy's linspace (a width of 2e308) deep inside the figure code.
    _refused(cli, tmp_path, [*args, "--epochs", "5"], option, accepted)


def test_a_window_just_inside_the_limit_is_drawn(cli, tmp_path):
    r = cli("run", "--surface-span", "1e38", "--epochs", "5", "--out", tmp_path)
    assert r.code == 0, r


@pytest.mark.parametrize("value", ["1e400", "1e400GiB", "infGiB", "1e30"])
def test_a_memory_budget_beyond_the_machine_is_refused_naming_its_memory(cli, tmp_path, value):
    from backpropviz.analysis.evaluator import format_bytes, physical_memory

    for command in ("landscape", "basins"):
        _refused(cli, tmp_path, [command, "--memory-budget", value, "--epochs", "5"],
                 "--memory-budget", format_bytes(physical_memory()), repr(value))


@pytest.mark.parametrize("init", ["1e39,0,0", "0,-4e38,0"])
def test_init_beyond_float32_names_float32_not_the_learning_rate(cli, tmp_path, init):
    # It used to start at inf and be reported as "diverged ... try a smaller --lr".
    r = _refused(cli, tmp_path, ["run", "--init", init], "--init", "float32", "3.403e+38")
    assert "--lr" not in r.err
    with pytest.raises(BackpropvizError, match="float32"):
        RunConfig(init=(1e39, 0.0, 0.0)).validate()


def test_a_loss_infinite_before_any_update_does_not_blame_the_lr(cli, tmp_path):
    r = _refused(cli, tmp_path, ["run", "--l2", "1e308", "--epochs", "3"], "before any update", "--l1/--l2")
    assert "try a smaller --lr" not in r.err


@pytest.mark.parametrize("command", ["run", "landscape", "explain", "gradcheck", "compare"])
def test_a_run_too_long_to_record_is_refused_at_once_naming_the_epochs_that_fit(cli, tmp_path, command):
    # --epochs 1e12 used to hang building a per-epoch list of learning rates (and 1e20 overflowed).
    extra = ["--vary", "lr=0.1,0.2"] if command == "compare" else []
    started = time.perf_counter()
    args = [command, "--epochs", "1000000000000", *extra]
    r = cli(*args) if command == "gradcheck" else cli(*args, "--out", tmp_path / "out")
    one_line_error(r, "1000000000000 steps", "at most --epochs 89478484 fits")
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "out").exists()


def test_the_largest_epochs_named_does_fit():
    from backpropviz.train import MAX_HISTORY_BYTES, check_history_size

    # The perceptron on 4 rows, full batch: 3 parameters, one step per epoch.
    check_history_size(89478484, 3, None)
    with pytest.raises(BackpropvizError, match="at most --epochs 89478484"):
        check_history_size(89478485, 3, None)
    assert (2 * 89478484 * 3 + 3) * 4 <= MAX_HISTORY_BYTES


@pytest.mark.parametrize("init", ["1e30,1e30,0", "3e38,3e38,0"])
def test_huge_starting_weights_still_get_an_article_figure(cli, tmp_path, init):
    # w = 1e30 +- 8 is one float64 number, and 3e38 lies beyond the window limit: the overview's
    # window used to collapse and fail with a message about an option nobody gave (--x-range).
    r = cli("run", "--init", init, "--epochs", "5", "--out", tmp_path)
    assert r.code == 0, r.err
    assert "--x-range" not in r.err
    assert (tmp_path / "overview.png").is_file()
