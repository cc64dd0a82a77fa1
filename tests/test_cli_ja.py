"""`--lang ja` for the terminal: every command's summary lines and `note:` lines in Japanese.

Each test runs the same small command in English and in Japanese and compares them line by line:
the Japanese line matches the catalogue's Japanese template, keeps no English word of the
English line (option names and values, method names aside), and carries the same numbers.
"""

import re
from collections import Counter

import pytest

from backpropviz.i18n import CATALOGUE, t
from backpropviz.render.chain import text_width

TIMING = re.compile(r"\d+\.\d+ (?:s|秒)")  # seconds differ from run to run
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?%?")
OPTION = re.compile(r"--[a-z][a-z0-9-]*(?: [^\s,;:()]+)?")  # --lr 0.5, --schedule step: kept as typed
KEPT = re.compile(r"dL/d\(node\)|lambda_max|lambda_min|\|grad\||\(exact\)|method params|method pca|手法 params|手法 pca")


def numbers(line):
    return Counter(NUMBER.findall(TIMING.sub("", line)))


def english_words(line):
    """The English words of ``line`` that a translation must replace."""
    return set(re.findall(r"[A-Za-z]{3,}", KEPT.sub(" ", OPTION.sub(" ", line))))


def template(key):
    """A regex for the catalogue's Japanese text of ``key``, any field filled with anything."""
    parts = re.split(r"\{[^}]*\}", CATALOGUE[key]["ja"])
    return re.compile("(.+?)".join(re.escape(p) for p in parts), re.S)


def assert_translated(en_line, ja_line, key=None, names=()):
    """``names``: identifiers the user types (view names ...), kept in both languages."""
    assert numbers(en_line) == numbers(ja_line), (en_line, ja_line)
    words = english_words(en_line) - set(names)
    assert words, en_line  # the English line has words to translate (else this checks nothing)
    plain_ja = KEPT.sub(" ", OPTION.sub(" ", ja_line))
    left = [w for w in words if re.search(rf"(?<![A-Za-z]){w}(?![A-Za-z])", plain_ja)]
    assert not left, (left, ja_line)
    if key is not None:
        assert template(key).fullmatch(ja_line), (key, ja_line)


@pytest.fixture(autouse=True)
def text_only(monkeypatch):
    """Figures are not what these tests read: skip drawing them (and keep the suite fast); the
    commands still name the files they would write."""
    import matplotlib.pyplot as plt

    from backpropviz.cli import landscape
    from backpropviz.render import figures, graph, updates, views

    def skip_write(fig, path, *args, **kwargs):  # (fig, path, fmt, ...): whatever else the writer takes
        plt.close(fig)
        return path

    monkeypatch.setattr(views, "write_views", lambda history, out, chosen, fmt="png", **kw:
                        [out / f"{v}.{fmt}" for v in chosen])
    monkeypatch.setattr(figures, "write_run_figures", lambda history, out, fmt="png", **kw: [out / f"overview.{fmt}"])
    monkeypatch.setattr(graph, "write_graph_figure", lambda *a, **kw: None)
    monkeypatch.setattr(updates, "write_figure", lambda *a, **kw: None)
    monkeypatch.setattr(landscape, "_write_figure", skip_write)


def both(cli, *args):
    """The same command in English and in Japanese (same --out, so the 'wrote' lines agree)."""
    en = cli(*args, "--lang", "en")
    assert en.code == 0, en
    ja = cli(*args, "--lang", "ja")
    assert ja.code == 0, ja
    return en, ja


def split(result):
    """(summary lines, 'wrote' lines, note lines from stdout and stderr) of a result."""
    out = result.out.splitlines()
    wrote = [line for line in out if line.startswith("wrote ")]
    summary = [line for line in out if not line.startswith(("wrote ", "note: "))]
    notes = [line for line in out + result.err.splitlines() if line.startswith("note: ")]
    return summary, wrote, notes


def test_run_summary_and_notes_follow_the_language(cli, tmp_path):
    en, ja = both(cli, "run", "--data", "circle", "--n-samples", "40", "--model", "mlp:3", "--epochs", "5",
                  "--batch-size", "8", "--test-fraction", "0.25", "--l2", "0.01", "--step-size", "5",
                  "--gamma", "0.5", "--lr-min", "0.1", "--views", "loss", "--out", tmp_path)
    (en_sum, en_wrote, en_notes), (ja_sum, ja_wrote, ja_notes) = split(en), split(ja)
    assert ja_wrote == en_wrote and ja_wrote
    keys = ["cli_last_step", "cli_train_after", "cli_test_after"]
    assert len(en_sum) == len(ja_sum) == len(keys)
    for e, j, key in zip(en_sum, ja_sum, keys):
        assert_translated(e, j, key)
    # the batch (30 training rows in batches of 8: the last holds 6) and the L1/L2 penalty
    assert t("cli_batch_part", "ja", n=30, rows=6) + CATALOGUE["cli_penalty"]["ja"] in ja_sum[0]
    # the ignored-schedule note: three options, two schedules, "ignores them"
    assert len(en_notes) == len(ja_notes) == 1
    assert_translated(en_notes[0][6:], ja_notes[0][6:], "cli_ignores_many")
    options = "--step-size 5" + CATALOGUE["cli_and"]["ja"] + "--gamma 0.5"
    assert t("cli_applies_many", "ja", options=options, owner="step") in ja_notes[0]


def test_run_stall_note_and_skipped_views_follow_the_language(cli, tmp_path):
    en, ja = both(cli, "run", "--data", "xor", "--epochs", "3", "--lr", "1000", "--init", "30,30,30",
                  "--views", "loss", "--out", tmp_path)
    en_notes, ja_notes = split(en)[2], split(ja)[2]
    assert len(en_notes) == len(ja_notes) == 1
    assert_translated(en_notes[0][6:], ja_notes[0][6:])
    assert ja_notes[0].startswith("note: " + CATALOGUE["cli_stall_head"]["ja"].split("{")[0])
    assert CATALOGUE["cli_stall_start"]["ja"].split("{")[0] in ja_notes[0]
    # four features: the default views that draw the input plane are skipped, with a note
    en, ja = both(cli, "run", "--data", "iris", "--features", "all", "--model", "mlp:2", "--loss", "ce",
                  "--epochs", "1", "--out", tmp_path / "iris")
    en_notes, ja_notes = split(en)[2], split(ja)[2]
    assert len(en_notes) == len(ja_notes) == 1
    assert_translated(en_notes[0][6:], ja_notes[0][6:], "cli_skipped_many", names=("probability", "hidden"))
    assert ja_notes[0].startswith("note: probability と hidden の図は省略")


def test_demo_summary_follows_the_language(cli, tmp_path):
    en, ja = both(cli, "demo", "--out", tmp_path)
    en_sum, en_wrote, _ = split(en)
    ja_sum, ja_wrote, _ = split(ja)
    assert ja_wrote == en_wrote
    assert ja_sum[:-1] == en_sum[:-1] and ja_sum[0] == "X1 X2 RESULT"  # the truth table stays as it is
    assert_translated(en_sum[-1], ja_sum[-1], "cli_last_step")
    assert t("cli_batch_all", "ja", n=4) in ja_sum[-1]


def test_compare_table_follows_the_language(cli, tmp_path):
    en, ja = both(cli, "compare", "--vary", "lr=0.5,2", "--epochs", "20", "--resolution", "5", "--out", tmp_path)
    en_sum, ja_sum = split(en)[0], split(ja)[0]
    assert len(en_sum) == len(ja_sum) == 3
    assert ja_sum[0].split() == [CATALOGUE[k]["ja"] for k in ("cli_col_run", "cli_col_loss", "cli_col_acc",
                                                             "cli_col_steps")]
    assert_translated(en_sum[0], ja_sum[0])
    for e, j in zip(en_sum[1:], ja_sum[1:]):
        assert e.split() == j.split()
    # aligned by terminal columns: the right-aligned last column ends at the same column on every line
    assert len({text_width(line) for line in ja_sum}) == 1


def test_landscape_summary_and_notes_follow_the_language(cli, tmp_path):
    en, ja = both(cli, "landscape", "--epochs", "30", "--resolution", "9", "--range", "0.5", "--views", "filled",
                  "--out", tmp_path)
    (en_sum, _, en_notes), (ja_sum, _, ja_notes) = split(en), split(ja)
    keys = ["cli_landscape", "cli_fixed", "cli_path", "cli_curvature", "cli_curv_spectrum"]
    assert len(en_sum) == len(ja_sum) == len(keys)
    for e, j, key in zip(en_sum, ja_sum, keys):
        assert_translated(e, j, key)
    assert CATALOGUE["cli_verdict_misleading"]["ja"] in ja_sum[2]
    # --range 0.5 is far smaller than the path: the window note
    assert len(en_notes) == len(ja_notes) == 1
    assert_translated(en_notes[0][6:], ja_notes[0][6:], "cli_outside")
    tail = CATALOGUE["cli_outside"]["ja"].split("{start}")[1]
    assert ja_notes[0].endswith(CATALOGUE["cli_outside_start"]["ja"] + tail)  # the start is outside too


def test_landscape_pca_and_follow_path_lines_follow_the_language(cli, tmp_path):
    en, ja = both(cli, "landscape", "--data", "xor", "--model", "mlp:2", "--method", "pca", "--epochs", "20",
                  "--resolution", "7", "--views", "filled", "--no-curvature", "--out", tmp_path)
    for e, j in zip(split(en)[0], split(ja)[0]):
        assert_translated(e, j)
    assert any(template("cli_explained").fullmatch(line) for line in split(ja)[0])
    en, ja = both(cli, "landscape", "--follow-path", "--epochs", "20", "--resolution", "7", "--views", "filled",
                  "--no-curvature", "--out", tmp_path / "f")
    assert split(ja)[0][-1] == "経路: " + CATALOGUE["cli_verdict_construction"]["ja"]
    assert_translated(split(en)[0][-1], split(ja)[0][-1])


def test_basins_summary_follows_the_language(cli, tmp_path):
    en, ja = both(cli, "basins", "--epochs", "10", "--resolution", "4", "--out", tmp_path)
    en_sum, ja_sum = split(en)[0], split(ja)[0]
    assert len(en_sum) == len(ja_sum) == 2
    assert_translated(en_sum[0], ja_sum[0], "cli_basins")
    assert_translated(en_sum[1], ja_sum[1], "cli_basins_counts")


def test_explain_graph_summary_follows_the_language(cli, tmp_path):
    en, ja = both(cli, "explain", "--data", "xor", "--model", "mlp:2", "--epochs", "2", "--no-field",
                  "--arrow-steps", "1", "--out", tmp_path)
    en_sum, ja_sum = split(en)[0], split(ja)[0]
    assert len(en_sum) == len(ja_sum)
    assert_translated(en_sum[0], ja_sum[0], "cli_explain_step")
    assert_translated(en_sum[1], ja_sum[1])  # the node table's header
    assert ja_sum[1].split()[:3] == [CATALOGUE[k]["ja"] for k in ("cli_col_node", "cli_col_kind", "cli_col_value")]
    # the node rows are data, the same in both languages, but for the kind column (the catalogue's
    # word: 入力, パラメータ, 演算); the value column starts where its header does
    kinds = {CATALOGUE[f"kind_{k}"]["en"]: CATALOGUE[f"kind_{k}"]["ja"] for k in ("input", "target", "param", "op")}
    en_rows = [line.split() for line in en_sum[2:]]
    assert [line.split() for line in ja_sum[2:]] == [[r[0], kinds[r[1]], *r[2:]] for r in en_rows]
    start = text_width(ja_sum[1][:ja_sum[1].index(CATALOGUE["cli_col_value"]["ja"])])
    for line in ja_sum[2:]:
        at = next(i for i in range(len(line)) if text_width(line[:i]) == start)  # wide kind words
        assert line[at - 1] == " " and line[at] != " ", line


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_error_messages_stay_english(cli, tmp_path, lang):
    r = cli("run", "--lr", "-1", "--out", tmp_path, "--lang", lang)
    assert r.code == 2 and "--lr" in r.err
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", r.err)
