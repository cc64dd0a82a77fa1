"""``html``: one interactive page for a recorded run (the viewer of ``backpropviz.web``).

The page is a single file that opens from disk in a browser with no server and no network: a
step scrubber moves every view (boundary, parameters, losses, loss surface in 2D and 3D, network,
the autograd graph of the step, the chain rule, the update). ``demo --html`` and ``run --html``
write the same page for the run they train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import LangOpt, app, check_writable_file, fail, takes_palette
from .options import RunOptions, takes_run_options

HtmlOpt = Annotated[Optional[Path], typer.Option(
    "--html", help="Also write the run's interactive page to this .html file (as the html command does).")]
HtmlOutOpt = Annotated[Path, typer.Option("--out", "-o", help="The page to write (.html).")]
TraceStepsOpt = Annotated[int, typer.Option(
    "--trace-steps", help="How many steps get their autograd graph traced for the graph view (a few ms each): "
                          "every step up to this count, else this many evenly spread (first and last included); "
                          "0 leaves the graph out.")]
PageResolutionOpt = Annotated[int, typer.Option(
    "--surface-resolution", help="Grid points per axis of the page's loss surface.")]

MAX_TRACE_STEPS = 20_000


def check_page_options(out: Path, trace_steps: int, surface_resolution: int, option: str = "--html") -> Path:
    """Validate the page's options before any work: the output file, the trace count, the grid."""
    out = check_writable_file(out, option, (".html", ".htm"))
    if not 0 <= trace_steps <= MAX_TRACE_STEPS:
        fail(f"--trace-steps must be an integer in 0..{MAX_TRACE_STEPS}; got {trace_steps}")
    if not 5 <= surface_resolution <= 201:
        fail(f"--surface-resolution must be an integer in 5..201 for a page; got {surface_resolution}")
    return out


def write_html(history, out: Path, lang: str, *, trace_steps: int = 1000, surface_resolution: int = 51,
               title: str | None = None) -> Path:
    """Pack ``history`` and write the page to ``out`` (atomically)."""
    from ..render.palette import get_palette
    from ..web.pack import page_data
    from ..web.page import write_page

    data = page_data(history, lang=lang, trace_steps=trace_steps, surface_resolution=surface_resolution,
                     title=title, palette=get_palette().name)  # the --palette of the command
    return write_page(data, out)


def write_recording_html(folder: Path, out: Path, lang: str) -> Path:
    """The page of a recording of the user's own loop (web/packrec.py): loss, per-layer scalars,
    distributions at the step, the PCA path; the views that need backpropviz's own model are left out."""
    from ..analysis.recording_views import load_checked
    from ..render.palette import get_palette
    from ..web.packrec import recording_page_data
    from ..web.page import write_page

    data = recording_page_data(load_checked(folder), lang=lang, palette=get_palette().name)
    return write_page(data, out)


@app.command()
@takes_palette
@takes_run_options()
def html(
    history_file: Annotated[Optional[Path], typer.Argument(
        help="A .npz history written by --save-history, or a recording folder written by backpropviz.record "
             "(your own model: its loss, per-layer scalars, distributions and path); a folder written by run "
             "--recording gets its history's full page. Without it, a run is trained "
             "from the run options.", metavar="[HISTORY.npz|RECORDING]")] = None,
    out: HtmlOutOpt = Path("out/backpropviz.html"),
    lang: LangOpt = None,
    trace_steps: TraceStepsOpt = 1000,
    surface_resolution: PageResolutionOpt = 51,
    run_options: RunOptions = None,
) -> None:
    """Write one interactive page for a run: every view follows one step scrubber.

    Opens from disk in Chromium or Firefox with no server and no network, and embeds in a blog
    post (iframe). The URL hash holds the step, the views and the language (#step=12&lang=ja).
    """
    from ..i18n import resolve_lang
    from .explain import _history

    lang = resolve_lang(lang)
    out = check_page_options(out, trace_steps, surface_resolution, "--out")
    from .core import is_run_recording

    if history_file is not None and history_file.is_dir() and not is_run_recording(history_file):
        run_options.refuse_with_history(history_file)
        write_recording_html(history_file, out, lang)
        typer.echo(f"wrote {out}")
        return
    history = _history(history_file, run_options, lang)
    write_html(history, out, lang, trace_steps=trace_steps, surface_resolution=surface_resolution)
    typer.echo(f"wrote {out}")
