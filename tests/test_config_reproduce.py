"""run --config FILE.json | HISTORY.npz trains the same history bit for bit; plot redraws landscape
and convergence-map files."""

import json

import numpy as np
import pytest
from clihelpers import one_line_error

RUN = ("--data", "moons", "--model", "mlp:5,3", "--activation", "relu", "--optimizer", "adam", "--lr", "0.02",
       "--batch-size", "16", "--epochs", "12", "--test-fraction", "0.25", "--l2", "0.001", "--init", "he",
       "--seed", "7", "--schedule", "cosine", "--noise", "0.2", "--n-samples", "120")


def arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def assert_same_files(a, b):
    a, b = arrays(a), arrays(b)
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


@pytest.fixture
def saved(cli, tmp_path):
    r = cli("run", *RUN, "--views", "metrics", "--out", tmp_path / "o", "--save-history", tmp_path / "a.npz",
            "--save-config", tmp_path / "a.json")
    assert r.code == 0, r
    return tmp_path


@pytest.mark.parametrize("source", ["a.json", "a.npz"])
def test_run_config_reproduces_the_history_bit_for_bit(cli, saved, source):
    r = cli("run", "--config", saved / source, "--views", "metrics", "--out", saved / "o2",
            "--save-history", saved / "b.npz")
    assert r.code == 0, r
    assert_same_files(saved / "a.npz", saved / "b.npz")  # every array: params, grads, batches, metrics, ...


def test_saved_config_is_the_runs_json(saved):
    config = json.loads((saved / "a.json").read_text())
    stored = json.loads(str(arrays(saved / "a.npz")["config"]))
    assert config == stored
    assert config["init_scheme"] == "he" and config["batch_size"] == 16 and config["seed"] == 7


def test_engine_reproduces_from_the_stored_config():
    from backpropviz.config import RunConfig
    from backpropviz.train import train

    first = train(RunConfig(data="xor-blobs", model="mlp:4", batch_size=8, epochs=5, seed=1, optimizer="momentum",
                            lr=0.1, init=None))
    again = train(RunConfig.from_json(json.dumps(first.config)))
    for name in ("params", "grads", "loss", "epoch", "batches", "epoch_train_loss"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name


def test_partial_json_takes_the_defaults_of_the_rest(cli, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"data": "or", "lr": 0.1, "epochs": 40}))
    r1 = cli("run", "--config", tmp_path / "c.json", "--views", "loss", "--out", tmp_path / "a",
             "--save-history", tmp_path / "a.npz")
    r2 = cli("run", "--data", "or", "--lr", "0.1", "--epochs", "40", "--views", "loss", "--out", tmp_path / "b",
             "--save-history", tmp_path / "b.npz")
    assert r1.code == r2.code == 0, (r1, r2)
    assert_same_files(tmp_path / "a.npz", tmp_path / "b.npz")
    assert r1.out.splitlines()[:5] == r2.out.splitlines()[:5]  # the truth table


def test_multiclass_config_keeps_the_loss_chosen_for_it(cli, tmp_path):
    r = cli("run", "--data", "iris", "--model", "mlp:3", "--epochs", "5", "--views", "metrics", "--out", tmp_path,
            "--save-history", tmp_path / "a.npz")
    assert r.code == 0, r
    r = cli("run", "--config", tmp_path / "a.npz", "--views", "metrics", "--out", tmp_path / "b",
            "--save-history", tmp_path / "b.npz")
    assert r.code == 0 and "note:" not in r.err, r
    assert_same_files(tmp_path / "a.npz", tmp_path / "b.npz")


@pytest.mark.parametrize("text,fragments", [
    ('{"lr": "fast"}', ["--config", "--lr must be a number"]),
    ('{"learning_rate": 0.1}', ["unknown setting 'learning_rate'"]),
    ('{"init": "abc"}', ["wrong kind"]),
    ('{"betas": 5}', ["wrong kind"]),
    ('{"shuffle": "no"}', ["shuffle must be true or false"]),
    ('[1, 2]', ["must hold a JSON object", "list"]),
    ('{"lr": ', ["not valid JSON"]),
    ('{"data": "mnist"}', ["unknown data set"]),
])
def test_bad_config_files_are_one_line(cli, tmp_path, text, fragments):
    (tmp_path / "bad.json").write_text(text)
    one_line_error(cli("run", "--config", tmp_path / "bad.json", "--out", tmp_path / "o"), *fragments)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_config_with_other_run_options_is_refused(cli, saved):
    one_line_error(cli("run", "--config", saved / "a.json", "--lr", "0.1", "--out", saved / "o3"),
                   "no --config is given", "--lr 0.1")


def test_missing_config_and_foreign_npz(cli, tmp_path):
    one_line_error(cli("run", "--config", tmp_path / "none.json"), "does not exist")
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    one_line_error(cli("run", "--config", tmp_path / "x.npz"), "not a backpropviz history")


# -- plot redraws landscape and convergence-map files -----------------------------------------

def test_plot_redraws_a_landscape_file_as_the_landscape_command_drew_it(cli, tmp_path):
    r = cli("demo", "--save-history", tmp_path / "h.npz", "--out", tmp_path / "d")
    assert r.code == 0, r
    r = cli("landscape", tmp_path / "h.npz", "--method", "pca", "--resolution", "15", "--no-curvature",
            "--views", "contour,3d", "--out", tmp_path / "L")
    assert r.code == 0, r
    r = cli("plot", tmp_path / "L" / "landscape.npz", "--out", tmp_path / "P", "--views", "contour,3d")
    assert r.code == 0, r
    for view in ("contour", "3d"):
        assert (tmp_path / "P" / f"landscape_{view}.png").read_bytes() == \
            (tmp_path / "L" / f"landscape_{view}.png").read_bytes()
    r = cli("plot", tmp_path / "L" / "landscape.npz", "--out", tmp_path / "all", "--lang", "ja")
    assert r.code == 0, r
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == \
        sorted(f"landscape_{v}.png" for v in ("contour", "filled", "heatmap", "3d"))
    one_line_error(cli("plot", tmp_path / "L" / "landscape.npz", "--views", "probability", "--out", tmp_path / "x"),
                   "--views", "contour")
    one_line_error(cli("plot", tmp_path / "L" / "landscape.npz", "--export-csv", tmp_path / "x.csv"),
                   "--export-csv", "landscape")


def test_plot_redraws_a_convergence_map(cli, tmp_path):
    r = cli("basins", "--resolution", "6", "--epochs", "30", "--out", tmp_path / "B")
    assert r.code == 0, r
    r = cli("plot", tmp_path / "B" / "basins.npz", "--out", tmp_path / "P")
    assert r.code == 0, r
    assert (tmp_path / "P" / "basins.png").read_bytes() == (tmp_path / "B" / "basins.png").read_bytes()
    one_line_error(cli("plot", tmp_path / "B" / "basins.npz", "--views", "3d", "--out", tmp_path / "x"), "--views")
