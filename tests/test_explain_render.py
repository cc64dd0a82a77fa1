"""The explain figures: the artists carry the traced numbers, in both languages, no missing glyphs."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from backpropviz.analysis.chain_rule import chain_rule_table  # noqa: E402
from backpropviz.analysis.gradcheck import gradcheck_step  # noqa: E402
from backpropviz.analysis.graph_trace import trace_history_step, trace_step  # noqa: E402
from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.render.base import new_figure  # noqa: E402
from backpropviz.render.chain import (  # noqa: E402
    ChainRuleDisplay, GradCheckDisplay, chain_markdown, chain_text, gradcheck_text)
from backpropviz.render.fonts import use_language  # noqa: E402
from backpropviz.render.graph import (  # noqa: E402
    ComputationGraphDisplay, fmt_number, layered_layout, write_graph_figure)
from backpropviz.render.updates import (  # noqa: E402
    BoundaryPushDisplay, UpdateArrowsDisplay, nice_scale, write_figure)
from backpropviz.train import train  # noqa: E402

LANGS = ["en", "ja"]


@pytest.fixture(scope="module")
def history():
    return train(RunConfig(epochs=60))


@pytest.fixture(autouse=True)
def strict_warnings():
    """Missing glyphs warn from matplotlib but are attributed to the caller: make them errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def drawn(fig):
    fig.canvas.draw()  # fonts are resolved at draw time: a missing glyph would raise here
    return fig


def all_text(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


@pytest.mark.parametrize("lang", LANGS)
def test_graph_display_perceptron(history, lang, tmp_path):
    trace = trace_history_step(history, 4)
    path = tmp_path / f"graph_{lang}.png"
    d = write_graph_figure(trace, path, sample=3, lang=lang)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert len(d.boxes_) == 9 and len(d.forward_arrows_) == 8 and len(d.backward_arrows_) == 7
    text = all_text(d.figure_)
    sig = trace.node("sigmoid")
    assert fmt_number(sig.value[3, 0]) in text and fmt_number(sig.grad[3, 0]) in text
    _, share = trace.numbers(trace.node("b"), 3)
    assert fmt_number(share[0]) in text
    assert "AddmmBackward0" in text
    # backward arrows are red and dashed, forward ones black and solid
    fwd, bwd = d.forward_arrows_[0].arrow_patch, d.backward_arrows_[0].arrow_patch
    assert fwd.get_linestyle() == "solid" and bwd.get_linestyle() in ("--", "dashed")
    assert matplotlib.colors.to_hex(bwd.get_edgecolor()) != matplotlib.colors.to_hex(fwd.get_edgecolor())


def test_layout_places_parameters_above_and_targets_below(history):
    trace = trace_history_step(history, 0)
    pos = layered_layout(trace)
    by = {n.name: pos[n.id] for n in trace.nodes}
    assert by["w"][1] > 0 and by["b"][1] > 0 and by["y"][1] < 0
    assert by["x"][1] == by["matmul"][1] == by["mean"][1] == 0
    xs = [by[k][0] for k in ("x", "matmul", "add", "sigmoid", "bce", "mean")]
    assert xs == sorted(xs) and len(set(xs)) == 6
    assert by["w"][0] == by["x"][0] and by["b"][0] == by["matmul"][0]


@pytest.mark.parametrize("lang", LANGS)
def test_graph_display_mlp_batch_and_collapsed(lang):
    torch.manual_seed(0)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    small = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    with use_language(lang):
        fig = new_figure((12, 5))
        d = ComputationGraphDisplay.from_trace(trace_step(small, F.binary_cross_entropy, X, y), lang=lang,
                                               ax=fig.add_subplot())
        drawn(fig)
    assert len(d.boxes_) == 14 and len(d.forward_arrows_) == 13
    big = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
    with use_language(lang):
        fig = new_figure((12, 4))
        d = ComputationGraphDisplay.from_trace(trace_step(big, F.binary_cross_entropy, X, y), sample=0,
                                               lang=lang, ax=fig.add_subplot())
        drawn(fig)
    assert d.trace.collapsed and len(d.boxes_) == 8
    assert "Linear 0" in all_text(fig)


@pytest.mark.parametrize("lang", LANGS)
def test_chain_rule_figure_and_texts(history, lang):
    table = chain_rule_table(history, 7)
    with use_language(lang):
        fig = new_figure(ChainRuleDisplay(table).figsize())
        d = ChainRuleDisplay.from_table(table, sample=2, lang=lang, ax=fig.add_subplot())
        drawn(fig)
    cells = d.table_.get_celld()
    n_cols = 12
    assert max(c for _, c in cells) + 1 == n_cols
    assert max(r for r, _ in cells) == 4 + 4  # header row 0, 4 samples, 4 summary rows
    assert cells[5, n_cols - 1].get_text().get_text() == fmt_number(table.grad[2])
    assert cells[7, n_cols - 3].get_text().get_text() == fmt_number(table.update[0])

    text = chain_text(table, sample=2, lang=lang)
    lines = text.splitlines()
    assert lines[5].startswith(">")  # title, header, rule, samples 0 and 1, then the marked sample 2
    assert fmt_number(table.recorded_grad[0]) in text and fmt_number(table.recorded_change[2]) in text

    md = chain_markdown(table, sample=2, lang=lang)
    assert md.count("$$") == 4
    table_rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(table_rows) == 1 + 4 + 2 + 1 + 2  # header, samples, sum, recorded; update table
    assert fmt_number(table.grad[1]).replace("−", "-") in md


@pytest.mark.parametrize("lang", LANGS)
def test_gradcheck_view(history, lang):
    check = gradcheck_step(history, 3)
    with use_language(lang):
        fig = new_figure((7, 4.5))
        d = GradCheckDisplay.from_check(check, lang=lang, ax=fig.add_subplot())
        drawn(fig)
    heights_bp = [p.get_height() for p in d.bars_[0]]
    heights_fd = [p.get_height() for p in d.bars_[1]]
    np.testing.assert_allclose(heights_bp, check.backprop)
    np.testing.assert_allclose(heights_fd, check.finite_diff)
    np.testing.assert_allclose(d.errors_.get_ydata(), check.rel_error, rtol=1e-12)
    assert f"{check.max_rel_error:.2e}" in gradcheck_text(check, lang=lang)


@pytest.mark.parametrize("lang", LANGS)
def test_update_arrows_add_up(history, lang, tmp_path):
    d = write_figure(lambda ax: UpdateArrowsDisplay.from_history(history, [5], per_sample=True, field=True,
                                                                 lang=lang, ax=ax),
                     tmp_path / "u.png", (7, 5.5), lang=lang)
    assert len(d.update_arrows_) == 1 and len(d.share_arrows_) == 4 and d.field_ is not None
    step = history.params[6] - history.params[5]
    q = d.update_arrows_[0]
    np.testing.assert_allclose([q.U[0], q.V[0]], step[:2] * d.scale, rtol=1e-6)
    np.testing.assert_allclose(q.X[0], history.params[5][0], rtol=1e-6)
    shares = np.array([[a.U[0], a.V[0]] for a in d.share_arrows_])
    np.testing.assert_allclose(shares.sum(0), step[:2] * d.scale, rtol=1e-4, atol=1e-7)
    # head to tail: each share starts where the previous one ended
    for a, b in zip(d.share_arrows_, d.share_arrows_[1:]):
        np.testing.assert_allclose([b.X[0], b.Y[0]], [a.X[0] + a.U[0], a.Y[0] + a.V[0]], rtol=1e-9)
    # the field points downhill: -grad . grad < 0 along the slice's own gradient
    many = write_figure(lambda ax: UpdateArrowsDisplay.from_history(history, lang=lang, n_steps=5, ax=ax),
                        tmp_path / "u5.png", (7, 5.5), lang=lang)
    assert len(many.update_arrows_) == 5 and many.scale >= 1
    assert (tmp_path / "u5.png").stat().st_size > 0


@pytest.mark.parametrize("lang", LANGS)
def test_boundary_push(history, lang, tmp_path):
    d = write_figure(lambda ax: BoundaryPushDisplay.from_history(history, 0, lang=lang, ax=ax),
                     tmp_path / "p.png", (8.5, 5.5), lang=lang)
    assert len(d.sample_lines_) == 4 and d.before_ is not None and d.after_ is not None
    # the 'after' line is params + scale * recorded change: check one point on it
    w1, w2, b = history.params[0] + d.scale * (history.params[1] - history.params[0])
    xs, ys = d.after_.get_data()
    np.testing.assert_allclose(w1 * np.asarray(xs) + w2 * np.asarray(ys) + b, 0, atol=1e-5)
    assert len(d.push_arrows_) >= 3


def test_nice_scale():
    assert [nice_scale(v) for v in (0.3, 1, 1.9, 2, 7.5, 20, 136, 999)] == [1, 1, 1, 2, 5, 20, 100, 500]


def test_every_label_has_both_languages_with_the_same_fields():
    import string

    from backpropviz.render.graph import LABELS

    for key, texts in LABELS.items():
        assert set(texts) == {"en", "ja"}, key
        fields = [{f for _, f, _, _ in string.Formatter().parse(texts[lang]) if f} for lang in ("en", "ja")]
        assert fields[0] == fields[1], key


# -- the path view: which slice each arrow was taken on, labels clear of the arrows, batch vs whole set ---

@pytest.fixture(scope="module")
def article():
    return train(RunConfig())


def path_view(history, tmp_path, lang="en", **kwargs):
    return write_figure(lambda ax: UpdateArrowsDisplay.from_history(history, lang=lang, ax=ax, **kwargs),
                        tmp_path / "path.png", (7.5, 6), lang=lang)


@pytest.mark.parametrize("lang, expected", [
    ("en", "Each arrow was computed at its step's b (step 0: {b0} … step 856: {b856}); the contours and the "
           "field are at b = {b}, so an arrow can seem to climb."),
    ("ja", "各矢印は各ステップの b (ステップ 0: {b0} … ステップ 856: {b856}) で計算したもの。等高線と場は b = {b} のため、"
           "矢印が登っているように見えることがある。")])
def test_path_view_says_the_arrows_were_taken_at_other_b_than_the_slice(article, tmp_path, lang, expected):
    d = path_view(article, tmp_path, lang=lang, field=True)
    b = article.params[:, 2].astype(float)
    assert d.updates.steps.tolist() == [0, 143, 285, 428, 571, 714, 856, 999]
    note = expected.format(b0=f"{b[0]:.2f}", b856=f"{b[856]:.2f}", b=f"{b[-1]:.2f}")  # b = 0 at step 0, -9.20 at the end
    assert d.slice_note() == note
    assert d.batch_note() is None  # the article's steps are full-batch
    # a single step is drawn on the slice at its own parameters: nothing to say
    assert path_view(article, tmp_path, steps=[0], lang=lang).slice_note() is None


def test_step_labels_are_not_covered_by_arrows(article, tmp_path):
    from matplotlib.path import Path

    d = path_view(article, tmp_path, field=True)
    fig = drawn(d.figure_)
    renderer = fig.canvas.get_renderer()
    ax = d.ax_
    heads = article.params[d.updates.steps + 1, :2].astype(float)
    tails = article.params[d.updates.steps, :2].astype(float)
    segments = [ax.transData.transform(np.array([t, t + d.scale * (h - t)])) for t, h in zip(tails, heads)]
    assert len(d.step_labels_) >= 5
    for text in d.step_labels_:
        box = text.get_window_extent(renderer)
        assert ax.get_window_extent(renderer).contains(box.x0, box.y0)
        for seg in segments:
            assert not Path(seg).intersects_bbox(box, filled=False), text.get_text()


@pytest.mark.parametrize("lang, expected", [
    ("en", "The contours and the field −∇L are the whole training set's (4 samples); each step used a batch of 2."),
    ("ja", "等高線と場 −∇L は訓練データ全体 (4 サンプル) のもの。各ステップは 2 サンプルのバッチを使った。")])
def test_path_view_says_the_field_is_the_whole_sets_when_the_steps_used_batches(tmp_path, lang, expected):
    h = train(RunConfig(epochs=30, batch_size=2))
    d = path_view(h, tmp_path, lang=lang, field=True)
    assert d.batch_note() == expected
    assert expected[:20] in all_text(d.figure_).replace("\n", " ")
