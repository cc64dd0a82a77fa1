"""explain, gradcheck, landscape and compare of a run that diverged: every figure says at which step
(the same note as plot's and run's figures), in English and Japanese, and no loss colour bar of a
diverged run shows negative or non-finite losses."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.errors import TrainingDiverged  # noqa: E402
from backpropviz.history import History  # noqa: E402
from backpropviz.render.fonts import font_family  # noqa: E402
from backpropviz.train import train  # noqa: E402

NOTE = {"en": "This run diverged at step {step}: shown are the {step} steps before it, the last finite ones.",
        "ja": "この学習はステップ {step} で発散した。図はその前の有限な {step} ステップを示す。"}
NOTE_RUN = {"en": "Run {run} diverged at step {step}: shown are the {step} steps before it, the last finite ones.",
            "ja": "{run} の学習はステップ {step} で発散した。図はその前の有限な {step} ステップを示す。"}
FIRST = {"en": "This run diverged at its first step (step 0): no step completed.",
         "ja": "この学習は最初のステップ (ステップ 0) で発散した。完了したステップはない。"}
REGRESSION = dict(data="reg-plane", model="mlp:3", loss="mse", lr=10.0, epochs=200)  # blows up at step 11


@pytest.fixture(scope="module")
def perceptron_file(tmp_path_factory):
    h = train(RunConfig(epochs=20))
    h.status = "diverged at step 20: the update made a parameter infinite or NaN"
    return h.save(tmp_path_factory.mktemp("p") / "p.npz")


@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    """A run that really diverges (the loss overflows to inf), saved with its finite steps."""
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(**REGRESSION))
    h = caught.value.history
    assert h.status.startswith(f"diverged at step {h.n_steps}: loss is inf") and np.isfinite(h.loss).all()
    return h.save(tmp_path_factory.mktemp("n") / "n.npz")


@pytest.fixture(scope="module")
def first_step_file(tmp_path_factory):
    """A run that diverged at its first step: one parameter row, no step."""
    h = train(RunConfig(epochs=1))
    empty = History(params=h.params[:1], grads=h.grads[:0], loss=h.loss[:0], epoch=h.epoch[:0],
                    param_names=h.param_names, X=h.X, y=h.y, config=h.config,
                    status="diverged at step 0: the update made a parameter infinite or NaN")
    return empty.save(tmp_path_factory.mktemp("z") / "z.npz")


def note_artists(fig, note):
    return [a for a in fig.findobj(matplotlib.text.Text) if note in a.get_text()]


def assert_noted(figs, note, lang, expected):
    assert len(figs) == expected, len(figs)
    for fig in figs:
        found = note_artists(fig, note)
        assert found, [a.get_text() for a in fig.findobj(matplotlib.text.Text) if a.get_text()]
        assert sum(a.get_text().count(note) for a in found) == 1  # once, not once per drawing step
        # in a font that has the language's glyphs (IPAexGothic for Japanese)
        assert font_family(lang)[0] in found[0].get_fontfamily()


def loss_mappables(fig):
    return [m for ax in fig.axes for m in list(ax.collections) + list(ax.images)
            if isinstance(m, matplotlib.cm.ScalarMappable) and m.get_array() is not None and m.get_array().size]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_explain_figures_of_a_diverged_perceptron_say_where_it_diverged(perceptron_file, drawn, cli, tmp_path, lang):
    r = cli("explain", perceptron_file, "--step", "-1", "--out", tmp_path, "--lang", lang)
    assert r.code == 0, r
    # graph, chain_rule, boundary_push, updates, updates_path
    assert_noted(drawn, NOTE[lang].format(step=20), lang, expected=5)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_explain_and_gradcheck_of_a_run_that_really_diverged_say_where(network_file, drawn, cli, tmp_path, lang):
    step = History.load(network_file).n_steps
    r = cli("explain", network_file, "--step", "0", "--out", tmp_path, "--lang", lang)
    assert r.code == 0, r
    r = cli("gradcheck", network_file, "--step", "0", "--out", tmp_path, "--lang", lang)
    assert r.code == 0, r
    assert_noted(drawn, NOTE[lang].format(step=step), lang, expected=4)  # graph, updates, updates_path, gradcheck
    # the path's slice is taken at the last row, where the run's parameters make every loss inf:
    # no empty contour with a colour bar of made-up (negative) losses, but a word saying so
    path_figure = drawn[2]
    contours = [c for ax in path_figure.axes for c in ax.collections if isinstance(c, matplotlib.contour.ContourSet)]
    assert not contours and len(path_figure.axes) == 1  # no colour bar either
    empty = {"en": "no finite loss anywhere on this slice", "ja": "この断面には有限な損失がない"}[lang]
    assert note_artists(path_figure, empty)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_landscape_figures_of_a_diverged_run_say_where_and_colour_finite_losses(network_file, drawn, cli, tmp_path,
                                                                                 lang):
    step = History.load(network_file).n_steps
    r = cli("landscape", network_file, "--method", "pca", "--resolution", "11", "--line", "0,-1",
            "--out", tmp_path, "--lang", lang)
    assert r.code == 0, r
    # contour, filled, heatmap, 3d (each with the faithfulness panel), the line, the curvature
    assert_noted(drawn, NOTE[lang].format(step=step), lang, expected=6)
    for fig in drawn[:4]:
        shown = loss_mappables(fig)
        assert shown  # never an empty contour
        for m in shown:
            low, high = m.norm.vmin, m.norm.vmax
            assert np.isfinite([low, high]).all() and 0 <= low < high, (low, high)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_landscape_of_a_run_that_diverged_at_its_first_step(first_step_file, drawn, cli, tmp_path, lang):
    r = cli("landscape", first_step_file, "--resolution", "11", "--out", tmp_path, "--lang", lang)
    assert r.code == 0, r
    assert_noted(drawn, FIRST[lang], lang, expected=5)  # four views and the curvature
    for fig in drawn[:4]:
        for m in loss_mappables(fig):
            assert np.isfinite([m.norm.vmin, m.norm.vmax]).all() and 0 <= m.norm.vmin < m.norm.vmax
    # the lone row is a visible point (a line of one point draws nothing), on no made-up negative step
    panels = [ax for fig in drawn[:4] for ax in fig.axes[1:]] + drawn[4].axes  # faithfulness, curvature
    lone = [line for ax in panels for line in ax.get_lines() if len(line.get_xdata()) == 1]
    assert len(lone) >= 10  # the losses and the distance (each view), lambda_max and lambda_min
    assert all(line.get_marker() not in ("None", "", None) and not line.get_clip_on() for line in lone)
    assert all(ax.get_xlim()[0] >= 0 for ax in drawn[4].axes)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_compare_figures_name_the_run_that_diverged_and_its_step(drawn, cli, tmp_path, lang):
    r = cli("compare", "--data", "reg-plane", "--model", "mlp:3", "--vary", "lr=0.05,10", "--epochs", "200",
            "--resolution", "11", "--out", tmp_path / "o", "--save-histories", tmp_path / "h", "--lang", lang)
    assert r.code == 0, r
    kept = History.load(tmp_path / "h" / "run2.npz")
    assert kept.status.startswith(f"diverged at step {kept.n_steps}")
    assert History.load(tmp_path / "h" / "run1.npz").status == "completed"
    assert_noted(drawn, NOTE_RUN[lang].format(run="lr=10", step=kept.n_steps), lang, expected=2)
    for fig in drawn:  # the run that finished gets no note
        assert not note_artists(fig, "lr=0.05 " if lang == "en" else "lr=0.05 の")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_plot_of_a_diverged_runs_landscape_file_says_where_it_diverged(network_file, drawn, cli, tmp_path, lang):
    step = History.load(network_file).n_steps
    r = cli("landscape", network_file, "--method", "pca", "--resolution", "11", "--views", "contour",
            "--no-curvature", "--out", tmp_path / "l")
    assert r.code == 0, r
    drawn.clear()
    r = cli("plot", tmp_path / "l" / "landscape.npz", "--out", tmp_path / "p", "--lang", lang)
    assert r.code == 0, r
    assert_noted(drawn, NOTE[lang].format(step=step), lang, expected=4)  # contour, filled, heatmap, 3d


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_landscape_at_a_diverged_runs_last_row_draws_no_empty_contour(network_file, drawn, cli, tmp_path, lang):
    # the params plane is centred on the last row, where every loss of the slice is inf
    r = cli("landscape", network_file, "--resolution", "11", "--no-curvature", "--out", tmp_path, "--lang", lang)
    assert r.code == 0, r
    assert len(drawn) == 4
    empty = {"en": "no finite loss anywhere on this slice", "ja": "この断面には有限な損失がない"}[lang]
    for fig in drawn:
        assert not loss_mappables(fig)  # no empty contour, no image of infinite losses
        assert len(fig.axes) == 3  # the view, the faithfulness panel and its twin: no colour bar
        assert note_artists(fig, empty)
