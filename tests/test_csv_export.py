"""--export-csv: every column read back equals the history's arrays, gradients included."""

import csv

import numpy as np
import pytest

from backpropviz.history import History


def read_back(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def check_columns(history, path):
    header, rows = read_back(path)
    names = list(history.param_names)
    assert header == ["step", "epoch", "loss", *names, *(f"grad_{n}" for n in names)]
    T, P = history.n_steps, len(names)
    assert len(rows) == T + 1  # one row per step, and the parameters after the last step
    column = {name: [r[j] for r in rows] for j, name in enumerate(header)}
    assert [int(v) for v in column["step"]] == list(range(T + 1))
    assert np.array_equal(np.array([int(v) for v in column["epoch"][:T]]), history.epoch)
    assert int(column["epoch"][T]) == int(history.epoch[-1]) + 1
    dtype = history.params.dtype
    loss = np.array([float(v) for v in column["loss"][:T]], dtype=history.loss.dtype)
    assert np.array_equal(loss, history.loss) and column["loss"][T] == ""
    params = np.array([[float(v) for v in column[n]] for n in names], dtype=dtype).T
    assert np.array_equal(params, history.params)  # (T + 1, P): rows 0..T
    grads = np.array([[float(v) for v in column[f"grad_{n}"][:T]] for n in names], dtype=dtype).T
    assert grads.shape == (T, P) and np.array_equal(grads, history.grads)
    assert all(column[f"grad_{n}"][T] == "" for n in names)


@pytest.mark.parametrize("args", [
    (),  # the article's perceptron: w1, w2, b
    ("--data", "moons", "--model", "mlp:3,2", "--batch-size", "7", "--optimizer", "adam", "--lr", "0.05",
     "--n-samples", "30", "--epochs", "6", "--l1", "0.01"),  # names with commas (0.weight[1,0]), mini-batches
])
def test_run_export_csv_columns_equal_the_history(cli, tmp_path, args):
    args = args or ("--epochs", "40")
    r = cli("run", *args, "--views", "loss" if not args[0] == "--data" else "metrics", "--out", tmp_path / "o",
            "--save-history", tmp_path / "h.npz", "--export-csv", tmp_path / "h.csv")
    assert r.code == 0, r
    check_columns(History.load(tmp_path / "h.npz"), tmp_path / "h.csv")


def test_plot_export_csv_of_a_saved_history(cli, tmp_path):
    r = cli("run", "--data", "xor", "--model", "mlp:2", "--epochs", "15", "--views", "metrics", "--out", tmp_path,
            "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    r = cli("plot", tmp_path / "h.npz", "--views", "loss", "--out", tmp_path / "p", "--export-csv", tmp_path / "p.csv")
    assert r.code == 0, r
    check_columns(History.load(tmp_path / "h.npz"), tmp_path / "p.csv")


def test_export_of_extreme_values_reads_back_exactly(tmp_path):
    values = np.array([[0.0, -0.0, 1e-45], [3.4e38, -1.1754944e-38, 0.1]], dtype=np.float32)
    h = History(params=values, grads=np.array([[np.float32(1) / 3, -2.5e-30, 7.0]], dtype=np.float32),
                loss=np.array([0.6931472], dtype=np.float32), epoch=np.array([0]), param_names=["w1", "w2", "b"],
                X=np.zeros((1, 2), np.float32), y=np.zeros(1, np.float32), config={})
    h.to_csv(tmp_path / "x.csv")
    check_columns(h, tmp_path / "x.csv")
    _, rows = read_back(tmp_path / "x.csv")
    assert rows[0][4] == "-0.0"  # the sign of zero survives
