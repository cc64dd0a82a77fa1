"""The landscape/basins audit: verdicts that agree with their own numbers, planes that say what
they hold fixed, error messages that name the right option and real sizes, no raw warnings,
and the same line styles for the same curves in every figure."""

from __future__ import annotations

import subprocess
import sys

import matplotlib
import numpy as np
import pytest

from backpropviz.analysis.landscape import Landscape
from backpropviz.history import History

from clihelpers import one_line_error

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    from backpropviz.config import RunConfig
    from backpropviz.train import train

    path = tmp_path_factory.mktemp("audit") / "h.npz"
    train(RunConfig(epochs=300)).save(path)
    return path


def test_xor_lr30_verdict_is_misleading_and_matches_its_numbers(cli, tmp_path):
    from backpropviz.config import RunConfig
    from backpropviz.train import train

    history = train(RunConfig(data="xor", model="mlp:4", lr=30.0, epochs=200))
    history.save(tmp_path / "h.npz")
    out = tmp_path / "a"
    r = cli("landscape", tmp_path / "h.npz", "--out", out, "--views", "filled", "--no-curvature", "--lang", "en")
    assert r.code == 0, r
    land = Landscape.load(out / "landscape.npz")
    # The distance and the gap, computed here from the file and the run.
    params = history.params.astype(np.float64)
    np.testing.assert_allclose(land.path, params[:, :2])  # the params plane is the first two parameters
    centre = params[land.config["center_step"]]
    others = np.ones(params.shape[1], bool)
    others[:2] = False
    distance = np.linalg.norm(params[:, others] - centre[others], axis=1)
    extent = np.max(np.linalg.norm(params - centre, axis=1))
    train_loss = np.asarray(land.train_loss, float)
    gap = np.abs(np.asarray(land.path_loss, float) - train_loss) / np.ptp(train_loss)
    assert distance.max() / extent > 0.5 or gap.max() > 0.25  # the case is one the verdict must call out
    assert land.fidelity()[0] == "misleading"
    line = next(s for s in r.out.splitlines() if s.startswith("path:"))
    assert line.endswith("misleading"), line
    assert f"{gap.max():.1%}" in line and f"{distance.max() / extent:.1%}" in line


def test_few_but_large_exceptions_are_not_mostly_faithful():
    def land(path_loss, train_loss):
        n = len(train_loss)
        return Landscape(alpha=np.zeros(2), beta=np.zeros(2), loss=np.zeros((2, 2)), origin=np.zeros(3),
                         directions=np.eye(3)[:2], path=np.zeros((n, 2)), method="pca",
                         path_loss=np.asarray(path_loss, float), train_loss=np.asarray(train_loss, float),
                         path_residual=np.zeros(n), config={"path_extent": 1.0})

    train_loss = np.linspace(1.0, 0.0, 21)
    small = train_loss.copy()
    small[0] += 0.1
    assert land(small, train_loss).fidelity() == ("mostly", 1)
    big = train_loss.copy()
    big[0] += 0.9
    assert land(big, train_loss).fidelity() == ("misleading", 1)
    far = land(train_loss, train_loss)
    far.path_residual = np.full(21, 0.8)  # 80% of the extent off the plane, losses equal
    assert far.fidelity()[0] == "misleading"


def test_follow_path_says_the_match_is_by_construction(cli, tmp_path, saved_run):
    from backpropviz.render.landscape import residual_note

    out = tmp_path / "c"
    r = cli("landscape", saved_run, "--follow-path", "--resolution", "11", "--views", "filled", "--no-curvature",
            "--out", out, "--lang", "en")
    assert r.code == 0, r
    assert "by construction" in r.out and "not one slice" in r.out
    land = Landscape.load(out / "landscape.npz")
    assert land.fidelity()[0] == "construction"
    for lang in ("en", "ja"):
        note = residual_note(land, lang)
        assert not note.startswith("faithful")
    assert "by construction" in residual_note(land, "en")


def test_random_plane_names_the_parameters_its_directions_leave_fixed(cli, tmp_path, saved_run):
    from backpropviz.render.landscape import describe_plane, residual_note

    out = tmp_path / "d"
    r = cli("landscape", saved_run, "--method", "random", "--range", "1", "--resolution", "11",
            "--views", "filled", "--no-curvature", "--out", out, "--lang", "en")
    assert r.code == 0, r
    land = Landscape.load(out / "landscape.npz")
    h = History.load(saved_run)
    d = np.asarray(land.directions)
    still = [h.param_names[k] for k in range(d.shape[1]) if d[0, k] == 0 and d[1, k] == 0]
    assert still == ["b"]  # filter-normalised directions leave the bias out
    assert set(land.fixed) == set(still)
    assert land.fixed["b"] == pytest.approx(float(h.params[-1, h.index("b")]))
    assert "b=" in r.out and "zero in both directions" in r.out
    for lang in ("en", "ja"):
        title, subtitle = describe_plane(land, lang)
        assert "b = " in subtitle, subtitle
        assert "b = " in residual_note(land, lang)
    # +-1 does not hold this path: the figure and stdout say so
    assert "leaves" in residual_note(land, "en") and "leaves the plotted window" in r.out
    # the default window widens to hold the projected path, start included
    out2 = tmp_path / "d2"
    assert cli("landscape", saved_run, "--method", "random", "--resolution", "11", "--views", "filled",
               "--no-curvature", "--out", out2).code == 0
    land2 = Landscape.load(out2 / "landscape.npz")
    p = land2.path
    assert land2.alpha[0] <= p[:, 0].min() and p[:, 0].max() <= land2.alpha[-1]
    assert land2.beta[0] <= p[:, 1].min() and p[:, 1].max() <= land2.beta[-1]


def test_line_rows_out_of_range_name_line(cli, tmp_path, saved_run):
    r = cli("landscape", saved_run, "--line", "0,5000", "--out", tmp_path / "e")
    one_line_error(r, "--line", "5000", "[0, 300]")
    assert "--center-step" not in r.err


def _numbers_with_units(text):
    import re

    return [(float(v), u) for v, u in re.findall(r"([0-9.]+) (B|KiB|MiB|GiB)\b", text)]


def test_memory_messages_show_real_sizes_and_agree(cli, tmp_path, saved_run):
    r = cli("landscape", saved_run, "--memory-budget", "60KiB", "--out", tmp_path / "e")
    one_line_error(r, "largest resolution that fits is")
    assert r.err.count("--memory-budget") == 2  # the budget, and the advice once
    import re

    side = int(re.search(r"fits is (\d+)", r.err).group(1))
    assert side >= 2
    assert cli("landscape", saved_run, "--memory-budget", "60KiB", "--resolution", side, "--views", "contour",
               "--no-curvature", "--out", tmp_path / "ok").code == 0
    r = cli("landscape", saved_run, "--memory-budget", "60KiB", "--resolution", side + 1, "--out", tmp_path / "e")
    one_line_error(r, f"largest resolution that fits is {side}")
    r = cli("landscape", saved_run, "--memory-budget", "1KiB", "--out", tmp_path / "e")
    one_line_error(r, "raise --memory-budget to at least")
    assert "(or raise --memory-budget)" not in r.err
    sizes = _numbers_with_units(r.err)
    assert len(sizes) >= 3 and all(v > 0 for v, _ in sizes), r.err
    r = cli("basins", "--memory-budget", "1KiB", "--resolution", "8", "--out", tmp_path / "b")
    one_line_error(r, "1.0 KiB", "raise --memory-budget to at least")
    sizes = _numbers_with_units(r.err)
    assert len(sizes) >= 3 and all(v > 0 for v, _ in sizes), r.err
    assert "0 MiB" not in r.err


def test_blown_up_run_has_no_warnings_and_no_stability_claim(tmp_path):
    exe = [sys.executable, "-c", "import sys; from backpropviz.cli import main; sys.exit(main(sys.argv[1:]))"]
    p = subprocess.run(exe + ["landscape", "--lr", "1e30", "--epochs", "50", "--resolution", "11", "--out",
                              str(tmp_path / "b"), "--lang", "en"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert not [s for s in p.stderr.splitlines() if "Warning" in s], p.stderr
    line = next(s for s in p.stdout.splitlines() if s.startswith("curvature"))
    assert "stable)" not in line.replace("is stable)", "") and "zero or undefined" in line
    assert next(s for s in p.stdout.splitlines() if s.startswith("path:")).endswith("misleading")


def test_3d_view_uses_the_fidelity_panels_styles(saved_run):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from backpropviz.analysis.landscape import param_plane
    from backpropviz.render.landscape import landscape_figure
    from backpropviz.render.overview import OverviewFigure

    h = History.load(saved_run)
    land = param_plane(h, resolution=9)
    fig, view, fidelity = landscape_figure(land, "3d")
    try:
        pairs = [(view.path_, fidelity.plane_line_), (view.train_line_, fidelity.train_line_)]
        for a, b in pairs:
            assert a.get_linestyle() == b.get_linestyle()
            assert to_rgba(a.get_color()) == to_rgba(b.get_color())
            assert a.get_label() == b.get_label()
        assert view.path_.get_linestyle() == "--" and view.train_line_.get_linestyle() == "-"
        labels = [t.get_text() for t in view.legend_.get_texts()]
        assert view.path_.get_label() in labels and view.train_line_.get_label() in labels
    finally:
        plt.close(fig)
    overview = OverviewFigure.from_history(h, landscape=land, lang="en")
    try:
        graph4 = overview.surface_
        assert graph4.projected_line_.get_linestyle() == view.path_.get_linestyle()
        assert to_rgba(graph4.projected_line_.get_color()) == to_rgba(view.path_.get_color())
        assert graph4.actual_line_.get_linestyle() == view.train_line_.get_linestyle()
        assert to_rgba(graph4.actual_line_.get_color()) == to_rgba(view.train_line_.get_color())
    finally:
        plt.close(overview.figure_)


def test_curvature_figure_has_no_literal_lambda_and_basins_say_100(saved_run):
    import matplotlib.pyplot as plt

    from backpropviz.i18n import t
    from backpropviz.render.landscape import CurvatureDisplay

    for lang in ("en", "ja"):
        d = CurvatureDisplay.from_history(History.load(saved_run), lang=lang)
        try:
            texts = [d.ax_.get_ylabel(), d.note_.get_text()] + [x.get_text() for x in d.ax_.get_legend().get_texts()]
            assert not any("λ_max" in x for x in texts)
            assert "$\\lambda_{max}$" in d.lambda_line_.get_label()
            assert "$\\lambda_{min}$" in d.min_line_.get_label()
            d.figure_.canvas.draw()  # mathtext parses in both languages
        finally:
            plt.close(d.figure_)
    assert "≥" not in t("basins_fix_outcome_full", "en") and "100%" in t("basins_fix_outcome_full", "en")


@pytest.mark.parametrize("resolution", [8, 9])
def test_basins_grid_holds_the_runs_start(resolution):
    from backpropviz.analysis.basins import start_centred_axis

    for start, half in ((-1.0, 8.0), (0.3, 1.0)):
        axis = start_centred_axis(start, half, resolution)
        assert len(axis) == resolution
        assert np.min(np.abs(axis - start)) < 1e-12
        np.testing.assert_allclose(np.diff(axis), np.diff(axis)[0])
        assert axis[0] == pytest.approx(start - half)
        assert axis[-1] <= start + half + 1e-12
