"""The faithfulness verdict: what it compares (the whole training set's loss at each recorded row,
not a mini-batch's), each of its thresholds from just inside and just outside, and the verdict
end to end through the CLI and the figure's words in English and Japanese."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backpropviz.analysis.landscape import Landscape
from backpropviz.config import RunConfig
from backpropviz.history import History
from backpropviz.render.landscape import PathFidelityDisplay, landscape_figure, residual_note
from backpropviz.train import model_at, train


# The run: XOR, 2-4-1 tanh, Adam, batches of 2 of the 4 rows.
MINIBATCH = dict(data="xor", model="mlp:4", activation="tanh", optimizer="adam", lr=0.05, epochs=200,
                 batch_size=2)


def whole_set_loss(history: History, row: int) -> float:
    """BCE of the model at ``params[row]`` on every training row, in plain PyTorch (float64)."""
    model = model_at(history, row).double()
    X = torch.from_numpy(np.asarray(history.X, dtype=np.float64))
    y = torch.from_numpy(np.asarray(history.y, dtype=np.float64)).reshape(-1, 1)
    with torch.no_grad():
        return float(F.binary_cross_entropy(model(X), y))


@pytest.fixture(scope="module")
def minibatch_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("minibatch") / "x.npz"
    train(RunConfig(**MINIBATCH)).save(path)
    return path


@pytest.fixture(scope="module")
def article_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("article") / "h.npz"
    train(RunConfig(epochs=300)).save(path)
    return path


# -- what the verdict compares -------------------------------------------------------------------
def test_minibatch_landscape_stores_the_whole_set_loss_along_the_path(minibatch_file, cli, tmp_path):
    history = History.load(minibatch_file)
    assert history.batches is not None  # the steps saw 2 of the 4 rows
    r = cli("landscape", minibatch_file, "--method", "pca", "--out", tmp_path, "--views", "filled",
            "--no-curvature", "--lang", "en")
    assert r.code == 0, r
    land = Landscape.load(tmp_path / "landscape.npz")
    rows = [0, 1, 57, 200, len(history.params) - 1]
    np.testing.assert_allclose(land.set_loss[rows], [whole_set_loss(history, k) for k in rows], rtol=1e-5)
    # train_loss is still what each step saw: its batch's loss, which is not the whole set's
    np.testing.assert_allclose(land.train_loss[:-1], history.loss, rtol=0)
    assert np.max(np.abs(land.train_loss[:-1] - land.set_loss[:-1])) > 0.02
    assert land.minibatch


def test_minibatch_verdict_compares_the_plane_with_the_whole_set_loss(minibatch_file, cli, tmp_path):
    """The plane holds the path within about 3% of the whole-set loss's range: faithful, not the
    'misleading' that comparing with the noisy batch losses gave."""
    r = cli("landscape", minibatch_file, "--method", "pca", "--out", tmp_path, "--views", "filled",
            "--no-curvature", "--lang", "en")
    assert r.code == 0, r
    land = Landscape.load(tmp_path / "landscape.npz")
    gap = np.abs(land.path_loss - land.set_loss) / np.ptp(land.set_loss)  # computed here, from the file
    assert gap.max() < 0.05
    assert land.fidelity() == ("faithful", 0)
    line = next(s for s in r.out.splitlines() if s.startswith("path:"))
    assert line.endswith(": faithful") and "whole training set's loss" in line and f"{gap.max():.1%}" in line
    fig, _, fidelity = landscape_figure(land, "filled", lang="en")
    assert fidelity.note_.get_text().startswith("faithful:")
    # both curves are drawn, each saying what it is
    np.testing.assert_allclose(fidelity.train_line_.get_ydata(), land.set_loss)
    np.testing.assert_allclose(fidelity.batch_line_.get_ydata(), land.train_loss)
    assert "whole training set" in fidelity.train_line_.get_label()
    assert "batch loss" in fidelity.batch_line_.get_label()
    ja = PathFidelityDisplay.from_landscape(land, lang="ja")
    assert "訓練データ全体" in ja.train_line_.get_label() and "バッチの損失" in ja.batch_line_.get_label()
    assert "訓練データ全体の損失" in ja.note_.get_text()
    plt.close("all")


def test_overview_curve_of_a_minibatch_perceptron_is_the_whole_set_loss_and_says_so():
    from backpropviz.i18n import t
    from backpropviz.render.surface import LossSurface3DDisplay

    history = train(RunConfig(epochs=40, batch_size=2))
    display = LossSurface3DDisplay.from_history(history, resolution=8, lang="en")
    heights = display.actual_line_.get_data_3d()[2]
    rows = [0, 5, len(history.params) - 1]
    np.testing.assert_allclose(heights[rows], [whole_set_loss(history, k) for k in rows], rtol=1e-5)
    assert display.actual_line_.get_label() == t("path_actual_full", "en")
    assert "whole training set" in display.actual_line_.get_label()
    assert "whole training set's loss at each step's parameters" in display.note_.get_text()
    assert "only its batch" in display.note_.get_text()
    ja = LossSurface3DDisplay.from_history(history, resolution=8, lang="ja")
    assert "訓練データ全体の損失" in ja.actual_line_.get_label()
    assert "バッチの損失だけ" in ja.note_.get_text()
    full = LossSurface3DDisplay.from_history(train(RunConfig(epochs=40)), resolution=8, lang="en")
    assert full.actual_line_.get_label() == "loss training actually saw"
    assert "batch" not in full.note_.get_text()
    plt.close("all")


# -- each threshold from both sides --------------------------------------------------------------
def synthetic(delta, residual=0.0, n=50):
    """A landscape whose reference loss runs from 1 to 0 (range 1): the loss under the path is
    off by ``delta`` (per row, or one number) and the path lies ``residual`` of its extent away."""
    ref = np.linspace(1.0, 0.0, n)
    return Landscape(alpha=np.zeros(2), beta=np.zeros(2), loss=np.zeros((2, 2)), origin=np.zeros(3),
                     directions=np.eye(3)[:2], path=np.zeros((n, 2)), method="pca",
                     path_loss=ref + np.broadcast_to(delta, (n,)), train_loss=ref, set_loss=ref,
                     path_residual=np.full(n, float(residual)), config={"path_extent": 1.0})


def rows_off(k, by, n=50):
    delta = np.zeros(n)
    delta[:k] = by
    return delta


@pytest.mark.parametrize("delta, residual, expected", [
    # a row counts as off above 5% of the range
    (0.049, 0.0, ("faithful", 0)),
    (rows_off(1, 0.051), 0.0, ("mostly", 1)),
    # a few rows off is 'mostly' up to a tenth of the rows (5 of 50), misleading above
    (rows_off(5, 0.1), 0.0, ("mostly", 5)),
    (rows_off(6, 0.1), 0.0, ("misleading", 6)),
    # one row off counts as a small exception up to a quarter of the range
    (rows_off(1, 0.249), 0.0, ("mostly", 1)),
    (rows_off(1, 0.251), 0.0, ("misleading", 1)),
    # the path may lie up to half its extent from the plane
    (0.0, 0.49, ("faithful", 0)),
    (0.0, 0.51, ("misleading", 0)),
    (rows_off(1, 0.1), 0.49, ("mostly", 1)),
    (rows_off(1, 0.1), 0.51, ("misleading", 1)),
])
def test_each_threshold_from_just_inside_and_just_outside(delta, residual, expected):
    assert synthetic(delta, residual).fidelity() == expected


def test_verdict_compares_with_the_whole_set_loss_not_the_batch_loss():
    land = synthetic(0.0)
    land.train_loss = land.set_loss + 0.3 * np.sin(np.arange(50))  # noisy batch losses
    assert land.fidelity() == ("faithful", 0)
    land.set_loss = None  # an older file without it: the only loss it has
    assert land.fidelity()[0] == "misleading"


@pytest.mark.parametrize("delta, residual, words", [
    (0.049, 0.0, ("faithful:", "忠実:")),
    (rows_off(1, 0.1), 0.0, ("mostly faithful:", "おおむね忠実:")),
    (rows_off(1, 0.251), 0.0, ("misleading:", "誤解を招く:")),
])
def test_the_figure_says_the_verdict_in_both_languages(delta, residual, words):
    land = synthetic(delta, residual)
    assert residual_note(land, "en").startswith(words[0])
    assert residual_note(land, "ja").startswith(words[1])


# -- end to end: the CLI line and the figure's note agree, in both languages ----------------------
@pytest.mark.parametrize("run, method, verdict", [
    (dict(data="or", lr=0.1, epochs=300), "pca", "faithful"),
    (dict(epochs=300), "pca", "mostly"),
    (dict(epochs=300), "params", "misleading"),
])
def test_each_verdict_end_to_end_in_both_languages(cli, tmp_path, run, method, verdict):
    words = {"faithful": ("faithful", "忠実"), "mostly": ("mostly faithful", "おおむね忠実"),
             "misleading": ("misleading", "誤解を招く")}[verdict]
    history_file = tmp_path / "h.npz"
    train(RunConfig(**run)).save(history_file)
    for lang, word in zip(("en", "ja"), words):
        out = tmp_path / lang
        r = cli("landscape", history_file, "--method", method, "--resolution", "9", "--views", "filled",
                "--no-curvature", "--out", out, "--lang", lang)
        assert r.code == 0, r
        land = Landscape.load(out / "landscape.npz")
        assert land.fidelity()[0] == verdict
        line = next(s for s in r.out.splitlines() if s.startswith(("path:", "経路:")))
        assert line.endswith(": " + word), line
        _, _, fidelity = landscape_figure(land, "filled", lang=lang)
        assert fidelity.note_.get_text().startswith(word + ":")
        plt.close("all")
