"""``animate``: a run's training in motion, as GIF or MP4 files to put in a slide.

Each view is the static figure's own display, built once and moved frame by frame; the frames
are chosen where the parameters moved (``analysis.frames``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import LangOpt, OutOpt, ResolutionOpt, SpanOpt, app, check_writable_dir, fail, takes_palette
from .core import PlaneResolutionOpt
from .options import RunOptions, takes_run_options

AnimViewsOpt = Annotated[Optional[str], typer.Option(
    "--views", help="Comma-separated views to animate, one file each: overview (the article's 2x2 figure; "
                    "perceptron), probability, hidden, network (networks), landscape. Default: overview for a "
                    "two-input perceptron, probability for a network on a plane, else network.")]
AnimFormatOpt = Annotated[str, typer.Option(
    "--format", "-f", help="gif (Pillow) or mp4 (H.264; needs the video extra, imageio-ffmpeg).")]
FramesOpt = Annotated[int, typer.Option(
    "--frames", help="Number of frames (at least 2; the first and the last step are always among them). "
                     "More than the run's steps gives every step, once.")]
FpsOpt = Annotated[float, typer.Option("--fps", help="Frames per second (up to 50).")]
SpacingOpt = Annotated[str, typer.Option(
    "--spacing", help="Where the frames fall: movement (evenly along how far the parameters moved: many "
                      "frames early, where learning is fast), log (log-spaced steps) or linear.")]
DpiOpt = Annotated[float, typer.Option(
    "--dpi", help="Pixels per inch of the frames (100: the size of the static figures, 1400 x 1200 for the "
                  "overview).")]

from ..render.animate import ANIMATED_VIEWS  # noqa: E402  (no matplotlib at import: names only)


def check_animation_options(views: str | None, fmt: str, frames: int, fps: float, spacing: str, dpi: float,
                            out: Path) -> tuple[list[str] | None, str]:
    """Validate everything that needs no run, before any training or file is touched."""
    from ..analysis.frames import SPACINGS, check_frames
    from ..render.animate import check_animation_format, check_fps, require_video

    fmt = check_animation_format(fmt)
    check_frames(frames)
    check_fps(fps)
    if spacing not in SPACINGS:
        fail(f"--spacing must be one of {', '.join(SPACINGS)}; got {spacing!r}")
    if not 20 <= dpi <= 400:
        fail(f"--dpi must be a number in 20..400; got {dpi:g}")
    chosen = None
    if views is not None:
        chosen = [v.strip() for v in views.split(",") if v.strip()]
        unknown = [v for v in chosen if v not in ANIMATED_VIEWS]
        if unknown or not chosen:
            fail(f"--views takes views to animate, from: {', '.join(ANIMATED_VIEWS)}; got {views!r}")
    if fmt == "mp4":
        require_video()
    check_writable_dir(out)
    return chosen, fmt


def _run_fitting_views(history_file, run_options, views, lang):
    """The run to animate: loaded, or trained from the run options once the views asked for are
    known to fit the model and the data (so that a view that cannot be drawn stops before training
    and before any note)."""
    from types import SimpleNamespace

    import numpy as np

    from ..losses import get_loss
    from ..models import param_names
    from ..render.animate import check_view_fits
    from .core import _train_or_fail, load_checked, load_history

    if history_file is not None:
        run_options.refuse_with_history(history_file)
        return load_history(history_file)  # a history file, or a folder of run --recording
    config = run_options.config(lang=lang)
    get_loss(config.loss)
    if views:
        from ..train import prepare

        dataset, _ = load_checked(config)
        _, _, model = prepare(config, dataset)
        shape = SimpleNamespace(param_names=param_names(model), X=np.empty((0, dataset.n_features)),
                                config=config.to_dict())
        for view in views:
            check_view_fits(shape, view)
    return _train_or_fail(config, None)


def default_animated_views(history) -> list[str]:
    """overview for a two-input perceptron, probability for a network classifying points of a
    plane, else the network diagram."""
    from ..render.base import PERCEPTRON_PARAMS
    from ..train import is_regression

    if list(history.param_names) == PERCEPTRON_PARAMS and history.X.shape[1] == 2:
        return ["overview"]
    return ["probability"] if history.X.shape[1] == 2 and not is_regression(history) else ["network"]


def animate_recording(folder: Path, out: Path, fmt: str, frames: int, fps: float, spacing: str, dpi: float,
                      lang: str) -> list[Path]:
    """``recording.<fmt>`` of a recording of the user's own loop (render/layerstats.RecordingScene).
    The frames are spread along the recorded projection's movement when there is one (else the
    steps, evenly: a recording holds its parameters only at its snapshots)."""
    import numpy as np

    from ..analysis.frames import choose_frames
    from ..analysis.recording_views import load_checked
    from ..render.animate import Animation
    from ..render.layerstats import RecordingScene

    rec = load_checked(folder)
    states = len(rec.rows) + (1 if rec.complete else 0)
    proj = rec.projection
    track = proj[:states] if proj is not None and len(proj) >= states else np.arange(states, dtype=float)[:, None]
    choice = choose_frames(track, frames, spacing=spacing)
    animation = Animation(RecordingScene(rec, lang=lang), choice.rows, fps=fps, dpi=dpi)
    return [animation.save(out / f"recording.{fmt}", fmt)]


@app.command()
@takes_palette
@takes_run_options()
def animate(
    history_file: Annotated[Optional[Path], typer.Argument(
        help="A .npz history written by --save-history, or a recording folder written by backpropviz.record "
             "(one figure, recording.gif: loss, per-layer scalars, distributions, the PCA path); a folder written by "
             "run --recording is animated as its history. Without it, a run is "
             "trained from the run options.", metavar="[HISTORY.npz|RECORDING]")] = None,
    views: AnimViewsOpt = None,
    fmt: AnimFormatOpt = "gif",
    frames: FramesOpt = 100,
    fps: FpsOpt = 20.0,
    spacing: SpacingOpt = "movement",
    out: OutOpt = Path("out/animate"),
    lang: LangOpt = None,
    dpi: DpiOpt = 100.0,
    surface_span: SpanOpt = 8.0,
    surface_resolution: ResolutionOpt = 50,
    plane_resolution: PlaneResolutionOpt = 120,
    landscape_method: Annotated[str, typer.Option(
        "--landscape-method", help="The plane of the landscape view, as the landscape command's --method: pca "
                                   "(the path's top two principal directions), params, random or hessian.")] = "pca",
    run_options: RunOptions = None,
) -> None:
    """Animate a run's training as GIF or MP4 (one file per view): the boundary turning, the
    parameters growing, the point rolling down the loss surface, with the step and epoch of
    each frame in its corner. Frames fall where the parameters moved; the first and last step
    are always shown, and the last frame is the static figure."""
    from ..analysis.frames import choose_frames
    from ..i18n import resolve_lang, t
    from ..render.animate import Animation, build_scene, check_view_fits, gif_delay_cs

    lang = resolve_lang(lang)
    chosen, fmt = check_animation_options(views, fmt, frames, fps, spacing, dpi, out)
    if not 2 <= surface_resolution <= 1000:
        fail(f"--surface-resolution must be between 2 and 1000; got {surface_resolution}")
    if landscape_method not in ("pca", "params", "random", "hessian"):
        fail(f"--landscape-method must be one of pca, params, random, hessian; got {landscape_method!r}")
    if not 10 <= plane_resolution <= 400:
        fail(f"--plane-resolution must be between 10 and 400; got {plane_resolution}")
    if not surface_span > 0:
        fail(f"--surface-span must be > 0; got {surface_span}")
    from .core import is_run_recording

    if history_file is not None and history_file.is_dir() and not is_run_recording(history_file):
        run_options.refuse_with_history(history_file, "RECORDING folder")
        if chosen:
            fail(f"--views chooses among a history's views; a recording folder is animated as one figure "
                 f"(recording.gif: loss, per-layer scalars, distributions, the PCA path); got --views {views}")
        for path in animate_recording(history_file, out, fmt, frames, fps, spacing, dpi, lang):
            print(f"wrote {path}")
        return
    history = _run_fitting_views(history_file, run_options, chosen, lang)
    chosen = chosen or default_animated_views(history)
    for view in chosen:  # every view must fit the run before any note, frame or file
        check_view_fits(history, view)
    choice = choose_frames(history.params, frames, spacing=spacing)
    if choice.every_row:
        print("note: " + t("anim_every_row", lang, asked=frames, rows=history.n_steps + 1,
                           steps=history.n_steps), file=sys.stderr)
    written = []
    for view in chosen:
        scene = build_scene(history, view, lang, choice.rows, span=surface_span, resolution=surface_resolution,
                          plane_resolution=plane_resolution, landscape_method=landscape_method)
        animation = Animation(scene, choice.rows, fps=fps, dpi=dpi)
        path = animation.save(out / f"{view}.{fmt}", fmt)
        shown_fps = 100 / gif_delay_cs(fps) if fmt == "gif" else fps
        print(t("anim_summary", lang, view=view, frames=len(choice.rows), fps=f"{shown_fps:g}",
                secs=f"{len(choice.rows) / shown_fps:.1f}", first=int(choice.rows[0]), last=int(choice.rows[-1]),
                spacing=t(f"anim_spacing_{spacing}", lang), draw=f"{animation.draw_seconds_:.1f}",
                encode=f"{animation.encode_seconds_:.1f}"))
        written.append(path)
    for path in written:
        print(f"wrote {path}")
