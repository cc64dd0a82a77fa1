"""Bad input, class 3: writing before validating. A command that fails leaves no new file or
folder behind and replaces none of the files already there (every file is staged and put in
place when the command succeeds: history.Outputs); an output that is one of the command's
inputs is refused instead of overwriting the user's data.
"""

import os
from pathlib import Path

import pytest

from backpropviz.config import RunConfig
from backpropviz.history import History, Outputs, atomic_write
from backpropviz.train import train

from clihelpers import one_line_error


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def history_file(tmp_path):
    path = tmp_path / "h.npz"
    train(RunConfig(epochs=30)).save(path)
    return path


def test_a_command_failing_midway_leaves_the_out_folder_as_it_was(cli, tmp_path, history_file, monkeypatch):
    # landscape writes landscape.npz, then one figure per view: the second figure fails.
    import backpropviz.render.landscape as render

    out = tmp_path / "out"
    out.mkdir()
    (out / "landscape.npz").write_bytes(b"the user's earlier landscape")
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    real = render.landscape_figure
    calls = []

    def second_view_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError("out of memory while drawing")
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "landscape_figure", second_view_fails)
    r = cli("landscape", history_file, "--out", out, "--views", "contour,filled", "--no-curvature",
            "--resolution", "11")
    assert r.code == 1 and "internal error" in r.err and len(calls) == 2
    assert _snapshot(out) == before, "nothing replaced, nothing new (not even a temporary file)"


def test_a_failed_command_removes_the_folders_it_made(cli, tmp_path):
    # --boundary-epochs is checked against the run's length once it is known, after --out was made.
    out = tmp_path / "new" / "deeper"
    r = cli("run", "--epochs", "5", "--boundary-epochs", "0,50", "--out", out)
    one_line_error(r, "--boundary-epochs", "0..5")
    assert not (tmp_path / "new").exists()


def test_bad_input_found_late_replaces_nothing(cli, tmp_path, history_file):
    # --line-to names a run of another model: found only once the plane and its figures are done.
    other = tmp_path / "other.npz"
    train(RunConfig(data="xor", model="mlp:2", epochs=5)).save(other)
    out = tmp_path / "out"
    out.mkdir()
    (out / "landscape.npz").write_bytes(b"an earlier landscape")
    r = cli("landscape", history_file, "--line-to", other, "--out", out, "--views", "contour", "--no-curvature",
            "--resolution", "11")
    one_line_error(r, "same parameters")
    assert _snapshot(out) == {Path("landscape.npz"): b"an earlier landscape"}


def test_a_successful_command_puts_every_file_in_place(cli, tmp_path):
    out = tmp_path / "out"
    r = cli("run", "--epochs", "5", "--out", out, "--save-history", tmp_path / "h.npz",
            "--export-csv", tmp_path / "h.csv")
    assert r.code == 0, r
    assert {p.name for p in out.iterdir()} == {"overview.png", "loss_curve.png"}
    assert History.load(tmp_path / "h.npz").n_steps == 5
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_export_csv_onto_the_csv_it_reads_is_refused(cli, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b,label\n0,0,0\n0,1,1\n1,0,1\n1,1,1\n")
    before = data.read_bytes()
    for given in (data, tmp_path / "." / "data.csv"):
        r = cli("run", "--csv", data, "--target", "label", "--epochs", "3", "--export-csv", given,
                "--out", tmp_path / "out")
        one_line_error(r, "--export-csv", "reads")
        assert data.read_bytes() == before


def test_an_output_that_is_an_input_history_is_refused(cli, tmp_path):
    # A history saved as landscape.npz, with --out its own folder: landscape would overwrite it.
    path = tmp_path / "landscape.npz"
    train(RunConfig(epochs=10)).save(path)
    before = path.read_bytes()
    r = cli("landscape", path, "--out", tmp_path, "--views", "contour", "--no-curvature", "--resolution", "11")
    one_line_error(r, "refusing to write", str(path), "reads")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landscape.npz"]


def test_outputs_stage_until_commit_and_roll_back_otherwise(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    with Outputs() as outputs:
        atomic_write(target, lambda f: f.write(b"new"))
        assert not target.exists() and len(list((tmp_path / "sub").iterdir())) == 1  # the staged temporary
        outputs.commit()
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), Outputs():
        atomic_write(target, lambda f: f.write(b"newer"))
        atomic_write(tmp_path / "other" / "g.txt", lambda f: f.write(b"x"))
        raise RuntimeError("the command failed")
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["sub"] and os.listdir(tmp_path / "sub") == ["f.txt"]
    # now=True: a file to keep although the command fails (a diverged or interrupted run's steps).
    with pytest.raises(RuntimeError), Outputs():
        atomic_write(target, lambda f: f.write(b"kept"), now=True)
        raise RuntimeError
    assert target.read_bytes() == b"kept"

