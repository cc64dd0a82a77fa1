"""What a newcomer audit found: the spirals default, the stall note, the two printed losses,
foreign history files, settings that would be ignored, and the compare table's columns."""

import re
from types import SimpleNamespace

import numpy as np
import pytest

from backpropviz.data import make_dataset
from backpropviz.history import History

from clihelpers import one_line_error


# -- 1. spirals: two arms that stay apart at the default noise -------------------------------
def _distances_to_arms(X):
    """Distance of each point to the ideal arm of class 0 and of class 1 (a dense polyline)."""
    t = np.linspace(0.0, 1.0, 4001)
    arms = [np.column_stack([t * np.cos(3 * np.pi * t + np.pi * c), t * np.sin(3 * np.pi * t + np.pi * c)])
            for c in (0, 1)]
    return np.stack([np.linalg.norm(X[:, None, :] - arm[None], axis=2).min(axis=1) for arm in arms], axis=1)


@pytest.mark.parametrize("seed", [0, 2025])
def test_default_spirals_keep_each_point_near_its_own_arm(seed):
    # Along a ray the arms alternate 1/3 apart; the jitter must stay well inside that gap.
    ds = make_dataset("spirals", n=400, seed=seed)
    d = _distances_to_arms(ds.X.astype(np.float64))
    rows, own = np.arange(len(ds.y)), ds.y.astype(int)
    assert np.percentile(d[rows, own], 95) < (1 / 3) / 4
    assert np.mean(d[rows, own] < d[rows, 1 - own]) >= 0.97
    # the old default (0.1) is a mixed cloud by the same measure
    blurred = make_dataset("spirals", n=400, noise=0.1, seed=seed)
    d = _distances_to_arms(blurred.X.astype(np.float64))
    assert np.percentile(d[rows, blurred.y.astype(int)], 95) > (1 / 3) / 4
    # still deterministic per seed
    np.testing.assert_array_equal(ds.X, make_dataset("spirals", n=400, seed=seed).X)


# -- 2. the note when the gradient vanished ----------------------------------------------------
def _note(err: str) -> str:
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, err
    return notes[0]


@pytest.mark.parametrize("optimizer, lr", [("sgd", "1e30"), ("adam", "1e6")])
def test_saturation_by_a_huge_lr_blames_the_lr_not_the_model(cli, tmp_path, optimizer, lr):
    r = cli("run", "--data", "moons", "--n-samples", "60", "--model", "mlp:8", "--optimizer", optimizer,
            "--lr", lr, "--epochs", "10", "--views", "loss", "--out", tmp_path, "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    note = _note(r.err)
    assert f"--lr {float(lr):g} is probably too large" in note
    suggested = float(re.search(r"e\.g\. --lr (\S+?)\.?$", note).group(1))
    assert suggested < float(lr)
    assert "XOR" not in note and "mlp:4" not in note
    # the claim behind it: the misclassified rows' outputs sit at 0 or 1
    h = History.load(tmp_path / "h.npz")
    from backpropviz.train import predict

    p = predict(h)
    wrong = (p >= 0.5) != (h.y == 1)
    assert wrong.any() and np.all((p[wrong] < 1e-6) | (p[wrong] > 1 - 1e-6))


def test_perceptron_on_xor_gets_the_hidden_layer_hint(cli, tmp_path):
    r = cli("run", "--data", "xor", "--views", "loss", "--out", tmp_path)  # the article's 1000 epochs
    assert r.code == 0, r
    note = _note(r.err)
    assert "no line separates" in note and "--model mlp:4" in note and "too large" not in note


def test_linear_separability_against_known_cases():
    from backpropviz.data import linearly_separable

    gates = {g: linearly_separable(make_dataset(g).X, make_dataset(g).y) for g in ("and", "or", "xor", "xnor")}
    assert gates == {"and": True, "or": True, "xor": False, "xnor": False}
    far = make_dataset("blobs", noise=0.2, seed=1)  # centres 4.2 apart, 0.2 spread
    assert linearly_separable(far.X, far.y)
    # Three classes: a row midway between two rows of class 0 cannot score higher than class 0
    # there unless it does so at one of them (the score difference is linear).
    X = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [0.0, 5.0]])
    assert linearly_separable(X, np.array([0, 1, 1, 2]))
    assert not linearly_separable(X, np.array([0, 0, 1, 2]))


# -- 3. the two losses, each labelled with what it measured -----------------------------------
def test_the_two_printed_losses_say_what_they_measured(cli, tmp_path):
    l1, l2 = 0.01, 0.02
    r = cli("run", "--data", "moons", "--n-samples", "40", "--model", "mlp:4", "--batch-size", "1",
            "--l1", str(l1), "--l2", str(l2), "--epochs", "3", "--seed", "0", "--views", "loss",
            "--out", tmp_path, "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    h = History.load(tmp_path / "h.npz")
    last = next(s for s in r.out.splitlines() if s.startswith("last step's loss "))
    whole = next(s for s in r.out.splitlines() if s.startswith("whole training set after training: loss "))
    assert "a batch of 1 of the 40 training rows" in last and "L1/L2 penalty" in last
    assert f"step {h.n_steps - 1}, the last of {h.n_steps}" in last
    assert "(data loss)" in whole and "(40 rows)" in whole
    printed_last, printed_whole = float(last.split()[3]), float(whole.split()[6])
    assert printed_last == pytest.approx(float(h.loss[-1]), abs=1e-6)

    # Independent forward passes (numpy, float64) of the 2-4-1 tanh network.
    def unpack(flat):
        W0, b0 = flat[:8].reshape(4, 2), flat[8:12]
        W1, b1 = flat[12:16].reshape(1, 4), flat[16:17]
        return W0, b0, W1, b1

    def bce(flat, X, y):
        W0, b0, W1, b1 = unpack(flat.astype(np.float64))
        p = 1 / (1 + np.exp(-(np.tanh(X @ W0.T + b0) @ W1.T + b1).ravel()))
        return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))

    assert h.param_names[0] == "0.weight[0,0]" and h.param_names[12] == "2.weight[0,0]"
    X, y = h.X.astype(np.float64), h.y.astype(np.float64)
    # the last step: its one row, at the parameters before its update, plus the penalty
    row = h.batches[-1][h.batches[-1] >= 0]
    before = h.params[-2].astype(np.float64)
    W0, _, W1, _ = unpack(before)
    penalty = l1 * (np.abs(W0).sum() + np.abs(W1).sum()) + l2 * ((W0 ** 2).sum() + (W1 ** 2).sum())
    assert printed_last == pytest.approx(bce(before, X[row], y[row]) + penalty, abs=2e-5)
    # the whole set: every row, at the final parameters, no penalty
    assert printed_whole == pytest.approx(bce(h.params[-1], X, y), abs=2e-5)
    assert abs(printed_whole - printed_last) > 1e-3  # they do differ: hence the labels


# -- 4. files that are not histories, folders that are not CSV files --------------------------
@pytest.mark.parametrize("name, content", [
    ("garbage.npz", bytes(range(256)) * 2),
    ("table.csv", b"a,b,t\n1,2,0\n3,4,1\n"),
    ("empty.npz", b""),
])
def test_plot_refuses_a_foreign_file_without_numpys_pickle_advice(cli, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    r = cli("plot", path, "--out", tmp_path / "o")
    one_line_error(r, name, "is not a backpropviz history", "--save-history")
    assert "pickle" not in r.err and "unsafe" not in r.err


def test_plot_of_an_npy_file_or_a_folder_is_bad_input(cli, tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    one_line_error(cli("plot", tmp_path / "a.npy", "--out", tmp_path / "o"), "a.npy", ".npy")
    one_line_error(cli("plot", tmp_path, "--out", tmp_path / "o"), "is a folder")


def test_csv_option_given_a_folder(cli, tmp_path):
    one_line_error(cli("run", "--csv", tmp_path, "--target", "t", "--out", tmp_path / "o"),
                   "--csv", "is a folder")


# -- 5. settings that would be ignored -------------------------------------------------------
@pytest.mark.parametrize("data", ["moons", "spirals", "and"])
def test_features_on_data_with_two_fixed_inputs_is_refused(cli, tmp_path, data):
    r = cli("run", "--data", data, "--features", "0,1", "--out", tmp_path / "o")
    one_line_error(r, "--features", "iris", "csv", repr(data))
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_step_schedule_longer_than_the_run_gets_a_note(cli, tmp_path):
    r = cli("compare", "--vary", "schedule=constant,step", "--epochs", "5", "--resolution", "5",
            "--out", tmp_path / "c")
    assert r.code == 0, r
    note = _note(r.err)
    assert "schedule=step" in note and "--step-size 100" in note and "5 epochs" in note
    # the note is right: the two runs are the same
    lines = r.out.splitlines()
    assert lines[1].split()[1:] == lines[2].split()[1:]
    r = cli("compare", "--vary", "schedule=constant,step", "--epochs", "5", "--step-size", "2",
            "--resolution", "5", "--out", tmp_path / "d")
    assert r.code == 0 and "note:" not in r.err, r
    r = cli("run", "--schedule", "step", "--epochs", "5", "--views", "loss", "--out", tmp_path / "e")
    assert r.code == 0 and "--step-size 100" in _note(r.err)


@pytest.mark.parametrize("features, skipped", [("0", "probability and hidden views"),
                                               ("0,1,2", "probability and hidden views")])
def test_default_views_that_need_two_features_are_named_when_skipped(cli, tmp_path, features, skipped):
    r = cli("run", "--data", "iris", "--features", features, "--model", "mlp:3", "--loss", "ce",
            "--epochs", "2", "--out", tmp_path)
    assert r.code == 0, r
    note = _note(r.err)
    assert f"skipped the {skipped}" in note and f"has {len(features.split(','))}" in note
    written = {p.name for p in tmp_path.iterdir()}
    assert "probability.png" not in written and "network.png" in written
    # asked-for views only: nothing skipped, nothing said
    r = cli("run", "--data", "iris", "--features", features, "--model", "mlp:3", "--loss", "ce",
            "--epochs", "2", "--views", "metrics", "--out", tmp_path / "m")
    assert r.code == 0 and "note:" not in r.err, r


# -- 6. the compare table ----------------------------------------------------------------------
def _fake(loss, acc, steps):
    return SimpleNamespace(epoch_train_loss=np.array([loss]), epoch_train_acc=np.array([acc]), n_steps=steps)


def test_compare_table_columns_line_up_with_one_format_each():
    from backpropviz.cli.compare import results_table

    values = [("lr=0.5", 0.000743068, 1.0, 50), ("lr=1e+30 (diverged)", 81.0, 0.19, 12345),
              ("optimizer=adam, lr=0.001", float("nan"), 0.5, 7)]
    lines = results_table([v[0] for v in values], [_fake(*v[1:]) for v in values])
    assert len({len(line) for line in lines}) == 1, lines
    header = lines[0]
    ends = [header.index(h) + len(h) for h in ("train loss", "accuracy", "steps")]
    for line, (label, loss, acc, steps) in zip(lines[1:], values):
        assert line.startswith(label)
        cells = [line[:end].split()[-1] for end in ends]  # the text that ends where the header does
        assert all(line[end - 1] != " " for end in ends), line
        assert cells[0] == ("nan" if np.isnan(loss) else f"{loss:.6f}")
        assert re.fullmatch(r"-?\d+\.\d{6}|nan", cells[0])
        assert cells[1] == f"{acc * 100:.2f}%" and cells[2] == str(steps)


def test_schedule_options_for_another_schedule_get_a_note(cli, tmp_path):
    # --step-size/--gamma belong to the step schedule, --lr-min to cosine: with the constant
    # schedule the run is the same as without them, and the note says so.
    r = cli("run", "--data", "xor", "--model", "mlp:2", "--epochs", "4", "--step-size", "2",
            "--gamma", "0.5", "--lr-min", "0.01", "--views", "loss", "--save-history", tmp_path / "a.npz",
            "--out", tmp_path / "a")
    assert r.code == 0, r
    note = _note(r.err)
    for part in ("--step-size 2", "--gamma 0.5", "only to --schedule step", "--lr-min 0.01",
                 "only to --schedule cosine", "--schedule constant"):
        assert part in note, note
    r = cli("run", "--data", "xor", "--model", "mlp:2", "--epochs", "4", "--views", "loss",
            "--save-history", tmp_path / "b.npz", "--out", tmp_path / "b")
    assert r.code == 0 and "note:" not in r.err, r
    a, b = History.load(tmp_path / "a.npz"), History.load(tmp_path / "b.npz")
    assert np.array_equal(a.lr, b.lr) and np.array_equal(a.params, b.params)
    # With the step schedule, --step-size is used (no note) and the lr really drops at epoch 2.
    r = cli("run", "--data", "xor", "--model", "mlp:2", "--epochs", "4", "--schedule", "step",
            "--step-size", "2", "--gamma", "0.5", "--views", "loss", "--save-history", tmp_path / "c.npz",
            "--out", tmp_path / "c")
    assert r.code == 0 and "note:" not in r.err, r
    c = History.load(tmp_path / "c.npz")
    assert c.lr[c.epoch == 2][0] == 0.5 * c.lr[c.epoch == 0][0]
    # compare varying the schedule hands each option to its own schedule's runs: no note.
    r = cli("compare", "--data", "xor", "--model", "mlp:2", "--epochs", "4", "--vary",
            "schedule=constant,step", "--step-size", "2", "--resolution", "5", "--out", tmp_path / "d")
    assert r.code == 0 and "note:" not in r.err, r


def test_rows_pinned_at_0_or_1_are_named_even_while_the_rest_still_trains(cli, tmp_path):
    # --init 100,100,0 on XOR: row (1,1) starts at z = 200, probability exactly 1.0 in float32,
    # and stays wrong, while row (0,0) keeps a gradient (so the 'vanished' note does not apply).
    import torch
    import torch.nn.functional as F

    r = cli("run", "--data", "xor", "--init", "100,100,0", "--views", "loss",
            "--save-history", tmp_path / "h.npz", "--out", tmp_path / "o")
    assert r.code == 0, r
    note = _note(r.err)
    assert "1 of 4 training rows" in note and "from the start" in note and "vanished" not in note
    h = History.load(tmp_path / "h.npz")
    assert np.linalg.norm(h.grads[-1]) > 1e-6  # training still moves
    # Independently: at the final parameters the wrong row's own BCE gradient is exactly zero.
    w = torch.tensor(h.params[-1], requires_grad=True)
    X, y = torch.from_numpy(h.X), torch.from_numpy(h.y).float()
    p = torch.sigmoid(X @ w[:2] + w[2])
    wrong = ((p >= 0.5).float() != y).nonzero().reshape(-1)
    assert wrong.tolist() == [3]
    (g,) = torch.autograd.grad(F.binary_cross_entropy(p[3:4], y[3:4]), w)
    assert torch.count_nonzero(g) == 0
    # A run whose wrong rows are not pinned gets no such note.
    r = cli("run", "--data", "xor", "--views", "loss", "--epochs", "50", "--out", tmp_path / "p")
    assert r.code == 0 and "exactly 0 or 1" not in r.err, r
