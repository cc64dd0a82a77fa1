"""The colours of every view, from one place: the default palette or a colour-blind safe one.

Renderers ask for a colour by its role (``color("path")``), for a list of categorical colours
(``colors("runs")``) or for a colour map (``cmap("sequential")``) instead of naming colours
themselves; ``use_palette(name)`` (what ``--palette`` sets) chooses the palette for everything
drawn inside it.

- ``default``: matplotlib's colours and the article's (the overview's green and red boundaries,
  the blue and orange classes), viridis for losses.
- ``cvd``: Okabe & Ito's eight colours, distinguishable with any common colour-vision
  deficiency, for everything categorical; cividis (perceptually uniform and readable with
  deuteranopia) for every continuous map.

Neither palette tells two things apart by red against green alone: where a view has such a
pair (basins' solved and stuck, the overview's first and last boundary) they also differ in
lightness or line style.

>>> with use_palette("cvd"):
...     color("solved"), cmap("sequential").name
('#0072B2', 'cividis')
>>> color("solved")
'#1f77b4'
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

from ..errors import BackpropvizError

# Okabe, M. and Ito, K. (2008), "Color Universal Design": black, orange, sky blue, bluish green,
# yellow, blue, vermillion, reddish purple.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}
_OI = OKABE_ITO
# Lines on white: the strong colours first, yellow (faint on white) last.
OKABE_ITO_CYCLE = [_OI["blue"], _OI["vermillion"], _OI["bluish_green"], _OI["orange"], _OI["sky_blue"],
                   _OI["reddish_purple"], _OI["black"], _OI["yellow"]]
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf"]


@dataclass(frozen=True)
class Palette:
    """One palette: single colours by role, categorical lists by role, colour maps by role."""

    name: str
    roles: dict[str, str]
    lists: dict[str, list[str]]
    maps: dict[str, str]  # role -> a matplotlib colour map name, or "probability" (our own)
    cycle: list[str] = field(default_factory=list)  # the axes' colour cycle for anything unnamed
    missing_key: str = "colour_grey"  # the catalogue's name for the "missing" colour

    def __repr__(self) -> str:
        return f"Palette({self.name!r})"


DEFAULT = Palette(
    name="default",
    roles={
        "class0": "royalblue", "class1": "orange",  # the article's two classes ('o' and 'x')
        "boundary_first": "green", "boundary_last": "red",  # the article's (the first is dash-dotted)
        "solved": "#1f77b4", "stuck": "#ff7f0e", "diverged": "#7f7f7f",
        "path": "tab:red",  # the projected path, the plane's loss under it (dashed)
        "path_2d": "red",  # the path over a contour plot (the article's 'r-o')
        "batch_loss": "tab:blue", "line": "tab:blue", "residual": "tab:gray",
        "update": "#c62828", "gradient": "#c62828", "finite_diff": "#4c78a8",
        "positive": "#c2410c", "negative": "#1d4ed8",  # weights' signs (also told by the legend)
        "train": "#1d4ed8", "test": "#c2410c",  # test is also dashed
        "lambda_max": "tab:purple", "edge": "tab:red", "lambda_min": "tab:green",
        "warning": "#b91c1c",
        "missing": "#9e9e9e",  # no value (a start that never reached the threshold), named by missing_key
    },
    lists={
        "runs": ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#7f7f7f", "#bcbd22", "#393b79", "#637939"],
        "classes": ["#2b6cb0", "#dd6b20", "#2f855a", "#c53030", "#6b46c1", "#975a16", "#b83280", "#4a5568",
                    "#718096", "#0987a0"],
        "samples": ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"],
        "params": TAB10,
        "clusters": TAB10,
    },
    maps={"sequential": "viridis", "sequential_r": "viridis_r", "heatmap": "magma", "steps": "plasma",
          "layers": "viridis_r", "positive": "YlOrBr", "between": "Purples", "probability": "probability"},
)

CVD = Palette(
    name="cvd",
    roles={
        "class0": _OI["blue"], "class1": _OI["orange"],
        "boundary_first": _OI["bluish_green"], "boundary_last": _OI["vermillion"],
        "solved": _OI["blue"], "stuck": _OI["orange"], "diverged": "#7f7f7f",
        "path": _OI["vermillion"], "path_2d": _OI["vermillion"],
        "batch_loss": _OI["sky_blue"], "line": _OI["blue"], "residual": "#7f7f7f",
        "update": _OI["vermillion"], "gradient": _OI["vermillion"], "finite_diff": _OI["blue"],
        "positive": _OI["vermillion"], "negative": _OI["blue"],
        "train": _OI["blue"], "test": _OI["vermillion"],
        "lambda_max": _OI["blue"], "edge": _OI["vermillion"], "lambda_min": _OI["bluish_green"],
        "warning": _OI["vermillion"],
        "missing": "#ffffff",  # cividis has greys in its middle: white stands apart from all of it
    },
    lists={"runs": OKABE_ITO_CYCLE,
           "classes": [_OI["blue"], _OI["orange"], _OI["bluish_green"], _OI["reddish_purple"], _OI["sky_blue"],
                       _OI["vermillion"], _OI["black"], _OI["yellow"]],
           "samples": OKABE_ITO_CYCLE, "params": OKABE_ITO_CYCLE,
           "clusters": [c for c in OKABE_ITO_CYCLE if c != _OI["black"]]},  # black marks "no cluster"
    maps={"sequential": "cividis", "sequential_r": "cividis_r", "heatmap": "cividis", "steps": "cividis",
          "layers": "cividis_r", "positive": "cividis", "between": "cividis_r", "probability": "cividis"},
    cycle=OKABE_ITO_CYCLE,
    missing_key="colour_white",
)

PALETTES = {p.name: p for p in (DEFAULT, CVD)}
_current: contextvars.ContextVar[Palette] = contextvars.ContextVar("backpropviz_palette", default=DEFAULT)


def get_palette(name: str | None = None) -> Palette:
    """The palette called ``name`` (None: the one in use)."""
    if name is None:
        return _current.get()
    key = str(name).strip().lower()
    if key not in PALETTES:
        raise BackpropvizError(f"--palette must be one of {', '.join(PALETTES)}; got {name!r}")
    return PALETTES[key]


@contextlib.contextmanager
def use_palette(name: str | None):
    """Draw everything inside with palette ``name`` (None: the default). Also sets matplotlib's
    colour cycle and default colour map, so that anything drawn without a named colour follows."""
    palette = get_palette(name or "default")
    token = _current.set(palette)
    try:
        if palette is DEFAULT:  # matplotlib's own settings: nothing to change (and nothing to import)
            yield palette
        else:
            import matplotlib

            with matplotlib.rc_context({"image.cmap": palette.maps["sequential"],
                                        "axes.prop_cycle": matplotlib.cycler(color=palette.cycle)}):
                yield palette
    finally:
        _current.reset(token)


def color(role: str) -> str:
    """The colour of ``role`` in the palette in use (``"path"``, ``"solved"``, ``"class0"`` ...)."""
    return _current.get().roles[role]


def colors(role: str) -> list[str]:
    """The categorical colours of ``role`` (``"runs"``, ``"classes"``, ``"samples"``, ``"params"``,
    ``"clusters"``), to be taken in order and cycled."""
    return list(_current.get().lists[role])


def cmap(role: str):
    """The colour map of ``role`` (``"sequential"`` for losses, ``"probability"`` for probabilities
    and signed values, ``"heatmap"``, ``"steps"``, ``"layers"``, ``"positive"``, ``"between"``)."""
    from matplotlib import colormaps

    name = _current.get().maps[role]
    if name == "probability":
        from matplotlib.colors import LinearSegmentedColormap

        # blue -> white -> orange: its two ends are the two classes' colours
        return LinearSegmentedColormap.from_list("bpv_probability", ["#1e4e8c", "#9cc3e6", "#f7f7f7",
                                                                     "#f6b98a", "#b34700"])
    return colormaps[name]


def missing_name() -> str:
    """The catalogue key naming the ``missing`` colour of the palette in use (``colour_grey`` ...),
    for labels such as "steps (grey: never)"."""
    return _current.get().missing_key
