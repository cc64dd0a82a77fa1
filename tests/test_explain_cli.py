"""`backpropviz explain` and `backpropviz gradcheck` as a user meets them."""

import re

import pytest

from backpropviz.analysis.chain_rule import chain_rule_table
from backpropviz.config import RunConfig
from backpropviz.i18n import t
from backpropviz.render.graph import fmt_number
from backpropviz.train import train

from clihelpers import one_line_error


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    history = train(RunConfig(epochs=40))
    path = tmp_path_factory.mktemp("h") / "and.npz"
    history.save(path)
    return history, path


def test_explain_history_prints_the_table_and_writes_everything(cli, saved, tmp_path):
    history, path = saved
    md = tmp_path / "article.md"
    r = cli("explain", path, "--step", "12", "--sample", "3", "--out", tmp_path / "x", "--lang", "en",
            "--markdown", md, "--dot", "--arrow-steps", "4")
    assert r.code == 0, r
    table = chain_rule_table(history, 12)
    lines = r.out.splitlines()
    assert lines[0] == "Chain rule of step 12 (loss BCE, lr 0.5)"
    marked = [ln for ln in lines if ln.startswith(">")]
    assert len(marked) == 1 and marked[0].split()[1] == "3"
    sum_line = next(ln for ln in lines if ln.strip().startswith("sum = gradient"))
    assert sum_line.split()[-3:] == [fmt_number(v) for v in history.grads[12].astype(float)]
    change = next(ln for ln in lines if ln.strip().startswith("recorded change"))
    assert change.split()[-3:] == [fmt_number(v) for v in table.recorded_change]
    for name in ("graph.png", "graph.dot", "chain_rule.png", "boundary_push.png", "updates.png",
                 "updates_path.png"):
        assert (tmp_path / "x" / name).stat().st_size > 1000, name
        assert f"wrote {tmp_path / 'x' / name}" in r.out
    assert (tmp_path / "x" / "graph.dot").read_text().startswith("digraph")
    text = md.read_text()
    assert text.startswith("### Backpropagation by hand: step 12") and "$$" in text


def test_explain_trains_from_run_options_in_japanese(cli, tmp_path):
    r = cli("explain", "--epochs", "5", "--lr", "0.3", "--loss", "mse", "--step", "-1", "--out", tmp_path,
            "--lang", "ja", "--format", "svg", "--no-field")
    assert r.code == 0, r
    assert r.out.splitlines()[0] == t("chain_title", "ja", step=4, loss="平均二乗誤差", lr=0.3)  # the loss named in Japanese
    assert (tmp_path / "graph.svg").read_text().lstrip().startswith("<?xml")


def test_explain_mlp_prints_the_graph_numbers(cli, tmp_path):
    r = cli("explain", "--data", "xor", "--model", "mlp:3", "--epochs", "10", "--step", "4", "--sample", "0",
            "--out", tmp_path, "--lang", "en")
    assert r.code == 0, r
    names = [ln.split()[0] for ln in r.out.splitlines()[2:16]]
    assert names == ["x", "W1", "matmul", "b1", "add", "tanh", "W2", "matmul", "b2", "add", "sigmoid", "y",
                     "bce", "mean"]
    assert not (tmp_path / "chain_rule.png").exists() and (tmp_path / "graph.png").is_file()


@pytest.mark.parametrize("args, fragments", [
    (["--step", "40"], ["--step must be in 0..39", "got 40"]),
    (["--step", "-41"], ["--step must be in 0..39", "got -41"]),
    (["--sample", "4"], ["--sample must be in 0..3", "got 4"]),
    (["--sample", "-1"], ["--sample must be in 0..3", "got -1"]),
    (["--collapse", "maybe"], ["--collapse", "auto, yes or no", "maybe"]),
    (["--format", "gif"], ["--format", "png", "gif"]),
    (["--lang", "fr"], ["unknown language 'fr'"]),
    (["--markdown", "notes.txt"], ["--markdown must end in .md"]),
])
def test_explain_bad_input_is_one_line(cli, saved, tmp_path, args, fragments):
    _, path = saved
    r = cli("explain", path, "--out", tmp_path, *args)
    one_line_error(r, *fragments)


def test_explain_missing_history_file(cli, tmp_path):
    one_line_error(cli("explain", tmp_path / "nope.npz", "--out", tmp_path), "does not exist")


def test_markdown_for_non_perceptron_writes_the_layer_equations(cli, tmp_path):
    r = cli("explain", "--data", "xor", "--model", "mlp:2", "--epochs", "3", "--out", tmp_path,
            "--markdown", tmp_path / "a.md", "--lang", "en")
    assert r.code == 0, r
    text = (tmp_path / "a.md").read_text()
    assert "\\frac{\\partial L}{\\partial W_{1}}" in text and "#### The update" in text


def test_gradcheck_command(cli, saved, tmp_path):
    history, path = saved
    r = cli("gradcheck", path, "--step", "7", "--out", tmp_path, "--lang", "en")
    assert r.code == 0, r
    rows = {ln.split()[0]: ln.split() for ln in r.out.splitlines() if ln.split() and ln.split()[0] in
            ("w1", "w2", "b")}
    for j, name in enumerate(("w1", "w2", "b")):
        backprop, finite, recorded, rel = (float(v) for v in rows[name][1:5])
        assert recorded == pytest.approx(float(history.grads[7][j]), rel=1e-6)
        assert backprop == pytest.approx(finite, rel=1e-6)
        assert rel < 1e-6
    assert re.search(r"max relative error = \d\.\d\de-\d\d", r.out)
    assert (tmp_path / "gradcheck.png").stat().st_size > 1000


def test_gradcheck_tolerance_and_errors(cli, saved):
    _, path = saved
    r = cli("gradcheck", path, "--step", "3", "--tol", "1e-30")
    assert r.code == 1 and "FAILED" in r.out
    one_line_error(cli("gradcheck", path, "--step", "99"), "--step must be in 0..39", "got 99")
    one_line_error(cli("gradcheck", path, "--eps", "0"), "--eps must be > 0")


def test_explain_takes_every_run_option_of_run(cli, tmp_path):
    # --activation and --batch-size were not explain options before they were shared with `run`
    r = cli("explain", "--data", "xor", "--model", "mlp:3", "--activation", "relu", "--batch-size", "2",
            "--epochs", "3", "--step", "1", "--out", tmp_path, "--lang", "en")
    assert r.code == 0, r
    first = r.out.splitlines()[0].split()
    assert first[:3] == ["step", "1:", "loss"] and first[-3:] == ["on", "2", "samples"]
    names = [ln.split()[0] for ln in r.out.splitlines()[2:]]
    assert "relu" in names and "tanh" not in names
    reference = train(RunConfig(data="xor", model="mlp:3", activation="relu", batch_size=2, epochs=3, init=None))
    assert float(first[3]) == pytest.approx(float(reference.loss[1]), rel=1e-5)


def test_explain_and_gradcheck_refuse_run_options_with_a_history(cli, saved, tmp_path):
    _, path = saved
    for command in ("explain", "gradcheck"):
        r = cli(command, path, "--out", tmp_path, "--activation", "relu", "--batch-size", "2")
        one_line_error(r, "run options apply only when no HISTORY.npz", "--activation relu", "--batch-size 2")


def test_gradcheck_trains_a_network_from_run_options(cli):
    r = cli("gradcheck", "--data", "xor", "--model", "mlp:2", "--activation", "sigmoid", "--epochs", "3",
            "--step", "2", "--eps", "1e-6", "--lang", "en")
    assert r.code == 0, r
    assert "0.weight[0,0]" in r.out and re.search(r"max relative error = \d\.\d\de-\d\d", r.out)
