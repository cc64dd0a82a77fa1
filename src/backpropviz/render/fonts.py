"""Fonts per language: Japanese text is drawn with matplotlib-fontja's IPAexGothic.

The font is registered only when Japanese is asked for. ``matplotlib_fontja`` itself is not
imported, because importing it switches the *global* font family for every later figure;
instead its bundled font file is located and added to matplotlib's font manager, and the
family is set only inside ``use_language``'s context.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from pathlib import Path

from ..errors import BackpropvizError
from ..i18n import resolve_lang

JAPANESE_FONT = "IPAexGothic"
# IPAexGothic covers Latin letters, digits and the minus sign; DejaVu Sans (matplotlib's own)
# catches anything else, e.g. mathtext symbols.
FALLBACK = ["DejaVu Sans"]


@functools.lru_cache(maxsize=None)
def japanese_font_path() -> Path:
    """Path of the IPAexGothic file shipped with matplotlib-fontja."""
    spec = importlib.util.find_spec("matplotlib_fontja")
    if spec is None or not spec.submodule_search_locations:
        raise BackpropvizError(
            "Japanese labels need the matplotlib-fontja package; install it with "
            "'pip install matplotlib-fontja' or use --lang en")
    path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / "ipaexg.ttf"
    if not path.is_file():
        raise BackpropvizError(f"matplotlib-fontja is installed but its font file is missing: {path}")
    return path


@functools.lru_cache(maxsize=None)
def register_japanese_font() -> str:
    """Add IPAexGothic to matplotlib's font manager (once) and return its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(japanese_font_path()))
    return JAPANESE_FONT


def font_family(lang: str) -> list[str]:
    """The ``font.family`` list for ``lang``."""
    if resolve_lang(lang) == "ja":
        return [register_japanese_font(), *FALLBACK]
    return list(FALLBACK)


@contextlib.contextmanager
def use_language(lang: str | None):
    """Context in which new text artists use a font that has the glyphs of ``lang``.

    Text artists take their font family when they are created, so drawing inside this
    context is enough; the global rcParams are restored afterwards.
    """
    import matplotlib

    with matplotlib.rc_context({"font.family": font_family(resolve_lang(lang)),
                                "axes.unicode_minus": True}):
        yield
