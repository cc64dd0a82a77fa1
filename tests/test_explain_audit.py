"""The explain/gradcheck audit: MLP Markdown, Japanese slips, warnings, legends, zero errors,
aligned tables and arrows that stay inside the axes."""

import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.text import Text

from backpropviz.analysis.gradcheck import GradCheck
from backpropviz.config import RunConfig
from backpropviz.i18n import t
from backpropviz.render.chain import GradCheckDisplay, gradcheck_text
from backpropviz.render.updates import MAX_SHARE_SAMPLES, BoundaryPushDisplay, UpdateArrowsDisplay
from backpropviz.train import model_at, train

from clihelpers import one_line_error


def texts(fig) -> list[str]:
    return [a.get_text() for a in fig.findobj(Text) if a.get_text()]


def legend_texts(display) -> list[str]:
    return [x.get_text() for x in display.legend_.get_texts()]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    history = train(RunConfig(data="moons", model="mlp:4", epochs=6))
    path = tmp_path_factory.mktemp("mlp") / "mlp.npz"
    history.save(path)
    return history, path


@pytest.fixture(scope="module")
def article():
    return train(RunConfig())


def _row(v):
    return "[" + ", ".join(f"{x:.4g}" for x in np.ravel(v)) + "]"


def test_mlp_markdown_holds_the_steps_gradients_and_update(cli, mlp, tmp_path):
    history, path = mlp
    md = tmp_path / "new" / "dir" / "mlp.md"  # a missing folder is made, as --out makes its own
    r = cli("explain", path, "--step", "2", "--out", tmp_path / "x", "--lang", "en", "--markdown", md,
            "--no-field", "--arrow-steps", "2")
    assert r.code == 0, r
    assert f"wrote {md}" in r.out
    text = md.read_text()
    assert text.startswith("### Backpropagation at step 2: `mlp:4`")
    names = list(history.param_names)
    grads = history.grads[2].astype(float)
    change = history.params[3].astype(float) - history.params[2].astype(float)
    for torch_name in ("2.weight", "2.bias", "0.bias"):
        idx = [i for i, n in enumerate(names) if n.startswith(torch_name)]
        g = grads[idx]
        g_text = _row(g) if len(idx) > 1 else f"{g[0]:.4g}"
        c_text = _row(change[idx]) if len(idx) > 1 else f"{change[idx][0]:.4g}"
        row = next(ln for ln in text.splitlines() if ln.startswith("|") and f"`{torch_name}`" in ln
                   and "Linear" not in ln)
        assert g_text in row and c_text in row, (torch_name, row)
    # the layer rule dL/dW2 = delta2^T a1 gives the recorded gradient (first entry, 4 digits)
    w2 = grads[[i for i, n in enumerate(names) if n.startswith("2.weight")]]
    eq = next(ln for ln in text.splitlines() if ln.startswith("\\frac{\\partial L}{\\partial W_{2}}"))
    assert f"\\begin{{bmatrix}}{w2[0]:.4g} &" in eq
    for heading in ("#### Forward values and gradients on the graph", "#### The chain rule, layer by layer",
                    "#### The update"):
        assert heading in text
    assert "{" + "{" not in text  # no unformatted template braces


def test_mlp_markdown_one_sample_is_its_share(cli, mlp, tmp_path):
    history, path = mlp
    md = tmp_path / "k.md"
    assert cli("explain", path, "--step", "1", "--sample", "5", "--out", tmp_path, "--markdown", md,
               "--lang", "en", "--no-field", "--arrow-steps", "2").code == 0
    # reference: sample 5's share of dL/db2 is the gradient of its own loss term / N
    model = model_at(history, 1).double()
    X = torch.tensor(history.X, dtype=torch.float64)
    y = torch.tensor(history.y, dtype=torch.float64).reshape(-1, 1)
    loss = torch.nn.functional.binary_cross_entropy(model(X[5:6]), y[5:6]) / len(X)
    share = torch.autograd.grad(loss, dict(model.named_parameters())["2.bias"])[0].item()
    line = next(ln for ln in md.read_text().splitlines() if ln.startswith("\\frac{\\partial L}{\\partial b_{2}}"))
    assert float(line.split("=")[-1]) == pytest.approx(share, rel=1e-3)


def test_markdown_bad_folder_refused_before_anything_is_written(cli, mlp, tmp_path):
    _, path = mlp
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = tmp_path / "out"
    r = cli("explain", path, "--out", out, "--markdown", blocker / "a.md")
    one_line_error(r, "--markdown", "is a file")
    assert not out.exists() or not any(out.iterdir())


def test_save_history_and_markdown_make_missing_folders_alike(cli, tmp_path):
    r = cli("run", "--epochs", "2", "--out", tmp_path / "o", "--save-history", tmp_path / "a" / "b" / "h.npz")
    assert r.code == 0 and (tmp_path / "a" / "b" / "h.npz").is_file()


def test_markdown_help_says_what_each_model_gets(cli):
    r = cli("explain", "--help")
    flat = " ".join(r.out.replace("│", " ").split())
    assert "Perceptron: the chain-rule table" in flat and "Other models" in flat


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("model", ["perceptron", "mlp"])
def test_update_figure_text_has_no_template_slips(mlp, article, lang, model):
    history = mlp[0] if model == "mlp" else article
    d = UpdateArrowsDisplay.from_history(history, [1], per_sample=True, field=False, lang=lang, resolution=12)
    try:
        words = texts(d.figure_)
        assert not any("と変化" in w for w in words), words
        assert not any(re.search(r"\{[a-z_]*\}", w) for w in words), words
        if lang == "ja":
            assert any("変化したパラメータがあるため" in w for w in words), words
    finally:
        plt.close(d.figure_)


def test_explain_huge_lr_writes_no_warnings(cli, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = cli("explain", "--lr", "1e30", "--epochs", "50", "--out", tmp_path, "--lang", "en")
    assert r.code == 0, r
    assert "Warning" not in r.err
    assert [str(w.message) for w in caught] == []


def test_per_sample_shares_only_for_small_batches(mlp, article):
    history = mlp[0]  # 200 samples per step
    d = UpdateArrowsDisplay.from_history(history, [0], per_sample=True, field=False, lang="en", resolution=12)
    try:
        legend = legend_texts(d)
        assert d.share_arrows_ == []
        assert not any("share" in s and "sample " in s and "'s" in s for s in legend), legend
        assert t("explain_fix_shares_hidden", "en", limit=MAX_SHARE_SAMPLES, n=200) in legend
    finally:
        plt.close(d.figure_)
    d = UpdateArrowsDisplay.from_history(article, [0], per_sample=True, field=False, lang="en", resolution=12)
    try:
        legend = legend_texts(d)
        assert [s for s in legend if s.startswith("sample ")] == [f"sample {k}'s share (×1)" for k in range(4)]
        assert len(d.share_arrows_) == 4
    finally:
        plt.close(d.figure_)


@pytest.mark.parametrize("batch, shown", [(MAX_SHARE_SAMPLES, True), (MAX_SHARE_SAMPLES + 1, False)])
def test_share_threshold(batch, shown):
    history = train(RunConfig(data="moons", model="perceptron", batch_size=batch, epochs=1))
    d = UpdateArrowsDisplay.from_history(history, [0], per_sample=True, field=False, lang="en", resolution=8)
    try:
        per_sample = [s for s in legend_texts(d) if re.fullmatch(r"sample \d+'s share \(×.*\)", s)]
        assert (len(per_sample) == batch) is shown and (per_sample == []) is (not shown)
    finally:
        plt.close(d.figure_)


def _check(backprop, finite):
    return GradCheck(step=0, param_names=[f"p{i}" for i in range(len(backprop))],
                     backprop=np.array(backprop, float), finite_diff=np.array(finite, float), recorded=None,
                     eps=1e-6)


def test_gradcheck_exact_zero_sits_on_the_floor_marker():
    check = _check([0.0, 0.5, 2e-3, 0.0], [0.0, 0.5 + 1e-9, 2e-3 + 1e-12, 0.0])
    rel = check.rel_error
    assert rel[0] == 0 and rel[3] == 0 and rel[1] > 0
    d = GradCheckDisplay.from_check(check, lang="en")
    try:
        floor = d.err_ax_.get_ylim()[0]
        zx, zy = d.zero_errors_.get_data()
        assert list(zx) == [0, 3] and np.all(np.asarray(zy) == floor)
        ex, ey = d.errors_.get_data()
        assert list(ex) == [1, 2] and np.allclose(ey, rel[[1, 2]])
        assert floor <= min(rel[1], rel[2]) and floor > 0
        assert t("explain_fix_gc_zero", "en") in legend_texts(d)
    finally:
        plt.close(d.figure_)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_gradcheck_text_headers_from_the_catalogue(lang):
    out = gradcheck_text(_check([0.25, -1e5], [0.25, -1e5]), lang=lang).splitlines()
    heads = [t(f"explain_fix_gc_{k}", lang) for k in ("param", "backprop", "finite", "recorded", "rel")]
    assert out[1].split() == [w for h in heads for w in h.split()]
    assert out[-1].startswith(t("explain_fix_gc_max", lang, err="0.00e+00"))
    if lang == "ja":
        assert not re.search(r"[A-Za-z]{3,}", out[1]) and "max" not in out[-1]


def test_explain_node_table_columns_align():
    from torch import nn

    from backpropviz.analysis.graph_trace import trace_step
    from backpropviz.cli.explain import _node_text

    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1), nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[123456.75, -98765.5], [0.001, 7.0]]))
    X = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([[0.0], [1.0]])
    lines = _node_text(trace_step(model, nn.functional.binary_cross_entropy, X, y, collapse=False), None).splitlines()
    header = lines[0]
    starts = [header.index(h) for h in ("kind", "value", "dL/d(node)")]
    # the wide entry is there, wider than the old fixed 36-character column
    assert starts[2] - starts[1] > 38 and any("1.235e+05" in ln for ln in lines)
    for ln in lines[1:]:
        for s in starts:
            assert ln[s - 2 : s] == "  " and ln[s] != " ", (s, ln)


def _inside(ax, points, margin=0.03):
    """Every point inside the axes, ``margin`` (a fraction of each side) away from the edges:
    room for the arrow heads, which are drawn wider than their tips."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return all(x0 + mx <= x <= x1 - mx and y0 + my <= y <= y1 - my for x, y in points)


def test_update_arrow_heads_stay_inside_the_axes(article):
    d = UpdateArrowsDisplay.from_history(article, n_steps=8, field=False, lang="en", resolution=12)
    try:
        heads = [(q.X[0] + q.U[0] * 1, q.Y[0] + q.V[0]) for q in d.update_arrows_]
        tails = [(q.X[0], q.Y[0]) for q in d.update_arrows_]
        assert len(heads) == 8 and _inside(d.ax_, heads) and _inside(d.ax_, tails, margin=0)
        # the step-0 arrow is long (x100) and reaches the edge of the article's +-8 view
        assert d.scale == 100 and min(h[1] for h in heads) < article.params[-1][1] - 8 + 0.03 * 16
    finally:
        plt.close(d.figure_)


def test_boundary_push_legend_names_the_dotted_lines(article):
    d = BoundaryPushDisplay.from_history(article, 0, lang="ja")
    try:
        i = legend_texts(d).index(t("explain_fix_push_foot", "ja"))
        assert d.legend_.legend_handles[i].get_linestyle() == ":"
        dotted = [ln for ln in d.ax_.get_lines() if ln.get_linestyle() == ":"]
        assert len(dotted) == d.foot_lines_ > 0
    finally:
        plt.close(d.figure_)
