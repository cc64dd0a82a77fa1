"""One self-contained HTML file: the viewer's ES modules, the page's data and (Japanese) a font.

The modules in ``static/`` import each other by bare names (``bpv/app.js``, ``uplot``). The page
maps those names to ``data:`` URLs in an import map, so the browser loads them from the file
itself: no server, no network, no build step. A host that serves the files (the playground)
maps the same names to URLs instead (``import_map(base_url)``).

Japanese text needs a font the reader may not have: every page embeds a subset of IPAexGothic
(the font matplotlib-fontja ships, which the figures use) holding only the characters the page
shows, as a WOFF data URL. The IPA Font License lets a document embed the font to display its
own text (Article 2.5); the subset is renamed as Article 3.1(4) asks of derived fonts.
"""

from __future__ import annotations

import base64
import html
import io
import json
import urllib.parse
from pathlib import Path

STATIC = Path(__file__).parent / "static"
# uPlot's own minified build, inlined as a classic script (it sets window.uPlot); the module
# "uplot" re-exports it. Its ES build, percent-encoded into a data URL, would weigh 3x as much.
CLASSIC = ("vendor/uplot/uPlot.iife.min.js",)
VENDOR = {"uplot": "vendor/uplot/uplot.js"}
STYLES = ("vendor/uplot/uPlot.min.css", "bpv.css")
FONT_FAMILY = "bpv-ja"
# Characters any page may show beyond its labels: ASCII, digits in other forms, arrows, maths.
BASE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "−×·…←→↑↓∞≈≤≥∂ŷ̂∑ΔλαβθⅠⅡ◀▶►❚°±√∇·、。「」（）：；％"
_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '%#"\\<>`\'')


def module_sources() -> dict[str, str]:
    """``{import name: source}`` of every module the viewer needs."""
    mods = {}
    for path in sorted(STATIC.rglob("*.js")):
        rel = path.relative_to(STATIC).as_posix()
        if rel.startswith("vendor/"):
            continue
        mods[f"bpv/{rel}"] = path.read_text(encoding="utf-8")
    for name, rel in VENDOR.items():
        mods[name] = (STATIC / rel).read_text(encoding="utf-8")
    return mods


def data_url(source: str) -> str:
    """A JavaScript module as a ``data:`` URL (percent-encoded; smaller than base64 for text)."""
    return "data:text/javascript;charset=utf-8," + urllib.parse.quote(source, safe=_SAFE)


def import_map(base_url: str | None = None) -> dict:
    """The import map: names to data URLs (offline page) or to ``base_url`` + path (a server)."""
    if base_url is None:
        return {"imports": {name: data_url(src) for name, src in module_sources().items()}}
    imports = {"bpv/": base_url.rstrip("/") + "/"}
    imports.update({name: base_url.rstrip("/") + "/" + rel for name, rel in VENDOR.items()})
    return {"imports": imports}


def styles() -> str:
    return "\n".join((STATIC / rel).read_text(encoding="utf-8") for rel in STYLES)


def _chars_of(obj, out: set) -> None:
    if isinstance(obj, str):
        out.update(obj)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k != "b64":
                _chars_of(k, out)
                _chars_of(v, out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _chars_of(v, out)


def font_subset(text: str) -> bytes:
    """WOFF bytes of IPAexGothic reduced to the characters of ``text`` (and BASE_CHARS)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    from ..render.fonts import japanese_font_path

    options = subset.Options()
    options.flavor = "woff"
    options.name_IDs = []  # drop the original names; the family is set below
    options.notdef_outline = True
    font = TTFont(str(japanese_font_path()), lazy=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(text) | set(BASE_CHARS))))
    subsetter.subset(font)
    for record_id in (1, 3, 4, 6):
        font["name"].setName(FONT_FAMILY if record_id != 6 else FONT_FAMILY, record_id, 3, 1, 0x409)
    font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def font_css(page: dict) -> str:
    """``@font-face`` for the Japanese subset holding every character of ``page``'s texts."""
    chars: set = set()
    _chars_of(page, chars)
    for source in module_sources().values():  # texts written in the modules themselves (日本語)
        chars.update(c for c in source if ord(c) > 0x7F)
    woff = font_subset("".join(chars))
    return ("@font-face{font-family:%s;src:url(data:font/woff;base64,%s) format('woff');font-display:block}\n"
            ":root{--bpv-font:%s,system-ui,sans-serif}\n" % (FONT_FAMILY, base64.b64encode(woff).decode("ascii"),
                                                             FONT_FAMILY))


BOOT = """
import { Recording } from "bpv/recording.js";
import { mount } from "bpv/app.js";
const root = document.getElementById("bpv-root");
// Canvas text cannot wait for a web font: load the embedded one before anything draws.
if (document.fonts && document.fonts.load) {
  try { await document.fonts.load("12px bpv-ja", "学習ステップ損失"); } catch (e) { /* fall back to system fonts */ }
}
try {
  const page = JSON.parse(document.getElementById("bpv-data").textContent);
  const rec = Recording.fromPage(page);
  window.backpropviz = mount(root, rec, { lang: page.lang });
  document.documentElement.dataset.ready = "1";
} catch (err) {
  root.textContent = "backpropviz: this page could not be shown: " + (err && err.message || err);
  document.documentElement.dataset.ready = "error";
  throw err;
}
"""


def _script_text(text: str) -> str:
    """Text that can sit inside a <script> element (no closing tag, no comment opener)."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_page(page: dict, *, embed_font: bool | None = None) -> str:
    """The whole HTML text of the page for ``page`` (page data from ``pack.page_data``)."""
    lang = page.get("lang", "en")
    if embed_font is None:  # ~80 KB: every page carries it, so a link with #lang=ja works too
        embed_font = True
    title = page.get("title") or page["labels"][lang].get("page_title", "backpropviz")
    css = styles() + ("\n" + font_css(page) if embed_font else "")
    data = json.dumps(page, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "\n".join([
        "<!DOCTYPE html>",
        f'<html lang="{html.escape(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta name=\"generator\" content=\"backpropviz\">",
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{css}\n</style>",
        *[f"<script>{_script_text((STATIC / rel).read_text(encoding='utf-8'))}</script>" for rel in CLASSIC],
        f'<script type="importmap">{_script_text(json.dumps(import_map(), separators=(",", ":")))}</script>',
        "</head>",
        "<body>",
        '<div id="bpv-root" class="bpv">Loading… (this page needs JavaScript)</div>',
        f'<script type="application/json" id="bpv-data">{_script_text(data)}</script>',
        f'<script type="module">{BOOT}</script>',
        "</body>",
        "</html>",
    ])


def write_page(page: dict, path, *, embed_font: bool | None = None) -> Path:
    """Write the page: a whole file or nothing (history.atomic_write: a temporary file, then a
    rename; inside a command, together with the command's other files when it succeeds)."""
    from ..history import atomic_write

    path = Path(path)
    text = render_page(page, embed_font=embed_font)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path
