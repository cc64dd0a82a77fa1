"""--palette cvd: Okabe-Ito colours for categories, cividis for continuous maps, in every figure of
every command that draws; and in neither palette are two things told apart by red against green alone.

The references are written here, independent of render/palette.py: Okabe & Ito's eight colours,
and the Machado, Oliveira & Fernandes (2009) matrices that simulate protanopia and deuteranopia
(severity 1.0) on linear RGB.
"""

import numpy as np
import pytest
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, to_rgb, to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from backpropviz.render import figures, palette

OKABE_ITO = {"#000000", "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"}
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])


def linear(rgb):
    rgb = np.asarray(rgb, dtype=float)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def seen_with(matrix, colour):
    """sRGB ``colour`` as a reader with that deficiency sees it (sRGB, clipped)."""
    lin = np.clip(matrix @ linear(to_rgb(colour)), 0, 1)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def told_apart(a, b, threshold=0.25):
    """Whether readers with protanopia and with deuteranopia still see ``a`` and ``b`` as different."""
    return all(np.linalg.norm(seen_with(m, a) - seen_with(m, b)) > threshold for m in (PROTANOPIA, DEUTERANOPIA))


def test_the_simulation_loses_red_against_green_and_keeps_blue_against_orange():
    assert not told_apart("#2ca02c", "#d62728")  # matplotlib's green and red: alike for these readers
    assert told_apart("#0072B2", "#E69F00")


@pytest.mark.parametrize("name", list(palette.PALETTES))
def test_basins_solved_and_stuck_stay_apart_for_colour_blind_readers(name):
    with palette.use_palette(name):
        solved, stuck, diverged = (palette.color(k) for k in ("solved", "stuck", "diverged"))
    assert told_apart(solved, stuck) and told_apart(solved, diverged) and told_apart(stuck, diverged, 0.15)


def test_cvd_palette_is_okabe_ito_and_cividis():
    cvd = palette.get_palette("cvd")
    chromatic = {c.lower() for c in [*cvd.roles.values(), *(c for cs in cvd.lists.values() for c in cs)]
                 if np.ptp(to_rgb(c)) > 0.02}  # greys and white are not categories
    assert chromatic <= OKABE_ITO
    assert {name.removesuffix("_r") for name in cvd.maps.values()} == {"cividis"}


def test_unknown_palette_is_one_line_naming_the_choices(cli, tmp_path):
    from clihelpers import one_line_error

    result = cli("demo", "--palette", "rainbow", "--out", tmp_path)
    one_line_error(result, "--palette", "default, cvd", "'rainbow'")
    assert not list(tmp_path.iterdir())


@pytest.fixture
def drawn(monkeypatch):
    """Every figure the CLI saves, as saved."""
    saved = []
    save = figures.figure_bytes

    def spy(fig, fmt):
        data = save(fig, fmt)
        saved.append(fig)
        return data

    monkeypatch.setattr(figures, "figure_bytes", spy)
    return saved


def boundary_lines(fig):
    ax = fig.axes[0]  # Graph 1
    lines = {line.get_label(): line for line in ax.get_lines()}
    return lines["initial boundary"], lines["boundary after training"]


@pytest.mark.parametrize("name", list(palette.PALETTES))
def test_overview_first_and_last_boundary_differ_in_line_style(cli, drawn, tmp_path, name):
    assert cli("demo", "--palette", name, "--lang", "en", "--out", tmp_path).code == 0
    first, last = boundary_lines(drawn[0])
    assert first.get_linestyle() != last.get_linestyle()
    if name == "default":  # the article's colours are kept
        assert to_rgb(first.get_color()) == to_rgb("green") and to_rgb(last.get_color()) == to_rgb("red")
    else:
        assert told_apart(first.get_color(), last.get_color())


def colours_of(fig):
    """(categorical colours, colour-map names) of what a figure draws: line, marker, point and
    legend-patch colours; the maps of images, meshes and filled contours."""
    colours, maps = [], []
    for artist in fig.findobj():
        if not getattr(artist, "get_visible", lambda: True)():
            continue
        if isinstance(artist, ScalarMappable) and artist.get_array() is not None:
            cmap = artist.get_cmap()
            if isinstance(cmap, ListedColormap) and cmap.N <= 16:
                colours += [to_rgba(c) for c in cmap.colors]
            else:
                maps.append(cmap.name)
        elif isinstance(artist, Line2D):  # the line's colour where it has a line, the marker's where a marker
            colours += ([to_rgba(artist.get_color())] if artist.get_linestyle() not in ("None", "none", "") else [])
            colours += ([to_rgba(artist.get_markerfacecolor())] if artist.get_marker() not in ("None", "none", "")
                        else [])
        elif isinstance(artist, Patch) and artist.get_label() and not artist.get_label().startswith("_"):
            colours.append(to_rgba(artist.get_facecolor()))
        elif hasattr(artist, "get_offsets") and hasattr(artist, "get_facecolor") and artist.get_array() is None:
            colours += [tuple(c) for c in np.atleast_2d(artist.get_facecolor())]
    return colours, maps


def outside_palette(colours):
    """The chromatic colours that are neither Okabe-Ito nor taken from cividis (node colours, layer
    ramps); greys, white, black and transparent are fine."""
    from matplotlib import colormaps

    allowed = np.vstack([[to_rgb(c) for c in OKABE_ITO], colormaps["cividis"](np.linspace(0, 1, 1024))[:, :3]])
    odd = set()
    for rgba in colours:
        rgb = np.array(rgba[:3])
        if rgba[3] == 0 or np.ptp(rgb) <= 0.1:  # greys, including slightly bluish ones (#9ca3af)
            continue
        if np.abs(allowed - rgb).max(axis=1).min() > 0.01:
            odd.add(tuple(np.round(rgb, 3)))
    return odd


CASES = [
    ["demo"],
    ["run", "--data", "moons", "--n-samples", "40", "--model", "mlp:3", "--epochs", "4", "--batch-size", "8",
     "--test-fraction", "0.25", "--views", "all"],
    ["run", "--data", "iris", "--model", "mlp:3", "--loss", "ce", "--epochs", "3", "--views", "probability,network"],
    ["run", "--data", "digits", "--model", "mlp:4", "--epochs", "2", "--views", "first-layer"],
    ["run", "--data", "reg-gauss", "--n-samples", "60", "--model", "mlp:4", "--epochs", "5", "--views", "all"],
    ["compare", "--vary", "optimizer=sgd,adam,rmsprop", "--epochs", "20"],
    ["compare", "--data", "xor", "--model", "mlp:2", "--vary", "lr=0.1,0.5", "--epochs", "10"],
    ["landscape", "--epochs", "60", "--resolution", "9", "--line", "0,-1"],
    ["landscape", "--epochs", "60", "--resolution", "9", "--method", "pca"],
    ["basins", "--resolution", "6", "--epochs", "20"],
    ["basins", "--data", "xor", "--model", "mlp:2", "--method", "random", "--epochs", "30", "--resolution", "6"],
    ["explain", "--epochs", "20", "--step", "0"],
    ["explain", "--data", "xor", "--model", "mlp:2", "--epochs", "3", "--step", "1"],
    ["gradcheck", "--epochs", "5", "--out", "{out}"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c[:3]) for c in CASES])
def test_cvd_figures_use_okabe_ito_colours_and_cividis_maps(cli, drawn, tmp_path, args):
    args = [a.format(out=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path)]
    result = cli(*args, "--palette", "cvd")
    assert result.code == 0, result
    assert drawn, "no figure drawn"
    for fig in drawn:
        colours, maps = colours_of(fig)
        assert colours or maps
        assert not outside_palette(colours), (fig.axes[0].get_title(), outside_palette(colours))
        assert {m.removesuffix("_r") for m in maps} <= {"cividis", "Greys"}, maps


def test_default_palette_draws_no_cividis(cli, drawn, tmp_path):
    """The palette is per command: a cvd command before leaves nothing behind."""
    assert cli("basins", "--resolution", "4", "--epochs", "5", "--palette", "cvd", "--out", tmp_path).code == 0
    drawn.clear()
    assert cli("basins", "--resolution", "4", "--epochs", "5", "--out", tmp_path).code == 0
    maps = {m for fig in drawn for m in colours_of(fig)[1]}
    assert maps and not any(m.startswith("cividis") for m in maps)
    assert palette.get_palette() is palette.DEFAULT


def test_plot_redraws_a_saved_history_in_the_palette_asked(cli, drawn, tmp_path):
    history = tmp_path / "h.npz"
    assert cli("run", "--epochs", "30", "--save-history", history, "--out", tmp_path / "run").code == 0
    drawn.clear()
    assert cli("plot", history, "--palette", "cvd", "--out", tmp_path / "cvd").code == 0
    assert drawn
    for fig in drawn:
        colours, maps = colours_of(fig)
        assert not outside_palette(colours) and {m.removesuffix("_r") for m in maps} <= {"cividis"}, maps
    first, last = boundary_lines(drawn[0])
    assert first.get_color().lower() == "#009e73" and last.get_color().lower() == "#d55e00"
