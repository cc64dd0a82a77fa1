"""Figures: every file in every format and language, and the artists each display draws.

Displays draw on Agg figures made without pyplot, so there is no global figure list to close.
"""

import re
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.errors import BackpropvizError  # noqa: E402
from backpropviz.history import History  # noqa: E402
from backpropviz.i18n import t  # noqa: E402
from backpropviz.render import figures  # noqa: E402
from backpropviz.render.base import epoch_axis, new_figure  # noqa: E402
from backpropviz.render.boundary import BoundaryDisplay  # noqa: E402
from backpropviz.render.fonts import japanese_font_path, use_language  # noqa: E402
from backpropviz.render.loss import LossCurveDisplay  # noqa: E402
from backpropviz.render.overview import OverviewFigure  # noqa: E402
from backpropviz.render.params import ParamTrajectoryDisplay  # noqa: E402
from backpropviz.render.surface import LossContourDisplay, LossSurface3DDisplay  # noqa: E402
from backpropviz.train import train  # noqa: E402

LANGS = ("en", "ja")


@pytest.fixture(scope="module")
def short_run():
    return train(RunConfig(epochs=50))


@pytest.fixture(scope="module")
def article_run():
    return train(RunConfig())


def hand_history(params, X=None, y=None):
    """A perceptron History built by hand (full-batch, one step per epoch)."""
    params = np.asarray(params, dtype=np.float32)
    T = len(params) - 1
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32) if X is None else X
    y = np.array([0, 0, 0, 1], np.float32) if y is None else y
    h = History(params=params, grads=np.zeros((T, 3), np.float32), loss=np.ones(T, np.float32),
                epoch=np.arange(T), param_names=["w1", "w2", "b"], X=X, y=y,
                config=RunConfig(epochs=max(T, 1)).to_dict())
    h.loss = reference_bce(h, params[:-1]).astype(np.float32)  # what full-batch steps would record
    return h


def glyph_warnings(record):
    return [w for w in record if "Glyph" in str(w.message) and "missing" in str(w.message)]


# -- files -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("fmt", figures.FORMATS)
def test_every_figure_in_every_format_and_language(short_run, tmp_path, fmt, lang):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        paths = figures.write_run_figures(short_run, tmp_path, fmt=fmt, lang=lang, resolution=12)
    assert not glyph_warnings(record)
    assert [p.name for p in paths] == [f"overview.{fmt}", f"loss_curve.{fmt}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left
    sizes = {"overview": (1200, 1400), "loss_curve": (500, 800)}  # figure inches x DPI
    for path in paths:
        data = path.read_bytes()
        assert len(data) > 1000
        if fmt == "png":
            assert mpimg.imread(path).shape[:2] == sizes[path.stem]
        elif fmt == "svg":
            assert b"<svg" in data[:1000] and data.rstrip().endswith(b"</svg>")
        else:
            assert data.startswith(b"%PDF") and b"%%EOF" in data[-100:]


@pytest.mark.parametrize("kwargs", [dict(resolution=1), dict(span=0.0), dict(x_range=(3, 1)),
                                    dict(lang="fr"), dict(x_param="w3")])
def test_bad_options_are_refused_and_nothing_is_written(short_run, tmp_path, kwargs):
    with pytest.raises(BackpropvizError):
        figures.write_run_figures(short_run, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_class_labels_are_true_false_only_for_logic_gates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2)).astype(np.float32)
    h = hand_history([[1.0, 1.0, 0.0], [1.0, 2.0, 0.0]], X=X, y=(X[:, 0] > 0).astype(np.float32))
    h.config["data"] = "moons"
    d = BoundaryDisplay.from_history(h)
    assert [p.get_label() for p in d.points_] == ["class 0", "class 1"]


def test_unknown_format_is_refused_before_anything_is_written(short_run, tmp_path):
    with pytest.raises(BackpropvizError, match="png, svg, pdf"):
        figures.write_run_figures(short_run, tmp_path / "out", fmt="jpg")
    assert not (tmp_path / "out").exists()


def test_a_failed_render_leaves_no_file(short_run, tmp_path, monkeypatch):
    real, calls = figures.figure_bytes, []

    def fail_on_second(fig, fmt):
        calls.append(fmt)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(fig, fmt)

    monkeypatch.setattr(figures, "figure_bytes", fail_on_second)
    with pytest.raises(RuntimeError):
        figures.write_run_figures(short_run, tmp_path, resolution=8)
    assert list(tmp_path.iterdir()) == []


def test_garbage_collector_state_is_restored_even_after_a_failure(short_run, tmp_path, monkeypatch):
    import gc

    assert gc.isenabled()
    figures.write_run_figures(short_run, tmp_path, resolution=6)
    assert gc.isenabled()
    monkeypatch.setattr(figures, "figure_bytes", lambda fig, fmt: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        figures.write_run_figures(short_run, tmp_path / "b", resolution=6)
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.undo()
        figures.write_run_figures(short_run, tmp_path / "c", resolution=6)
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_views_refuse_a_model_that_is_not_a_two_input_perceptron(tmp_path):
    h = History(params=np.zeros((2, 4), np.float32), grads=np.zeros((1, 4), np.float32),
                loss=np.ones(1, np.float32), epoch=np.zeros(1, int), param_names=["w1", "w2", "w3", "b"],
                X=np.zeros((4, 3), np.float32), y=np.zeros(4, np.float32), config={})
    with pytest.raises(BackpropvizError, match="two-input perceptron"):
        figures.write_run_figures(h, tmp_path)
    with pytest.raises(BackpropvizError, match="two-input perceptron"):
        BoundaryDisplay.from_history(h)
    assert list(tmp_path.iterdir()) == []


# -- Japanese text ---------------------------------------------------------------------------------

def test_the_glyph_check_itself_can_fail():
    """Without the Japanese font, Japanese text does warn: the checks above would notice."""
    fig = new_figure()
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        fig.suptitle(t("graph1_title", "ja"))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fig.canvas.draw()
    assert glyph_warnings(record)


def test_japanese_text_uses_ipaexgothic_and_leaves_global_settings_alone(short_run):
    before = list(matplotlib.rcParams["font.family"])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ov = OverviewFigure.from_history(short_run, resolution=10, lang="ja")
        ov.figure_.canvas.draw()
    assert not glyph_warnings(record)
    assert matplotlib.rcParams["font.family"] == before
    used = font_manager.findfont(ov.suptitle_.get_fontproperties(), fallback_to_default=False)
    assert used == str(japanese_font_path())


def test_overview_titles_are_the_catalogues_and_the_articles(short_run):
    ov = OverviewFigure.from_history(short_run, resolution=10, lang="ja")
    assert ov.suptitle_.get_text() == "SGDによる学習過程の可視化 (ANDゲート)"
    titles = [ax.get_title() for ax in ov.axes_]
    assert titles == [t(f"graph{k}_title", "ja") for k in range(1, 5)]
    assert titles[0] == "グラフ1: 決定境界の変化" and titles[3] == "グラフ4: 3D損失曲面と学習経路"
    assert ov.axes_[0].get_xlabel() == "入力 x1" and ov.axes_[2].get_ylabel() == "重み w2"
    en = OverviewFigure.from_history(short_run, resolution=10, lang="en")
    assert [ax.get_title() for ax in en.axes_] == [t(f"graph{k}_title", "en") for k in range(1, 5)]


# -- boundary --------------------------------------------------------------------------------------

def test_one_boundary_per_requested_epoch_on_the_line_w_x_plus_b(short_run):
    d = BoundaryDisplay.from_history(short_run, epochs=[50, 0, 10, 25], lang="en")
    assert d.epochs == [0, 10, 25, 50] and len(d.lines_) == 4
    labels = [line.get_label() for line in d.lines_]
    assert labels[0] == "initial boundary" and labels[-1] == "boundary after training"
    assert labels[1] == "boundary at epoch 10"
    for e, line in zip(d.epochs, d.lines_):
        w1, w2, b = short_run.params[e].astype(float)  # full batch: row e is the state after e epochs
        x1, x2 = line.get_xdata(), line.get_ydata()
        np.testing.assert_allclose(w1 * x1 + w2 * x2 + b, 0, atol=1e-5)
    marker_by_label = {p.get_label(): p.get_marker() for p in d.points_}
    assert marker_by_label == {"0 (False)": "o", "1 (True)": "x"}
    assert len(d.points_[0].get_xdata()) == 3  # AND: three zeros, one one


def test_many_boundaries_share_one_legend_entry_that_hides_no_point(article_run):
    d = BoundaryDisplay.from_history(article_run, epochs=[0, 5, 20, 50, 100, 300, 1000], lang="en")
    assert len(d.lines_) == 7
    texts = [text.get_text() for text in d.legend_.get_texts()]
    assert texts == ["0 (False)", "1 (True)", "initial boundary",
                     "boundaries at epochs 5, 20, 50, 100, 300 (darker = later)", "boundary after training"]
    fig = d.figure_
    fig.canvas.draw()
    box = d.legend_.get_window_extent(fig.canvas.get_renderer())
    for points in d.points_:
        assert not box.count_contains(d.ax_.transData.transform(points.get_xydata()))


def test_a_boundary_outside_the_view_says_so():
    h = hand_history([[1.0, 1.0, 5.0], [1.0, 1.0, -1.0]])  # x1 + x2 = -5 is far from the data
    d = BoundaryDisplay.from_history(h)
    assert d.lines_[0].get_label() == "initial boundary (outside the view)"
    assert d.lines_[1].get_label() == "boundary after training"


def test_default_boundaries_are_first_and_last(short_run):
    d = BoundaryDisplay.from_history(short_run, lang="ja")
    assert [line.get_label() for line in d.lines_] == ["初期値の境界", "学習後の境界"]


@pytest.mark.parametrize("bad", [[-1], [51], [2.5]])
def test_boundary_epochs_out_of_range_are_refused(short_run, bad):
    with pytest.raises(BackpropvizError, match="from 0 .* to 50"):
        BoundaryDisplay.from_history(short_run, epochs=bad)


def test_vertical_boundary_when_w2_is_zero():
    # w1*x1 + 0*x2 + b = 0  ->  x1 = -b/w1 = 0.5 (x2 = ... would divide by zero)
    h = hand_history([[2.0, 0.0, -1.0], [4.0, 0.0, -1.0], [0.0, 0.0, 0.3]])
    d = BoundaryDisplay.from_history(h, epochs=[0, 1, 2])
    assert len(d.lines_) == 2 and d.missing_ == [2]  # no line at all when w1 = w2 = 0
    np.testing.assert_allclose(d.lines_[0].get_xdata(), [0.5, 0.5])
    np.testing.assert_allclose(d.lines_[1].get_xdata(), [0.25, 0.25])
    assert np.ptp(d.lines_[0].get_ydata()) > 0  # spans the view vertically
    assert any("no boundary" in text.get_text() for text in d.legend_.get_texts())


def test_display_draws_on_the_axes_it_is_given(short_run):
    fig = new_figure()
    ax = fig.add_subplot()
    ax.set_xlabel("mine")
    d = BoundaryDisplay.from_history(short_run, ax=ax)
    assert d.ax_ is ax and d.figure_ is fig and ax.get_xlabel() == "mine"


# -- parameters and loss ---------------------------------------------------------------------------

def test_parameter_lines_follow_the_history(short_run):
    d = ParamTrajectoryDisplay.from_history(short_run, lang="ja")
    assert [line.get_label() for line in d.lines_] == ["重み w1", "重み w2", "バイアス b"]
    for k, line in enumerate(d.lines_):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(51))
        np.testing.assert_allclose(line.get_ydata(), short_run.params[:, k])


def test_epoch_axis_spreads_mini_batch_steps_over_the_epoch():
    np.testing.assert_allclose(epoch_axis(np.array([0, 0, 1, 1, 2, 2, 2])),
                               [0, 0.5, 1, 1.5, 2, 2 + 1 / 3, 2 + 2 / 3, 3])


@pytest.mark.parametrize("log", [False, True])
def test_loss_curve(short_run, log):
    d = LossCurveDisplay.from_history(short_run, log=log, lang="en")
    np.testing.assert_allclose(d.line_.get_ydata(), short_run.loss)
    np.testing.assert_array_equal(d.line_.get_xdata(), np.arange(50))
    assert d.ax_.get_yscale() == ("log" if log else "linear")
    assert d.ax_.get_title() == "Training loss (AND gate)"


# -- loss surface ----------------------------------------------------------------------------------

def reference_bce(history, params):
    """Mean BCE of a sigmoid perceptron, in float64, written out from the formula."""
    X = torch.tensor(history.X, dtype=torch.float64)
    y = torch.tensor(history.y, dtype=torch.float64)
    p = torch.tensor(params, dtype=torch.float64)
    z = X @ p[:, :2].T + p[:, 2]                      # (N, rows)
    prob = torch.sigmoid(z)
    bce = -(y[:, None] * torch.log(prob) + (1 - y[:, None]) * torch.log(1 - prob))
    return bce.mean(0).numpy()


@pytest.mark.parametrize("lang", LANGS)
def test_contour_says_what_is_fixed_and_marks_start_and_end(article_run, lang):
    d = LossContourDisplay.from_history(article_run, resolution=20, lang=lang)
    b_final = f"{article_run.params[-1, 2]:.2f}"
    label = d.colorbar_.ax.get_ylabel()
    assert b_final in label and "b" in label
    assert b_final in d.note_.get_text() and f"{article_run.params[0, 2]:.2f}" in d.note_.get_text()
    assert d.note_.get_visible() and d.note_.axes is d.ax_
    np.testing.assert_allclose(d.start_.get_xydata()[0], article_run.params[0, :2])
    np.testing.assert_allclose(d.end_.get_xydata()[0], article_run.params[-1, :2])
    np.testing.assert_allclose(d.path_.get_xydata(), article_run.params[:, :2])
    # Contour levels cover the slice's loss, computed here from the formula.
    land = d.landscape
    A, B = np.meshgrid(land.alpha, land.beta)
    grid = np.stack([A.ravel(), B.ravel(), np.full(A.size, article_run.params[-1, 2])], 1)
    ref = reference_bce(article_run, grid).reshape(A.shape)
    np.testing.assert_allclose(land.loss, ref, rtol=1e-4, atol=1e-6)
    assert d.contour_.levels[0] <= ref.min() and d.contour_.levels[-1] >= ref.max() - 1e-4


def test_a_constant_loss_draws_one_band_with_one_tick(tmp_path):
    # lr 1e6 with MSE saturates the sigmoid: the loss is 0.25 over the whole default window.
    h = train(RunConfig(loss="mse", lr=1e6, epochs=20))
    d = LossContourDisplay.from_history(h, resolution=15, lang="en")
    assert np.ptp(d.landscape.loss) < 1e-6
    ticks = d.colorbar_.get_ticks()
    assert len(ticks) == 1 and abs(ticks[0] - 0.25) < 1e-6
    assert d.colorbar_.ax.yaxis.get_offset_text().get_text() == ""
    assert len(d.contour_.levels) == 2
    # a varying loss keeps its levels
    assert len(LossContourDisplay.from_history(train(RunConfig(epochs=20)), resolution=15).contour_.levels) > 10


def test_surface_resolution_and_range_are_the_users(article_run):
    d = LossContourDisplay.from_history(article_run, resolution=7, x_range=(-2, 3), y_range=(0, 9))
    assert d.landscape.loss.shape == (7, 7)
    assert d.ax_.get_xlim() == (-2, 3) and d.ax_.get_ylim() == (0, 9)


def test_3d_draws_the_projected_path_and_the_loss_training_saw(article_run):
    d = LossSurface3DDisplay.from_history(article_run, resolution=15, lang="en")
    assert d.ax_.name == "3d" and d.surface_.get_rasterized()
    xs, ys, z_projected = d.projected_line_.get_data_3d()
    _, _, z_actual = d.actual_line_.get_data_3d()
    rows = article_run.params.astype(np.float64)
    on_slice = rows.copy()
    on_slice[:, 2] = rows[-1, 2]
    np.testing.assert_allclose(z_projected, reference_bce(article_run, on_slice), rtol=1e-4)
    np.testing.assert_allclose(z_actual, reference_bce(article_run, rows), rtol=1e-4)
    np.testing.assert_allclose(z_actual[:-1], article_run.loss, rtol=1e-5)  # what each step recorded
    # b moved from 0 to its final value, so the two curves disagree where training started.
    assert abs(z_projected[0] - z_actual[0]) > 0.5
    assert d.projected_line_.get_label() != d.actual_line_.get_label()
    assert "not the losses training saw" in d.note_.get_text()
    assert "b went 0.00" in d.note_.get_text()


def test_notes_say_the_path_is_on_the_slice_when_b_never_moved():
    h = hand_history([[-1.0, 1.0, -0.5], [0.0, 1.5, -0.5], [1.0, 2.0, -0.5]])
    c = LossContourDisplay.from_history(h, resolution=6, lang="en")
    s = LossSurface3DDisplay.from_history(h, resolution=6, lang="en")
    assert "lies on this slice" in c.note_.get_text()
    assert "did not change" in s.note_.get_text()
    np.testing.assert_allclose(s.projected_line_.get_data_3d()[2], s.actual_line_.get_data_3d()[2],
                               rtol=1e-6)


def test_use_language_restores_the_font_family():
    before = list(matplotlib.rcParams["font.family"])
    with use_language("ja"):
        assert matplotlib.rcParams["font.family"][0] == "IPAexGothic"
    assert matplotlib.rcParams["font.family"] == before


def test_a_blown_up_run_shows_its_fixed_values_in_short_form():
    # lr 1e30 sends b to about -2.5e29; "b fixed at its final value" must not print 30 digits.
    history = train(RunConfig(lr=1e30, epochs=50))
    b = float(history.params[-1, 2])
    assert abs(b) > 1e20
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor matplotlib's identical-limits warnings
        ov = OverviewFigure.from_history(history, resolution=10, lang="en")
        ov.figure_.canvas.draw()
    texts = [a.get_text() for a in ov.figure_.findobj(matplotlib.text.Text)]
    assert any(f"{b:.3g}" in s for s in texts), texts
    assert not any(re.search(r"\d{8,}", s) for s in texts), [s for s in texts if re.search(r"\d{8,}", s)]


# -- a flat output has no boundary; no number reads as a signed zero -------------------------------------

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("spread, flat", [(0.99e-3, True), (1.01e-3, False)])
def test_boundary_is_drawn_only_where_the_output_varies_by_a_thousandth(spread, flat):
    # w = (w1, 0), b = 0 over the view x1 in [-0.2, 1.2]: the output spans about 0.25 * 1.4 * w1
    w1 = spread / 0.35
    span = sigmoid(1.2 * w1) - sigmoid(-0.2 * w1)
    assert span == pytest.approx(spread, rel=1e-4)
    h = hand_history([[-1.0, 1.0, 0.0], [w1, 0.0, 0.0]])
    d = BoundaryDisplay.from_history(h)
    texts = [text.get_text() for text in d.legend_.get_texts()]
    if flat:
        assert d.missing_ == [1] and len(d.lines_) == 1
        assert "after training, no boundary:\nthe output is 0.50 everywhere" in texts
    else:
        assert d.missing_ == [] and len(d.lines_) == 2 and "boundary after training" in texts  # at x1 = 0


def test_perceptron_on_xor_shows_no_boundary_and_no_signed_zero():
    history = train(RunConfig(data="xor"))  # the weights fade to ~1e-7: the output is 0.50 everywhere
    assert np.abs(history.params[-1]).max() < 1e-5
    for lang, flat in (("en", "after training, no boundary:\nthe output is 0.50 everywhere"),
                       ("ja", "学習後: 境界なし (出力はどこでも 0.50)")):
        ov = OverviewFigure.from_history(history, resolution=10, lang=lang)
        ov.figure_.canvas.draw()
        assert ov.boundary_.missing_ == [1000] and len(ov.boundary_.lines_) == 1
        assert flat in [text.get_text() for text in ov.boundary_.legend_.get_texts()]
        texts = [a.get_text() for a in ov.figure_.findobj(matplotlib.text.Text)]
        signed = [s for s in texts if re.search(r"(?<![\w.])[-−]0(?:\.0+)?(?![\d.]*[1-9])", s)]
        assert not signed, signed  # "b went 0.00 -> -0.00" read as if b had moved


def test_numbers_that_round_to_zero_have_no_sign():
    from backpropviz.i18n import unsigned_zero
    from backpropviz.render.base import fmt_value, tick_labels

    assert fmt_value(-1e-7) == "0.00" and fmt_value(-0.0) == "0.00" and fmt_value(-0.006) == "-0.01"
    assert [unsigned_zero(s) for s in ("-0", "−0.000", "-0.0%", "-0e+00", "-0.05", "-10")] == [
        "0", "0.000", "0.0%", "0e+00", "-0.05", "-10"]
    assert tick_labels([-1e-9, 0.5, 1.0]) == ["0.0", "0.5", "1.0"]
    # every catalogue text: a float field formatted to fixed decimals loses a zero's sign
    assert t("no_boundary_flat", "en", when="x", p=-1e-9) == "x, no boundary:\nthe output is 0.00 everywhere"
    assert t("no_boundary_flat", "ja", when="x", p=-0.0) == "x: 境界なし (出力はどこでも 0.00)"


# -- the overview's window holds the whole path; its legend hides neither end ----------------------------

@pytest.mark.parametrize("gate", ["nand", "nor", "and"])
def test_overview_window_holds_the_path_and_the_legend_hides_neither_marker(gate):
    history = train(RunConfig(data=gate))
    ov = OverviewFigure.from_history(history, resolution=12, lang="en")
    ov.figure_.canvas.draw()
    c, land = ov.contour_, ov.landscape
    path = history.params[:, :2].astype(float)
    final = path[-1]
    width = land.alpha[-1] - land.alpha[0]
    for values, axis, k in ((path[:, 0], land.alpha, 0), (path[:, 1], land.beta, 1)):
        # never narrower than the article's final +- 8, and the path 5% of the width inside
        assert axis[0] <= final[k] - 8 + 1e-9 and axis[-1] >= final[k] + 8 - 1e-9
        assert values.min() - axis[0] >= 0.05 * width and axis[-1] - values.max() >= 0.05 * width
    if gate == "and":  # the article's own window, where the path stays well inside it
        np.testing.assert_allclose([land.alpha[0], land.alpha[-1]], [final[0] - 8, final[0] + 8], rtol=1e-6)
    box = c.legend_.get_window_extent(ov.figure_.canvas.get_renderer())
    for marker in (c.start_, c.end_):
        x, y = c.ax_.transData.transform(marker.get_xydata()[0])
        r = marker.get_markersize() / 2 * ov.figure_.dpi / 72
        assert x + r < box.x0 or x - r > box.x1 or y + r < box.y0 or y - r > box.y1, (gate, marker.get_label())
