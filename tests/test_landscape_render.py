"""Landscape, line, curvature and convergence-map views: artists, labels and words on the figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from backpropviz.analysis import landscape as L
from backpropviz.analysis.basins import basin_map
from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.render.basins import BasinsDisplay, basins_figure
from backpropviz.render.figures import figure_bytes
from backpropviz.render.landscape import (CurvatureDisplay, LandscapeDisplay, LossLineDisplay,
                                          PathFidelityDisplay, landscape_figure)
from backpropviz.train import train


@pytest.fixture(scope="module")
def article():
    return train(RunConfig(epochs=200))


def texts(fig):
    out = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return " | ".join(out)


@pytest.mark.parametrize("kind", ["contour", "filled", "heatmap", "3d"])
def test_every_view_draws_the_path_and_says_what_is_fixed(article, kind):
    land = L.param_plane(article, resolution=15)
    fig, view, fidelity = landscape_figure(land, kind)
    assert view.ax_.figure is fig and fidelity.ax_.figure is fig
    x, y = view.path_.get_data_3d()[:2] if kind == "3d" else view.path_.get_data()
    np.testing.assert_allclose(x, land.path[:, 0])
    np.testing.assert_allclose(y, land.path[:, 1])
    words = texts(fig)
    assert "b = " in words and "fixed" in words
    # the whole set's loss at each row (full batch: the loss training saw, to float32 rounding)
    # and the projection residual are on the figure; no batch curve for a full-batch run
    np.testing.assert_allclose(fidelity.train_line_.get_ydata(), land.set_loss)
    np.testing.assert_allclose(land.set_loss, land.train_loss, rtol=1e-6)
    assert fidelity.batch_line_ is None
    np.testing.assert_allclose(fidelity.plane_line_.get_ydata(), land.path_loss)
    np.testing.assert_allclose(fidelity.residual_line_.get_ydata(), land.path_residual)
    assert "misleading" in fidelity.note_.get_text()  # b moved: the picture misleads, and says so
    assert (view.colorbar_ is None) == (kind == "3d")
    if kind == "heatmap":
        assert isinstance(view.surface_.norm, matplotlib.colors.LogNorm)
    assert figure_bytes(fig, "png")[:4] == b"\x89PNG"


def test_pca_axes_report_explained_variance(article):
    land = L.plane(article, "pca", resolution=10)
    view = LandscapeDisplay.from_landscape(land)
    share = land.explained_variance[0]
    assert f"{share:.1%}" in view.ax_.get_xlabel()
    follow = L.param_plane(article, follow_path=True, resolution=8)
    assert "by construction" in PathFidelityDisplay.from_landscape(follow).note_.get_text()


def test_japanese_labels_have_glyphs(article, recwarn):
    land = L.plane(article, "random", resolution=10)
    fig, view, _ = landscape_figure(land, "filled", lang="ja")
    figure_bytes(fig, "png")
    assert "ランダム" in view.ax_.get_title()
    assert not [w for w in recwarn if "Glyph" in str(w.message)]


def test_line_and_curvature_views(article):
    line = L.line_between_steps(article)
    d = LossLineDisplay.from_line(line)
    np.testing.assert_allclose(d.line_.get_ydata(), line.loss)
    c = CurvatureDisplay.from_history(article)
    assert c.edge_line_.get_ydata()[0] == pytest.approx(2 / 0.5)
    assert "2/$\\lambda_{max}$" in c.note_.get_text()


def test_basin_views():
    bm = basin_map(RunConfig(epochs=60), resolution=5, span=3.0)
    fig, displays = basins_figure(bm)
    assert [d.kind for d in displays][:3] == ["loss", "steps", "outcome"]
    assert "b start at 0" in fig._suptitle.get_text()
    with pytest.raises(BackpropvizError, match="unknown basin view"):
        BasinsDisplay(bm, kind="spiral")
    with pytest.raises(BackpropvizError, match="unknown landscape view"):
        LandscapeDisplay(L.param_plane(train(RunConfig(epochs=2)), resolution=3), kind="spiral")
