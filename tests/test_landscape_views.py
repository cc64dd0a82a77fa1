"""Readable landscape views: planes to scale (equal aspect where the axes share a unit), few
contour labels that tell their levels apart and stay inside the axes, 3D ticks that do not run
together and axis labels clear of them, in English and Japanese."""

from __future__ import annotations

import itertools

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from backpropviz.analysis import landscape as L
from backpropviz.analysis.landscape import Landscape
from backpropviz.config import RunConfig
from backpropviz.render.landscape import LandscapeDisplay, landscape_figure
from backpropviz.train import train


@pytest.fixture(scope="module")
def article():
    return train(RunConfig(epochs=200))


@pytest.fixture(scope="module")
def pca_plane():
    """The issue's mini-batch run on its PCA plane: a window about three times wider than tall."""
    h = train(RunConfig(data="xor", model="mlp:4", activation="tanh", optimizer="adam", lr=0.05, epochs=200,
                        batch_size=2))
    return L.plane(h, "pca", resolution=21)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def units_per_pixel(ax):
    """Data units per pixel along x and along y, as drawn."""
    ax.figure.canvas.draw()
    (x0, y0), (x1, _), (_, y1) = ax.transData.transform([(0, 0), (1, 0), (0, 1)])
    return 1 / abs(x1 - x0), 1 / abs(y1 - y0)


def window(land):
    return abs(land.alpha[-1] - land.alpha[0]), abs(land.beta[-1] - land.beta[0])


# -- aspect ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["contour", "filled", "heatmap"])
def test_planes_sharing_a_unit_are_drawn_to_equal_scale(pca_plane, kind):
    dx, dy = window(pca_plane)
    assert dx / dy > 2  # a case where a square panel would stretch PC2
    fig, view, _ = landscape_figure(pca_plane, kind)
    ux, uy = units_per_pixel(view.ax_)
    assert ux == pytest.approx(uy, rel=0.01)
    fig, view, _ = landscape_figure(pca_plane, kind, aspect="auto")  # the opt-out fills the panel
    ux, uy = units_per_pixel(view.ax_)
    assert ux / uy > 1.5


def test_3d_box_has_the_windows_proportions(pca_plane):
    dx, dy = window(pca_plane)
    view = LandscapeDisplay.from_landscape(pca_plane, kind="3d")
    bx, by, _ = view.ax_.get_box_aspect()
    assert bx / by == pytest.approx(dx / dy, rel=1e-6)
    auto = LandscapeDisplay.from_landscape(pca_plane, kind="3d", aspect="auto")
    bx, by, _ = auto.ax_.get_box_aspect()
    assert bx == pytest.approx(by)


def test_given_directions_do_not_share_a_unit(article):
    d = np.array([[1.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    land = L.plane(article, "custom", directions=d, resolution=9, x_range=(-6, 6), y_range=(-0.5, 0.5))
    ux, uy = units_per_pixel(LandscapeDisplay.from_landscape(land, kind="filled").ax_)
    assert ux / uy > 2  # coefficients of two different vectors: not drawn to one scale


def test_a_window_too_long_for_equal_scale_says_it_is_not_to_scale(article):
    land = L.param_plane(article, x_range=(-60, 60), y_range=(-2, 2), resolution=9)  # 30 : 1
    en = LandscapeDisplay.from_landscape(land, kind="filled", lang="en")
    assert "not to the same scale" in en.ax_.get_title() and "30 times" in en.ax_.get_title()
    ja = LandscapeDisplay.from_landscape(land, kind="filled", lang="ja")
    assert "縮尺は異なる" in ja.ax_.get_title()
    ux, uy = units_per_pixel(en.ax_)
    assert ux / uy > 5
    square = L.param_plane(article, resolution=9)
    assert "scale" not in LandscapeDisplay.from_landscape(square, kind="filled").ax_.get_title()


def test_overview_slice_is_drawn_to_equal_scale(article):
    from backpropviz.render.surface import LossContourDisplay

    land = L.param_plane(article, x_range=(-4, 12), y_range=(-2, 6), resolution=9)
    ux, uy = units_per_pixel(LossContourDisplay.from_landscape(land).ax_)
    assert ux == pytest.approx(uy, rel=0.01)


def test_aspect_option_on_the_command_line(cli, tmp_path, article):
    article.save(tmp_path / "h.npz")
    r = cli("landscape", tmp_path / "h.npz", "--aspect", "square", "--out", tmp_path / "o")
    assert r.code == 2 and "--aspect" in r.err and "equal" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "landscape.npz").exists()
    r = cli("landscape", tmp_path / "h.npz", "--aspect", "auto", "--views", "filled", "--resolution", "5",
            "--no-curvature", "--out", tmp_path / "o")
    assert r.code == 0, r


# -- contour labels ----------------------------------------------------------------------------
def inside(ax, texts):
    ax.figure.canvas.draw()
    box = ax.get_window_extent()
    renderer = ax.figure.canvas.get_renderer()
    for text in texts:
        b = text.get_window_extent(renderer)
        assert box.x0 <= b.x0 and b.x1 <= box.x1 and box.y0 <= b.y0 and b.y1 <= box.y1, text.get_text()


def apart(texts, renderer):
    boxes = [t.get_window_extent(renderer) for t in texts]
    return not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_contour_labels_are_few_inside_the_axes_and_apart(pca_plane, article, lang):
    for land in (pca_plane, L.param_plane(article, resolution=31)):
        view = LandscapeDisplay.from_landscape(land, kind="contour", lang=lang)
        labels = view.labels_
        assert 2 <= len(labels) <= 6
        inside(view.ax_, labels)
        assert apart(labels, view.figure_.canvas.get_renderer())
        values = [float(t.get_text()) for t in labels]
        assert len(set(values)) == len(values)


def test_contour_labels_on_a_nearly_flat_plane_tell_their_levels_apart():
    a = np.linspace(-1, 1, 21)
    A, B = np.meshgrid(a, a)
    loss = 0.6931472 + 1e-6 * (A ** 2 + 0.5 * B ** 2)  # differs from ln 2 in the 7th digit
    land = Landscape(alpha=a, beta=a, loss=loss, origin=np.zeros(3), directions=np.eye(3)[:2],
                     path=np.zeros((2, 2)), method="pca")
    view = LandscapeDisplay.from_landscape(land, kind="contour")
    texts = [t.get_text() for t in view.labels_]
    assert len(texts) >= 3 and len(set(texts)) == len(texts)
    levels = np.asarray(view.surface_.levels)
    step = float(np.min(np.diff(levels)))
    for text in texts:  # each label names a drawn level, to within its spacing
        assert np.min(np.abs(levels - float(text))) < step
    # and no more digits than that takes: one fewer would make two labels equal
    digits = max(len(t.replace("0.", "", 1).lstrip("0").replace(".", "")) for t in texts)
    fewer = {f"{float(t):.{digits - 1}g}" for t in texts}
    assert len(fewer) < len(texts)


# -- 3D ticks and labels -------------------------------------------------------------------------
def visible_ticks(axis, lo, hi):
    return [v for v in axis.get_majorticklocs() if lo - 1e-9 <= v <= hi + 1e-9]


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("method", ["random", "pca"])
def test_3d_tick_labels_do_not_run_together_and_axis_labels_clear_them(article, lang, method):
    land = L.plane(article, method, resolution=15)
    fig, view, _ = landscape_figure(land, "3d", lang=lang)
    ax = view.ax_
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    limits = (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())
    for axis, (lo, hi) in zip((ax.xaxis, ax.yaxis, ax.zaxis), limits):
        assert len(visible_ticks(axis, lo, hi)) <= 6
        labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
        assert apart(labels, renderer), [t.get_text() for t in labels]
        # The axis label is drawn along its (slanted) axis, so its upright bounding box says little:
        # its centre line must stay half a line's height clear of every tick label.
        centre = axis.label.get_window_extent(renderer)
        cx, cy = (centre.x0 + centre.x1) / 2, (centre.y0 + centre.y1) / 2
        half = axis.label.get_fontsize() * fig.dpi / 72 / 2
        for t in labels:
            b = t.get_window_extent(renderer)
            assert not (b.x0 - half < cx < b.x1 + half and b.y0 - half < cy < b.y1 + half), \
                (axis.label.get_text(), t.get_text())


def test_contour_labels_keep_clear_of_the_path_and_its_markers(article):
    land = L.param_plane(article, resolution=31)
    view = LandscapeDisplay.from_landscape(land, kind="contour")
    ax = view.ax_
    to_axes = ax.transData + ax.transAxes.inverted()
    along = np.linspace(0, len(land.path) - 1, 400)
    line = np.stack([np.interp(along, np.arange(len(land.path)), land.path[:, k]) for k in range(2)], axis=1)
    line = to_axes.transform(line)
    assert view.labels_
    for text in view.labels_:
        at = to_axes.transform([text.get_position()])[0]
        assert np.min(np.linalg.norm(line - at, axis=1)) >= 0.07 - 1e-9, text.get_text()
