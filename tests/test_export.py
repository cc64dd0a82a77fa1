"""backpropviz.export and ``backpropviz export``: the command line and the plain-PyTorch script.

The script runs in a separate ``python -I`` process (from a temporary folder) in which importing
backpropviz fails, and prints the final parameters; they must equal ``train(config)``'s last row
bit for bit. The command line runs through the real CLI and must record ``train(config)``'s history.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shlex
import subprocess
import sys

import numpy as np
import pytest

from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError, TrainingDiverged
from backpropviz.export import command_line, parse_script_output, pytorch_script, settings_without_option
from backpropviz.history import History
from backpropviz.train import train
from clihelpers import one_line_error

# Short runs over every part the script writes: models, losses, penalties, optimisers, schedules,
# initialisations, full batch, shuffled and ordered mini-batches with a short last batch.
CASES = {
    "article_perceptron": dict(epochs=30),
    "moons_mlp_8_8_minibatch_adam": dict(data="moons", n_samples=80, model="mlp:8,8", activation="relu",
                                         optimizer="adam", lr=0.05, epochs=3, batch_size=16, test_fraction=0.25,
                                         seed=0),
    "iris_softmax_step_schedule": dict(data="iris", loss="ce", lr=0.3, schedule="step", step_size=2, gamma=0.5,
                                       epochs=6),
    "regression_adam_minibatch": dict(data="reg-gauss", n_samples=60, model="mlp:4", loss="mse", optimizer="adam",
                                      lr=0.02, epochs=4, batch_size=20, seed=1),
    "xor_l1_l2_xavier": dict(data="xor", model="mlp:4", l1=0.01, l2=0.001, epochs=20, init_scheme="xavier"),
    "momentum_sgd_short_last_batch": dict(data="circle", n_samples=60, model="mlp:3", optimizer="momentum",
                                          momentum=0.8, lr=0.1, epochs=3, batch_size=7, seed=5,
                                          init_scheme="normal:0.5"),
    "rmsprop_cosine_no_shuffle": dict(data="blobs", n_samples=60, model="mlp:5", activation="leaky_relu",
                                      optimizer="rmsprop", lr=0.01, epochs=4, batch_size=25, schedule="cosine",
                                      lr_min=0.001, shuffle=False, seed=2),
    "wine_mse_softmax_nesterov_he": dict(data="wine", model="mlp:4", loss="mse", optimizer="nesterov", lr=0.5,
                                         epochs=4, init_scheme="he", l2=0.01),
    "nand_adagrad_given_start": dict(data="nand", optimizer="adagrad", init=(0.5, -0.25, 0.1), lr=0.3, epochs=10),
    "lr_changed_while_training_step_schedule": dict(data="moons", n_samples=40, model="mlp:3", optimizer="adam",
                                                    lr=0.05, epochs=4, batch_size=12, schedule="step", step_size=1,
                                                    gamma=0.5, lr_changes=((5, 0.2), (9, 0.01)), seed=3),
    "lr_changed_while_training_constant": dict(data="xor", model="mlp:2", lr=0.5, epochs=12, lr_changes=((0, 1.5), (7, 0.1))),
    "drawn_points_cosine": dict(data="points", points=((0.0, 0.0, 0), (1.0, 0.5, 1), (0.2, 0.9, 1), (-0.5, 0.1, 0),
                                                        (0.7, -0.3, 0)), model="mlp:3", schedule="cosine", lr=0.8,
                                epochs=8),
    "cosine_cut_short_with_schedule_epochs": dict(data="moons", n_samples=40, model="mlp:3", optimizer="sgd", lr=0.5,
                                                  epochs=3, schedule_epochs=10, schedule="cosine", lr_min=0.05,
                                                  batch_size=15, seed=6),
    "adamw_stochastic": dict(data="or", optimizer="adamw", lr=0.1, weight_decay=0.05, betas=(0.8, 0.99), epochs=3,
                             batch_size=1, seed=0),
}

# Run the script as its own program, where `import backpropviz` fails.
NO_BACKPROPVIZ = """
import runpy, sys
class NoBackpropviz:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "backpropviz":
            raise ImportError("the exported script must not import backpropviz")
sys.meta_path.insert(0, NoBackpropviz())
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def run_script(text: str, folder) -> subprocess.CompletedProcess:
    path = folder / "train_plain.py"
    path.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-I", "-c", NO_BACKPROPVIZ, str(path)], cwd=folder, capture_output=True,
                          text=True, timeout=300)


def printed_params(stdout: str) -> np.ndarray:
    """The printed parameters as one flat float32 row, in named_parameters() order."""
    values = parse_script_output(stdout)
    return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in values.values()]).astype(np.float32)


def imported_modules(text: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("case", CASES)
def test_script_prints_the_final_parameters_of_train_bit_for_bit(case, tmp_path):
    config = RunConfig(**CASES[case])
    history = train(config)
    text = pytorch_script(config)
    assert imported_modules(text) <= {"json", "math", "sys", "numpy", "torch"}
    done = run_script(text, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"# after {history.n_steps} steps" in done.stdout
    np.testing.assert_array_equal(printed_params(done.stdout), history.params[-1])
    assert printed_params(done.stdout).dtype == history.params.dtype


def test_script_stopped_after_some_steps_prints_that_steps_parameters(tmp_path):
    config = RunConfig(**CASES["moons_mlp_8_8_minibatch_adam"])  # 60 training rows: 4 steps an epoch
    history = train(config)
    done = run_script(pytorch_script(config, steps=6), tmp_path)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(printed_params(done.stdout), history.params[6])
    assert not np.array_equal(history.params[6], history.params[7])


@pytest.mark.parametrize("case", ["article_perceptron", "moons_mlp_8_8_minibatch_adam", "iris_softmax_step_schedule",
                                  "regression_adam_minibatch", "nand_adagrad_given_start", "adamw_stochastic",
                                  "rmsprop_cosine_no_shuffle", "xor_l1_l2_xavier",
                                  "lr_changed_while_training_step_schedule", "lr_changed_while_training_constant",
                                  "drawn_points_cosine", "cosine_cut_short_with_schedule_epochs"])
def test_command_line_records_the_history_of_train(case, cli, tmp_path):
    config = RunConfig(**CASES[case])
    settings = tmp_path / "run.json"
    line = command_line(config, config_file=str(settings))
    args = shlex.split(line, comments=True)
    assert args[:2] == ["backpropviz", "run"]
    if settings_without_option(config):  # the line runs the settings saved as that file
        assert args[2:] == ["--config", str(settings)]
        settings.write_text(config.to_json())
    else:
        assert "--config" not in args
        assert ("--lr-changes" in args) == bool(config.lr_changes)
    r = cli(*args[1:], "--views", "loss", "--out", tmp_path / "o", "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r.err
    saved, expected = History.load(tmp_path / "h.npz"), train(config)
    assert saved.config == expected.config
    for name in ("params", "grads", "loss", "epoch"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(expected, name))


def test_command_line_writes_only_what_differs_from_the_defaults():
    assert command_line(RunConfig()) == "backpropviz run"
    assert command_line(RunConfig(init=None)) == "backpropviz run --init random"
    assert command_line(RunConfig(init=(-1.5, 2.0, 0.1))) == "backpropviz run --init -1.5,2.0,0.1"
    # A float is written as the shortest text that reads back to the same float.
    lr = 0.1 + 0.2
    assert float(shlex.split(command_line(RunConfig(lr=lr)))[-1]) == lr
    assert command_line(RunConfig(data="csv", csv="my data.csv", target="label", features=("a", "b"))) == \
        "backpropviz run --data csv --features a,b --csv 'my data.csv' --target label"


@dataclasses.dataclass(frozen=True)
class WithAnotherSetting(RunConfig):
    """A RunConfig with a setting that has no run option (as a field added later would be)."""

    warmup_steps: int = 0


def test_a_setting_without_an_option_falls_back_to_a_config_file_and_says_which():
    config = WithAnotherSetting(data="or", warmup_steps=10)
    assert settings_without_option(config) == ["warmup_steps"]
    line = command_line(config, config_file="or.json")
    assert line.startswith("backpropviz run --config or.json  # ") and "warmup_steps" in line
    assert command_line(WithAnotherSetting(data="or")) == "backpropviz run --data or"
    with pytest.raises(BackpropvizError, match="warmup_steps"):  # the script does not guess either
        pytorch_script(config)
    assert "features" in command_line(RunConfig(data="iris", features=("a,b", "c")))
    # The playground's own setting without an option: drawn points. A learning rate changed during the
    # run has one (--lr-changes).
    assert settings_without_option(RunConfig(data="points", points=((0, 0, 0), (1, 1, 1)))) == ["points"]
    assert settings_without_option(RunConfig(data="or", lr_changes=((3, 0.1),))) == []


def test_command_line_of_lr_changes_run_as_a_program_records_the_history_of_train(tmp_path):
    # Through the shell's words and a separate process, as a user would paste the line.
    config = RunConfig(**CASES["lr_changed_while_training_step_schedule"])
    line = command_line(config)
    assert line.endswith(" --lr-changes 5:0.2,9:0.01") and "--config" not in line
    args = shlex.split(line)[1:] + ["--views", "loss", "--out", str(tmp_path / "o"), "--save-history",
                                     str(tmp_path / "h.npz")]
    done = subprocess.run([sys.executable, "-m", "backpropviz", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    saved, expected = History.load(tmp_path / "h.npz"), train(config)
    assert saved.config["lr_changes"] == [[5, 0.2], [9, 0.01]]
    for name in ("params", "grads", "loss", "epoch", "lr"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(expected, name))
    # The changes did change the run: without them the same line trains another one.
    assert not np.array_equal(expected.params[-1], train(dataclasses.replace(config, lr_changes=())).params[-1])


def test_lr_changes_option_reads_back_the_changes_a_config_holds(cli, tmp_path):
    # Numbers that need all their digits, a change at step 0, one past the run's end (never applied).
    config = RunConfig(data="or", lr=0.3, epochs=6, lr_changes=((0, 0.1 + 0.2), (2, 1 / 3), (50, 2.5e-7)))
    args = shlex.split(command_line(config))[1:]
    assert args[args.index("--lr-changes") + 1] == "0:0.30000000000000004,2:0.3333333333333333,50:2.5e-07"
    r = cli(*args, "--views", "loss", "--out", tmp_path / "o", "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r.err
    saved = History.load(tmp_path / "h.npz")
    assert RunConfig.from_dict(saved.config).lr_changes == config.lr_changes
    np.testing.assert_array_equal(saved.params, train(config).params)


@pytest.mark.parametrize("value, message", [
    ("5:0.1,3:0.2", "--lr-changes: the steps must increase; got step 3 after step 5"),
    ("4:0.1,4:0.2", "the steps must increase; got step 4 after step 4"),
    ("3:0", "the lr at step 3 must be a number > 0"),
    ("3:-0.5", "the lr at step 3 must be a number > 0"),
    ("3:nan", "got nan"),
    ("3:inf", "got inf"),
    ("3:1e39", "float32's largest"),
    ("-1:0.1", "a step must be a whole number >= 0; got -1"),
    ("1.5:0.1", "--lr-changes must be STEP:LR pairs"),
    ("3", "got '3'"),
    ("3:0.1,", "got ''"),
    ("three:0.1", "got 'three:0.1'"),
])
def test_bad_lr_changes_are_one_line_and_write_nothing(cli, tmp_path, value, message):
    one_line_error(cli("run", "--lr-changes", value, "--out", tmp_path / "o", "--save-history", tmp_path / "h.npz"),
                   message)
    assert list(tmp_path.iterdir()) == []


def test_lr_changes_below_lr_min_are_refused_as_in_a_config(cli, tmp_path):
    args = ["--schedule", "cosine", "--lr", "0.5", "--lr-min", "0.2", "--lr-changes", "5:0.1", "--out", tmp_path / "o"]
    one_line_error(cli("run", *args), "--lr-changes: the lr at step 5 must be at least --lr-min 0.2; got 0.1")
    assert not (tmp_path / "o").exists()


def test_export_command_prints_the_line_and_writes_the_script(cli, tmp_path):
    args = ["--data", "or", "--lr", "0.1", "--epochs", "7", "--seed", "4"]
    r = cli("export", *args, "--script", tmp_path / "or.py")
    assert r.code == 0, r.err
    config = RunConfig(data="or", lr=0.1, epochs=7, seed=4)
    assert r.out.splitlines() == [command_line(config), f"wrote {tmp_path / 'or.py'}"]
    done = run_script((tmp_path / "or.py").read_text(encoding="utf-8"), tmp_path)
    np.testing.assert_array_equal(printed_params(done.stdout), train(config).params[-1])


def test_export_of_a_history_that_stopped_early_stops_where_it_stopped(cli, tmp_path):
    config = RunConfig(data="reg-plane", loss="mse", lr=50.0, epochs=200)
    with pytest.raises(TrainingDiverged) as caught:
        train(config)
    partial = caught.value.history
    partial.save(tmp_path / "diverged.npz")
    r = cli("export", tmp_path / "diverged.npz", "--script", tmp_path / "d.py")
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == command_line(RunConfig.from_dict(partial.config))  # with --task regression
    done = run_script((tmp_path / "d.py").read_text(encoding="utf-8"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"# after {partial.n_steps} steps" in done.stdout
    np.testing.assert_array_equal(printed_params(done.stdout), partial.params[-1])


def test_export_bad_input_is_one_line_and_writes_nothing(cli, tmp_path):
    one_line_error(cli("export", "--script", tmp_path / "a.txt"), "--script must end in .py")
    one_line_error(cli("export", "--epochs", "2", "--steps", "9", "--script", tmp_path / "a.py"),
                   "--steps must be a whole number from 0 to 2")
    one_line_error(cli("export", "--steps", "3"), "give --script FILE.py with it")
    one_line_error(cli("export", tmp_path / "missing.npz"), "missing.npz")
    (tmp_path / "notes.txt").write_text("x")
    one_line_error(cli("export", tmp_path / "notes.txt"), "history .npz or a settings .json")
    one_line_error(cli("export", tmp_path / "notes.txt", "--data", "or"), "run options apply only")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_config_json_source_gives_the_same_line(cli, tmp_path):
    config = RunConfig(**CASES["rmsprop_cosine_no_shuffle"])
    (tmp_path / "c.json").write_text(json.dumps(config.to_dict()))
    r = cli("export", tmp_path / "c.json")
    assert r.code == 0, r.err
    assert r.out.strip() == command_line(config)


def test_run_script_writes_the_script_of_the_run_it_trains(cli, tmp_path):
    r = cli("run", "--data", "xor", "--model", "mlp:4", "--epochs", "15", "--views", "loss", "--out", tmp_path / "o",
            "--save-history", tmp_path / "h.npz", "--script", tmp_path / "xor.py")
    assert r.code == 0, r.err
    assert f"wrote {tmp_path / 'xor.py'}" in r.out
    done = run_script((tmp_path / "xor.py").read_text(encoding="utf-8"), tmp_path)
    np.testing.assert_array_equal(printed_params(done.stdout), History.load(tmp_path / "h.npz").params[-1])
    one_line_error(cli("run", "--epochs", "2", "--out", tmp_path / "p", "--script", tmp_path / "s.ipynb"),
                   "--script must end in .py")
    assert not (tmp_path / "p").exists()
