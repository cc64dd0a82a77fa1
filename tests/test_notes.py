"""Options a run ignores get a note: line (en/ja); multi-class data without --loss train with ce."""

import numpy as np
import pytest
from clihelpers import one_line_error

from backpropviz.history import History


def notes(result):
    return [line for line in result.err.splitlines() if line.startswith("note: ")]


def run_saved(cli, tmp_path, name, *args):
    path = tmp_path / f"{name}.npz"
    r = cli("run", *args, "--epochs", "20", "--views", "metrics", "--out", tmp_path / name, "--save-history", path)
    assert r.code == 0, r
    return r, History.load(path)


def same_run(a, b):
    return np.array_equal(a.params, b.params) and np.array_equal(a.grads, b.grads) \
        and np.array_equal(a.loss, b.loss)


def test_noise_and_n_samples_for_a_gate_are_noted_and_change_nothing(cli, tmp_path):
    r, h = run_saved(cli, tmp_path, "noted", "--data", "or", "--noise", "0.3", "--n-samples", "50")
    _, plain = run_saved(cli, tmp_path, "plain", "--data", "or")
    assert same_run(h, plain)
    (note,) = notes(r)
    assert "--n-samples 50 and --noise 0.3 apply only to the toy sets" in note and "'or'" in note
    assert not notes(cli("run", "--data", "moons", "--noise", "0.3", "--n-samples", "50", "--model", "mlp:2",
                         "--epochs", "2", "--views", "metrics", "--out", tmp_path / "toy"))


def test_noise_for_a_table_is_noted_once(cli, tmp_path):
    r = cli("run", "--data", "wine", "--noise", "0.5", "--epochs", "2", "--views", "metrics", "--out", tmp_path)
    assert r.code == 0, r
    assert [n for n in notes(r) if "--noise 0.5 applies only to the toy sets" in n and "'wine'" in n]


def test_activation_for_the_perceptron_is_noted_and_changes_nothing(cli, tmp_path):
    r, h = run_saved(cli, tmp_path, "relu", "--activation", "relu")
    _, plain = run_saved(cli, tmp_path, "plain")
    assert same_run(h, plain)
    assert any("--activation relu" in n and "perceptron has none" in n for n in notes(r))
    r = cli("run", "--data", "xor", "--model", "mlp:2", "--activation", "relu", "--epochs", "2",
            "--views", "metrics", "--out", tmp_path / "mlp")
    assert r.code == 0 and not notes(r), r


def test_batch_size_above_the_rows_is_noted_and_is_the_full_batch(cli, tmp_path):
    r, h = run_saved(cli, tmp_path, "big", "--data", "xor", "--model", "mlp:3", "--batch-size", "5")
    _, full = run_saved(cli, tmp_path, "full", "--data", "xor", "--model", "mlp:3")
    assert same_run(h, full) and h.batches is None
    (note,) = notes(r)
    assert "--batch-size 5 is above the 4 training rows" in note
    r = cli("run", "--data", "xor", "--model", "mlp:3", "--batch-size", "4", "--epochs", "2",
            "--views", "metrics", "--out", tmp_path / "equal")
    assert r.code == 0 and not notes(r), r  # exactly the rows: nothing ignored


def test_batch_size_note_counts_the_training_rows_after_the_split(cli, tmp_path):
    # 200 moons, a quarter held out: 150 training rows, so 160 is the full batch and 140 is not
    args = ("--data", "moons", "--model", "mlp:2", "--test-fraction", "0.25", "--epochs", "1", "--views", "metrics")
    r = cli("run", *args, "--batch-size", "160", "--out", tmp_path / "a")
    assert any("above the 150 training rows" in n for n in notes(r)), r
    assert not notes(cli("run", *args, "--batch-size", "140", "--out", tmp_path / "b"))


def test_multiclass_data_without_loss_trains_with_cross_entropy(cli, tmp_path):
    r, h = run_saved(cli, tmp_path, "iris", "--data", "iris", "--model", "mlp:3")
    assert h.config["loss"] == "ce"
    (note,) = notes(r)
    assert "3 classes" in note and "--loss ce" in note
    _, explicit = run_saved(cli, tmp_path, "ce", "--data", "iris", "--model", "mlp:3", "--loss", "ce")
    assert same_run(h, explicit)


def test_explicit_bce_on_multiclass_data_is_still_refused(cli, tmp_path):
    one_line_error(cli("run", "--data", "iris", "--loss", "bce", "--out", tmp_path), "--loss bce needs two classes")


def test_two_class_data_without_loss_keep_bce_and_get_no_note(cli, tmp_path):
    r, h = run_saved(cli, tmp_path, "bc", "--data", "breast-cancer")
    assert h.config["loss"] == "bce" and not notes(r)


@pytest.mark.parametrize("args,fragment", [
    (("--data", "and", "--noise", "0.2"), "サンプルは固定なので無視される"),
    (("--activation", "relu"), "パーセプトロンには隠れ層がないので無視される"),
    (("--data", "iris"), "ソフトマックス交差エントロピー"),
    (("--batch-size", "9"), "フルバッチ"),
])
def test_notes_in_japanese(cli, tmp_path, args, fragment):
    r = cli("run", *args, "--epochs", "2", "--views", "metrics", "--lang", "ja", "--out", tmp_path)
    assert r.code == 0, r
    assert any(fragment in n for n in notes(r)), r.err


def test_compare_notes_the_loss_choice_for_multiclass_data(cli, tmp_path):
    r = cli("compare", "--data", "iris", "--model", "mlp:3", "--vary", "lr=0.1,0.5", "--epochs", "5",
            "--out", tmp_path)
    assert r.code == 0, r
    assert any("--loss ce" in n for n in notes(r))
