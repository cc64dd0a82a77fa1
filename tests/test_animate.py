"""Animations: the frames chosen, the files (decoded with Pillow and imageio-ffmpeg), the frames
against the static figures, Japanese frames, bad input, the notebook object."""

import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from backpropviz.analysis.frames import check_frames, choose_frames, path_length  # noqa: E402
from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.errors import BackpropvizError  # noqa: E402
from backpropviz.render.animate import Animation  # noqa: E402
from backpropviz.render.overview import OverviewFigure  # noqa: E402
from backpropviz.train import train  # noqa: E402
from clihelpers import one_line_error  # noqa: E402
from test_render import glyph_warnings  # noqa: E402

RES = 12  # a coarse loss surface: the frames are what is tested here, not the surface


@pytest.fixture(scope="module")
def article():
    return train(RunConfig())


@pytest.fixture(scope="module")
def short():
    return train(RunConfig(epochs=40))


@pytest.fixture(scope="module")
def short_file(short, tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "short.npz"
    short.save(path)
    return path


def pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())[..., :3].astype(np.int16)


def differing(a, b, *, threshold=40, skip=None) -> float:
    """Fraction of pixels whose colour differs by more than ``threshold`` in some channel,
    outside the box ``skip`` (x0, y0, x1, y1 in image rows/columns from the top left)."""
    d = np.abs(np.asarray(a)[..., :3].astype(np.int16) - np.asarray(b)[..., :3].astype(np.int16)).max(axis=2) > threshold
    if skip is not None:
        x0, y0, x1, y1 = skip
        d[y0:y1, x0:x1] = False
    return float(d.mean())


def label_box(overview, pad=4):
    """The corner label's box in image coordinates (top-left origin)."""
    fig = overview.figure_
    box = overview.frame_label_.get_bbox_patch().get_window_extent(fig.canvas.get_renderer())
    height = int(fig.bbox.height)
    return (int(box.x0) - pad, height - int(box.y1) - pad, int(box.x1) + pad, height - int(box.y0) + pad)


# -- choosing frames -------------------------------------------------------------------------------

def test_frames_follow_the_parameter_movement(article):
    choice = choose_frames(article.params, 30)
    rows = choice.rows
    assert len(rows) == 30 and rows[0] == 0 and rows[-1] == article.n_steps
    assert np.all(np.diff(rows) > 0)
    # the article's run moves fast early: the frames crowd there
    assert np.diff(rows)[:5].max() < np.diff(rows)[-5:].min()
    # independent reference: each frame is the first row whose cumulative movement reaches an even share
    length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(article.params.astype(np.float64), axis=0),
                                                               axis=1))])
    expected = [int(np.argmax(length >= share * length[-1] - 1e-12)) for share in np.linspace(0, 1, 30)]
    assert rows.tolist() == expected
    np.testing.assert_allclose(path_length(article.params), length)


def test_log_and_linear_spacing_and_clashing_rows():
    params = np.cumsum(np.r_[0.0, 100.0, np.full(20, 1e-3)])[:, None]  # one huge first step
    rows = choose_frames(params, 6).rows  # movement: 5 targets fall on row 1; pushed apart, still 6
    assert rows.tolist() == [0, 1, 2, 3, 4, 21]
    assert choose_frames(params, 5, spacing="linear").rows.tolist() == [0, 5, 10, 16, 21]
    log = choose_frames(params, 5, spacing="log").rows.tolist()
    assert log[0] == 0 and log[-1] == 21 and log[1] == 1 and np.all(np.diff(log) > 0)
    still = np.zeros((11, 3))  # a run that never moves: evenly spaced
    assert choose_frames(still, 3).rows.tolist() == [0, 5, 10]


def test_more_frames_than_rows_gives_every_row_once():
    choice = choose_frames(np.zeros((4, 2)), 10)
    assert choice.rows.tolist() == [0, 1, 2, 3] and choice.every_row
    assert not choose_frames(np.zeros((4, 2)), 4).every_row


@pytest.mark.parametrize("bad", [0, 1, -3, 2.5, "x"])
def test_bad_frame_counts(bad):
    with pytest.raises(BackpropvizError, match="at least 2"):
        check_frames(bad)


# -- the overview in motion ------------------------------------------------------------------------

def test_frames_equal_the_static_figure_at_their_steps(short):
    rows = [0, 3, 17, short.n_steps]
    scene = OverviewFigure.from_history(short, resolution=RES)
    frames = list(Animation(scene, rows).frames())
    static = OverviewFigure.from_history(short, resolution=RES)
    skip = label_box(scene)
    # the last frame is the run's static figure (only the corner label is added)
    assert differing(frames[-1], pixels(static.figure_), skip=skip) < 2e-4
    assert differing(frames[-1], pixels(static.figure_)) > 1e-4  # the label is there, and the check can fail
    # every frame, reached by moving the figure from other steps, is the static figure at its step
    for row, frame in zip(rows, frames):
        at = OverviewFigure.from_history(short, resolution=RES, step=row)
        assert differing(frame, pixels(at.figure_)) < 2e-4, row
    # and different steps are different pictures
    assert differing(frames[0], frames[1], skip=skip) > 1e-3


def test_the_overview_moves_its_artists(short):
    o = OverviewFigure.from_history(short, resolution=RES, step=5)
    assert len(o.contour_.path_.get_xdata()) == 6
    np.testing.assert_allclose(o.contour_.end_.get_xdata(), [short.params[5, 0]])
    assert [len(line.get_xdata()) for line in o.params_.lines_] == [6, 6, 6]
    assert o.params_.cursor_.get_visible() and o.surface_.current_.get_visible()
    assert "5 / 40" in o.frame_label_.get_text()
    w1, w2, b = short.params[5].astype(float)
    x, y = o.boundary_.lines_[-1].get_data()
    np.testing.assert_allclose(w1 * np.asarray(x) + w2 * np.asarray(y) + b, 0, atol=1e-9)
    assert o.boundary_.legend_.get_texts()[-1].get_text() == "boundary at epoch 5"
    o.update(short.n_steps)
    assert not o.params_.cursor_.get_visible() and not o.surface_.current_.get_visible()
    assert o.boundary_.legend_.get_texts()[-1].get_text() == "boundary after training"


def test_gif_file_decodes_with_its_frames_and_duration(short, tmp_path):
    rows = choose_frames(short.params, 7).rows
    scene = OverviewFigure.from_history(short, resolution=RES)
    path = Animation(scene, rows, fps=20).save(tmp_path / "overview.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overview.gif"]  # no temporary left
    with Image.open(path) as im:
        assert im.n_frames == 7
        durations, decoded = [], []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
            decoded.append(np.asarray(im.convert("RGB")))
    assert durations == [50] * 7  # 1/20 s each
    static = pixels(OverviewFigure.from_history(short, resolution=RES).figure_)
    # palette-reduced colours: close to the static figure, not equal
    assert np.abs(decoded[-1].astype(np.int16) - static).mean() < 3
    assert differing(decoded[-1], static, threshold=60, skip=label_box(scene)) < 2e-3


def test_japanese_frames_have_every_glyph(short):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        scene = OverviewFigure.from_history(short, resolution=RES, lang="ja")
        frames = list(Animation(scene, [0, 10, short.n_steps]).frames())
    assert not glyph_warnings(record)
    assert "ステップ" in scene.frame_label_.get_text() and "エポック" in scene.frame_label_.get_text()
    from backpropviz.i18n import t

    assert scene.boundary_.legend_.get_texts()[-1].get_text() == t("boundary_final", "ja")
    assert len(frames) == 3


def test_mp4_decodes_with_its_frames_and_duration(short, tmp_path):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    scene = OverviewFigure.from_history(short, resolution=RES, lang="en")
    path = Animation(scene, [0, 1, 2, 5, 10, 20, 40], fps=10, dpi=50).save(tmp_path / "overview.mp4")
    reader = ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    frames = [np.frombuffer(f, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for f in reader]
    assert len(frames) == 7 and meta["fps"] == 10
    assert meta["size"] == (700, 600)  # 14 x 12 inches at 50 dpi
    assert abs(meta["duration"] - 0.7) < 0.05
    assert meta["codec"].startswith("h264")


def test_notebook_object_shows_inline(short, monkeypatch):
    from backpropviz.render.animate import animation

    anim = animation(short, frames=3, dpi=30, resolution=RES)
    assert len(anim.rows) == 3 and anim.rows[0] == 0 and anim.rows[-1] == short.n_steps
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        pass
    else:  # with the video extra: an HTML5 video
        html = anim._repr_html_()
        assert html.startswith("<video") and 'type="video/mp4"' in html and "base64," in html
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # without the video extra: the GIF
    html = anim._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,')
    import base64

    import io

    gif = base64.b64decode(html.split("base64,")[1].split('"')[0])
    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 3


# -- the command -----------------------------------------------------------------------------------

def test_animate_command_writes_one_file_per_view(cli, short_file, tmp_path):
    out = tmp_path / "anim"
    r = cli("animate", short_file, "--frames", 6, "--fps", 12.5, "--out", out, "--dpi", 40,
            "--surface-resolution", RES)
    assert r.code == 0, r
    assert r.out.splitlines()[-1] == f"wrote {out / 'overview.gif'}"
    assert "6 frames" in r.out and "steps 0 to 40" in r.out
    with Image.open(out / "overview.gif") as im:
        assert im.n_frames == 6 and im.size == (560, 480) and im.info["duration"] == 80


def test_more_frames_than_steps_says_so_and_uses_every_step(cli, tmp_path):
    out = tmp_path / "anim"
    r = cli("animate", "--epochs", 5, "--frames", 50, "--out", out, "--dpi", 30, "--lang", "en",
            "--surface-resolution", RES)
    assert r.code == 0, r
    assert "note: asked for 50 frames, but the run has 6 rows" in r.err
    with Image.open(out / "overview.gif") as im:
        assert im.n_frames == 6


@pytest.mark.parametrize("args, fragment", [
    (["--frames", "0"], "--frames must be"),
    (["--views", "overview,nope"], "--views"),
    (["--fps", "0"], "--fps"),
    (["--format", "webm"], "--format"),
    (["--spacing", "cubic"], "--spacing"),
])
def test_bad_input_is_one_line_and_writes_nothing(cli, short_file, tmp_path, args, fragment):
    out = tmp_path / "anim"
    r = cli("animate", short_file, "--out", out, *args)
    one_line_error(r, fragment)
    assert not out.exists()


def test_unwritable_out_is_one_line(cli, short_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(cli("animate", short_file, "--out", blocker), "is a file")
    assert blocker.read_text() == "x"


def test_mp4_without_imageio_ffmpeg_says_how_to_install_it(cli, short_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    out = tmp_path / "anim"
    r = cli("animate", short_file, "--format", "mp4", "--out", out)
    one_line_error(r, "pip install 'backpropviz[video]'")
    assert not out.exists()


def test_a_failed_encoding_leaves_nothing_half_written(short, tmp_path, monkeypatch):
    anim = Animation(OverviewFigure.from_history(short, resolution=RES), [0, 5, short.n_steps], dpi=30)
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(BackpropvizError, match="cannot write"):
        anim.save(tmp_path / "overview.gif")
    assert list(tmp_path.iterdir()) == []


# -- networks --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def xor_mlp():
    return train(RunConfig(data="xor", model="mlp:4", activation="tanh", epochs=150))


def corner_box(scene, pad=3):
    fig = scene.figure_
    box = scene.label_.get_window_extent(fig.canvas.get_renderer())
    height = int(fig.bbox.height)
    return (int(box.x0) - pad, height - int(box.y1) - pad, int(box.x1) + pad, height - int(box.y0) + pad)


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_probability_frames_equal_the_static_view(xor_mlp, lang):
    from backpropviz.render.animate import CornerLabel
    from backpropviz.render.probability import ProbabilityMapDisplay

    rows = choose_frames(xor_mlp.params, 5).rows
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        display = ProbabilityMapDisplay.for_animation(xor_mlp, rows, resolution=40, lang=lang)
        scene = CornerLabel(display, xor_mlp, lang, ax=display.axes_[0])
        frames = list(Animation(scene, rows).frames())
        static = ProbabilityMapDisplay.for_animation(xor_mlp, rows[-1:], resolution=40, lang=lang)
        still = pixels(static.figure_)
    assert not glyph_warnings(record)
    assert differing(frames[-1], still, skip=corner_box(scene)) < 5e-4
    assert differing(frames[0], still, skip=corner_box(scene)) > 0.05  # the start is another picture
    # the map shown is the model's at that row: the image holds the start's probabilities
    scene.update(0)
    from backpropviz.analysis.views import input_plane, probability_maps_at_rows

    np.testing.assert_allclose(display.images_[0].get_array(),
                               probability_maps_at_rows(xor_mlp, [0], input_plane(xor_mlp, 40))[0])


def test_animate_command_for_a_network(cli, xor_mlp, tmp_path):
    path = tmp_path / "xor.npz"
    xor_mlp.save(path)
    r = cli("animate", path, "--frames", 4, "--out", tmp_path / "anim", "--plane-resolution", 30, "--dpi", 50)
    assert r.code == 0, r
    with Image.open(tmp_path / "anim" / "probability.gif") as im:
        assert im.n_frames == 4 and im.size == (400, 320)
    one_line_error(cli("animate", path, "--views", "overview", "--out", tmp_path / "other"), "perceptron")
    assert not (tmp_path / "other").exists()


def test_network_frames_equal_the_static_view_and_follow_the_weights(xor_mlp):
    from backpropviz.analysis.views import layers
    from backpropviz.render.animate import CornerLabel
    from backpropviz.render.network import NetworkDiagramDisplay

    rows = [0, 20, xor_mlp.n_steps]
    display = NetworkDiagramDisplay.for_animation(xor_mlp)
    scene = CornerLabel(display, xor_mlp, "en", ax=display.axes_[0])
    frames = list(Animation(scene, rows).frames())
    still = pixels(NetworkDiagramDisplay.for_animation(xor_mlp).figure_)
    assert differing(frames[-1], still, skip=corner_box(scene)) < 5e-4
    assert differing(frames[0], still, skip=corner_box(scene)) > 1e-3
    # at row 20 the printed values and the line widths are that row's weights
    scene.update(20)
    first = layers(xor_mlp.param_names)[0]
    w = xor_mlp.params[20][first.weight].astype(float)
    for (layer, i, j), (_, text) in zip(display.weight_label_keys_[0], display.weight_labels_[0]):
        if layer == 0:
            assert text.get_text() == f"{w[i, j]:.2f}".replace("-0.00", "0.00")
    widths = sorted(np.atleast_1d(display.edges_[0].get_linewidth()))
    from backpropviz.render.network import edge_width

    weights = np.concatenate([xor_mlp.params[20][layer.weight].ravel() for layer in layers(xor_mlp.param_names)])
    np.testing.assert_allclose(widths, np.sort(edge_width(weights, display.largest_weight)))
    assert display.axes_[0].title.get_text() == "epoch 20"


# -- the race --------------------------------------------------------------------------------------

def test_compare_animate_races_the_runs_and_ends_on_the_static_figure(cli, tmp_path):
    out = tmp_path / "race"
    r = cli("compare", "--data", "xor", "--model", "mlp:3", "--vary", "optimizer=sgd,adam", "--lr", "0.1",
            "--epochs", 30, "--resolution", 15, "--out", out, "--animate", "gif", "--frames", 6, "--fps", 10,
            "--lang", "en")
    assert r.code == 0, r
    assert f"wrote {out / 'compare.gif'}" in r.out.splitlines()
    with Image.open(out / "compare.gif") as im:
        assert im.n_frames == 6 and im.info["duration"] == 100
        im.seek(5)
        last = np.asarray(im.convert("RGB"))
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
    with Image.open(out / "compare.png") as png:
        static = np.asarray(png.convert("RGB"))
    corner = (0, 0, 160, 28)  # "epoch 30 / 30"
    assert np.abs(last.astype(np.int16) - static).mean() < 3
    assert differing(last, static, threshold=60, skip=corner) < 2e-3
    assert differing(first, static, threshold=60, skip=corner) > 2e-3  # the paths and curves had not grown yet


def test_race_frames_are_epochs_spaced_by_every_runs_movement():
    from backpropviz.analysis.frames import choose_race_frames

    runs = [train(RunConfig(data="xor", model="mlp:3", epochs=40, optimizer=o, lr=0.1)) for o in ("sgd", "adam")]
    choice = choose_race_frames(runs, 8)
    assert choice.rows[0] == 0 and choice.rows[-1] == 40 and len(choice.rows) == 8
    assert choose_race_frames(runs, 100).every_row


def test_compare_animate_bad_format_is_one_line(cli, tmp_path):
    one_line_error(cli("compare", "--vary", "lr=0.1,0.5", "--epochs", 5, "--out", tmp_path / "x",
                       "--animate", "avi"), "--animate")
    assert not (tmp_path / "x").exists()


def test_hidden_frames_equal_the_static_view_and_follow_the_units(xor_mlp):
    from backpropviz.analysis.views import hidden_activations, input_plane
    from backpropviz.render.animate import CornerLabel
    from backpropviz.render.hidden import HiddenUnitsDisplay

    display = HiddenUnitsDisplay.for_animation(xor_mlp, resolution=30, lang="ja")
    scene = CornerLabel(display, xor_mlp, "ja")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        frames = list(Animation(scene, [0, 30, xor_mlp.n_steps]).frames())
    assert not glyph_warnings(record)
    still = pixels(HiddenUnitsDisplay.for_animation(xor_mlp, resolution=30, lang="ja").figure_)
    assert differing(frames[-1], still, skip=corner_box(scene)) < 5e-4
    assert differing(frames[0], still, skip=corner_box(scene)) > 1e-2
    scene.update(30)
    outputs = hidden_activations(xor_mlp, 30, input_plane(xor_mlp, 30))[0]
    for unit, image in enumerate(display.thumbnails_):
        np.testing.assert_allclose(image.get_array(), outputs[unit])
    assert "30" in display.suptitle_.get_text()


def test_landscape_frames_equal_the_static_figure(short):
    from backpropviz.analysis.landscape import plane
    from backpropviz.render.animate import CornerLabel
    from backpropviz.render.landscape import LandscapeFigure

    land = plane(short, method="pca", resolution=15)
    scene = CornerLabel(LandscapeFigure(land, lang="en"), short, "en")
    frames = list(Animation(scene, [0, 12, short.n_steps]).frames())
    still = pixels(LandscapeFigure(land, lang="en").figure_)
    assert differing(frames[-1], still, skip=corner_box(scene)) < 5e-4
    assert differing(frames[0], still, skip=corner_box(scene)) > 2e-4
    scene.update(12)
    view, fidelity = scene.display.view_, scene.display.fidelity_
    assert len(view.path_.get_xdata()) == 13
    np.testing.assert_allclose(view.end_.get_xdata(), [land.path[12, 0]])
    assert fidelity.cursor_.get_visible() and fidelity.cursor_.get_xdata()[0] == 12


def test_a_view_the_run_cannot_show_is_refused_before_any_frame(cli, short_file, tmp_path):
    out = tmp_path / "anim"
    one_line_error(cli("animate", short_file, "--views", "overview,hidden", "--out", out), "hidden layers")
    assert not out.exists()


def test_a_view_that_does_not_fit_the_options_stops_before_training_with_one_line(cli, tmp_path):
    r = cli("animate", "--data", "digits", "--model", "mlp:4", "--epochs", 2, "--views", "probability",
            "--out", tmp_path / "anim")
    one_line_error(r, "2 input features")  # no note about the loss before it, nothing trained
    assert not (tmp_path / "anim").exists()
