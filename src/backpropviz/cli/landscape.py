"""``landscape`` and ``basins``: loss landscapes of a run (or one trained here), convergence maps."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from .app import (FormatOpt, LangOpt, OutOpt, app, check_format, check_window, check_writable_dir, fail,
                  parse_floats, release_notes)
from .app import takes_palette
from ..config import check_seed
from .options import RunOptions, takes_run_options
from .usermodel import CheckpointOpt, RecordingOpt

VIEWS = ("contour", "filled", "heatmap", "3d")

MemoryOpt = Annotated[str, typer.Option(
    "--memory-budget", help="Memory the evaluation may use (e.g. 1GiB, 512MiB); chunks are sized to it and "
                            "requests that cannot fit are refused.")]
ParamXOpt = Annotated[Optional[str], typer.Option("--x-param", help="First parameter of a params plane "
                                                                     "(default: the first, w1).")]
ParamYOpt = Annotated[Optional[str], typer.Option("--y-param", help="Second parameter (default: the second, w2).")]


def _history(history_file: Path | None, run_options: RunOptions, lang: str = "en"):
    """The saved history, or a run trained from the run options (never both); notes in ``lang``."""
    from ..errors import TrainingDiverged
    from ..train import train
    from .core import load_checked, load_history

    if history_file is not None:
        run_options.refuse_with_history(history_file)
        return load_history(history_file)  # a history file, or a folder of run --recording
    config = run_options.config(lang=lang)
    dataset, _ = load_checked(config)
    try:
        return train(config, dataset)
    except TrainingDiverged as exc:
        fail(str(exc))


def _parse_range(text: str | None):
    """``--range``: ``H`` (half-width around the centre) or ``XMIN,XMAX,YMIN,YMAX``."""
    if text is None:
        return None, None, None
    values = parse_floats(text, "--range")
    check_window(values, "--range")
    if len(values) == 1:
        if not values[0] > 0:
            fail(f"--range as one number is a half-width and must be > 0; got {text!r}")
        return values[0], None, None
    if len(values) != 4:
        fail(f"--range takes one number (half-width) or XMIN,XMAX,YMIN,YMAX; got {text!r}")
    x0, x1, y0, y1 = values
    if not (x0 < x1 and y0 < y1):
        fail(f"--range needs XMIN<XMAX and YMIN<YMAX; got {text!r}")
    return None, (x0, x1), (y0, y1)


def _parse_views(text: str) -> list[str]:
    views = [v.strip().lower() for v in text.split(",") if v.strip()]
    bad = [v for v in views if v not in VIEWS]
    if bad or not views:
        fail(f"--views takes a comma-separated list of {', '.join(VIEWS)}; got {text!r}")
    return views


def _load_directions(path: Path | None):
    """The ``--directions`` array: a numeric .npy file (np.save), anything else refused by name."""
    import numpy as np

    from ..history import note_input

    if path is None:
        return None
    expected = "expected a .npy array of shape (2, P), as np.save writes"
    if Path(path).is_dir():
        fail(f"--directions {str(path)!r} is a folder; {expected}")
    if not Path(path).is_file():
        fail(f"--directions file {str(path)!r} does not exist ({expected})")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        fail(f"cannot read --directions {str(path)!r} ({exc.strerror or exc})")
    if magic.startswith(b"PK\x03\x04"):
        fail(f"--directions {str(path)!r} is an .npz archive (a history or landscape file?); {expected}")
    if magic != b"\x93NUMPY":
        fail(f"--directions {str(path)!r} is not a .npy file; {expected}")
    note_input(path)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc) or "bject" in str(exc):
            fail(f"--directions {str(path)!r} holds Python objects, not numbers; {expected}")
        fail(f"--directions {str(path)!r} is damaged; {expected}")
    except Exception:  # a truncated or garbled .npy: numpy's reader raises several kinds
        fail(f"--directions {str(path)!r} is damaged or truncated; {expected}")
    if array.dtype.kind not in "fiu":
        fail(f"--directions {str(path)!r} holds {array.dtype} values, not numbers; {expected}")
    return array


def _write_figure(fig, path: Path, fmt: str, history=None, lang: str = "en") -> Path:
    """Write ``fig`` atomically; a figure of ``history`` says where its run diverged, if it did."""
    from ..history import atomic_write
    from ..render.base import note_diverged
    from ..render.figures import figure_bytes

    if history is not None:
        note_diverged(fig, history, lang)
    data = figure_bytes(fig, fmt)
    atomic_write(path, lambda f: f.write(data))
    return path


def _verdict_text(land, tolerance: float = 0.05, lang: str = "en") -> str:
    """The path's faithfulness line, the same verdict as the figure's note."""
    from ..i18n import t
    from ..render.landscape import reference_name

    verdict, off = land.fidelity(tolerance)
    if verdict == "construction":
        return t("cli_verdict_construction", lang)
    return t("cli_verdict_facts", lang, dist=f"{float(np.max(land.path_residual)):.4g}",
             rel=f"{land.relative_residual:.1%}", gap=f"{land.loss_gap:.1%}", off=off, rows=len(land.path),
             tol=f"{tolerance:.0%}", ref=reference_name(land, lang), word=t(f"cli_verdict_{verdict}", lang))


@app.command()
@takes_palette
@takes_run_options()
def landscape(
    history_file: Annotated[Optional[Path], typer.Argument(
        help="A .npz history (from --save-history), or a folder written by run --recording. Without it, a run is "
             "trained from the run options.",
        metavar="[HISTORY.npz]")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="Plane: params (two named parameters, the others fixed; the default for a run), random (two "
                               "filter-normalised random directions; the default for --model package.module:factory), "
                               "pca (top two principal directions of the path, or of the --checkpoint files), "
                               "hessian (top two eigenvectors of the Hessian at --center-step) or custom "
                               "(--directions).")] = None,
    range_: Annotated[Optional[str], typer.Option(
        "--range", help="Half-width H around the centre, or XMIN,XMAX,YMIN,YMAX. Default: +-8 (params), +-1 "
                        "widened to hold the path's projection (random), the path plus a margin (pca, "
                        "hessian, custom). A path that leaves the window is noted on the figure.")] = None,
    resolution: Annotated[int, typer.Option("--resolution", "-r", help="Grid points per axis.")] = 51,
    center_step: Annotated[int, typer.Option(
        "--center-step", help="Parameter row at the centre of the plane (0..T; negative: from the end, -1 is "
                              "row T, the final parameters).")] = -1,
    x_param: ParamXOpt = None,
    y_param: ParamYOpt = None,
    follow_path: Annotated[bool, typer.Option(
        "--follow-path", help="params only: the other parameters follow the path (each grid point takes them from "
                              "the nearest path point), so the drawn path lies on the surface.")] = False,
    direction_seed: Annotated[int, typer.Option("--direction-seed", help="Seed of the random directions.")] = 0,
    directions_file: Annotated[Optional[Path], typer.Option(
        "--directions", help="custom: a .npy array of shape (2, P) with the two directions.")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float32 (as training) or float64.")] = "float32",
    memory_budget: MemoryOpt = "1GiB",
    views: Annotated[str, typer.Option(
        "--views", help="Comma-separated figures to write: contour, filled, heatmap (log colour scale), 3d.")]
        = "contour,filled,heatmap,3d",
    aspect: Annotated[str, typer.Option(
        "--aspect", help="equal: planes whose axes share a unit (params, random, pca, hessian) are drawn to "
                         "the same scale on both axes (unless the window is over 10 times longer one way, which "
                         "the figure then says); auto: fill the panel whatever the window's proportions.")]
        = "equal",
    line: Annotated[Optional[str], typer.Option(
        "--line", help="Also the loss along the straight line between two parameter rows, e.g. 0,-1. Rows "
                       "are the T+1 recorded states: row 0 the start, row t the state after step t; negative "
                       "counts from the end, so -1 is row T, the final parameters (not step T-1 as in "
                       "explain --step).")] = None,
    line_to: Annotated[Optional[Path], typer.Option(
        "--line-to", help="Also the loss along the line from this run's final parameters to another saved "
                          "run's (same model).")] = None,
    curvature: Annotated[bool, typer.Option(
        "--curvature/--no-curvature", help="Also the Hessian's largest eigenvalue at the centre and 2/lambda_max "
                                           "beside the lr used, its smallest (negative: a saddle) and, for "
                                           "small models, the top five.")] = True,
    checkpoints: CheckpointOpt = None,
    recording: RecordingOpt = None,
    out: OutOpt = Path("out/landscape"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
) -> None:
    """Write a loss landscape (landscape.npz) and its views around a run's path.

    A model of your own: --model package.module:factory, --data package.module:factory, --loss and
    --checkpoint (repeatable); planes random (filter-normalised, biases and BatchNorm's scales left
    out), pca, hessian or custom, the model in eval mode (BatchNorm on the centre's statistics).

    Every view shows the path projected onto the plane; beside it, the loss training saw, the
    loss on the plane under the path and the path's distance from the plane, with a verdict on
    whether the picture shows the path faithfully.
    """
    import torch

    from ..analysis import landscape as L
    from ..i18n import resolve_lang, t
    from ..usermodel import is_factory_spec

    user_model = is_factory_spec(run_options.values["model"])
    if (checkpoints or recording is not None) and not user_model:
        option = "--checkpoint" if checkpoints else "--recording"
        fail(f"{option} needs --model package.module:factory (a model of your own); a built-in run's "
             "parameters come from its HISTORY.npz")
    key = (method or ("random" if user_model else "params")).lower()
    if key not in L.METHODS:
        fail(f"unknown landscape method {method!r}; choose one of: {', '.join(L.METHODS)}")
    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    if not 2 <= resolution <= 100_000:
        fail(f"--resolution must be an integer between 2 and 100000; got {resolution}")
    if dtype not in ("float32", "float64"):
        fail(f"--dtype must be float32 or float64; got {dtype!r}")
    if (x_param or y_param or follow_path) and key != "params":
        fail(f"--x-param, --y-param and --follow-path need --method params; got --method {key}")
    if directions_file is not None and key != "custom":
        fail(f"--directions needs --method custom; got --method {key}")
    check_seed(direction_seed, "--direction-seed")
    budget = L.parse_memory(memory_budget)
    span, x_range, y_range = _parse_range(range_)
    view_list = _parse_views(views)
    if aspect not in ("equal", "auto"):
        fail(f"--aspect takes equal or auto; got {aspect!r}")
    directions = _load_directions(directions_file)
    line_steps = None
    if line is not None:
        from .app import parse_ints

        line_steps = parse_ints(line, "--line")
        if len(line_steps) != 2:
            fail(f"--line takes two parameter rows such as 0,-1; got {line!r}")
    if user_model:
        from .usermodel import user_landscape

        if history_file is not None:
            fail(f"give either HISTORY.npz or --model package.module:factory, not both; got {str(history_file)!r} "
                 f"and --model {run_options.values['model']!r}")
        if line is not None or line_to is not None:
            fail("--line and --line-to take recorded runs; for two checkpoints of your model use "
                 "backpropviz interpolate --checkpoint A --to B")
        out = check_writable_dir(out)
        user_landscape(run_options=run_options, checkpoints=checkpoints, recording=recording, method=key, span=span, x_range=x_range,
                       y_range=y_range, resolution=resolution, center_step=center_step, direction_seed=direction_seed,
                       directions=directions, dtype=dtype, budget=budget, view_list=view_list, aspect=aspect,
                       curvature=curvature, out=out, fmt=fmt, lang=lang)
        return
    out = check_writable_dir(out)
    # Refuse a grid that cannot fit before training anything, counting the history it will sit
    # beside (the same count as the plane's own check, so the resolution it names does fit).
    if history_file is None:
        L.check_grid_memory(resolution, budget, fixed_bytes=L.planned_history_bytes(run_options.config(notes=False)))
    history = _history(history_file, run_options, lang)
    L.check_grid_memory(resolution, budget, history)
    if line_steps is not None:
        for row in line_steps:
            L._step_index(history, row, "--line")
    other = None
    if line_to is not None:
        from ..history import History

        other = History.load(line_to)
    release_notes()  # the input is validated: the notes about it may be read now
    started = time.perf_counter()
    land = L.plane(history, key, x_name=x_param, y_name=y_param, center_step=center_step, span=span,
                   resolution=resolution, x_range=x_range, y_range=y_range, seed=direction_seed, directions=directions,
                   follow_path=follow_path, dtype=getattr(torch, dtype), memory_budget=budget)
    elapsed = time.perf_counter() - started
    written = [land.save(out / "landscape.npz")]

    from ..render.landscape import CurvatureDisplay, LossLineDisplay, landscape_figure

    for view in view_list:
        fig, _, _ = landscape_figure(land, view, lang=lang, aspect=aspect)
        written.append(_write_figure(fig, out / f"landscape_{view}.{fmt}", fmt))  # it notes a divergence itself
    lines = []
    if line_steps is not None:
        lines.append(("line", L.line_between_steps(history, *line_steps)))
    if other is not None:
        lines.append(("line_runs", L.line_between_runs(history, other)))
    for name, ln in lines:
        written.append(ln.save(out / f"{name}.npz"))
        written.append(_write_figure(LossLineDisplay.from_line(ln, lang=lang).figure_, out / f"{name}.{fmt}", fmt,
                                     history, lang))

    print(t("cli_landscape", lang, method=land.method, k=resolution, secs=f"{elapsed:.2f}",
            step=land.config["center_step"]))
    if land.fixed:
        shown = ", ".join(f"{n}={v:.4g}" for n, v in list(land.fixed.items())[:3])
        more = t("cli_fixed_more", lang, n=len(land.fixed) - 3) if len(land.fixed) > 3 else ""
        why = "" if land.method == "params" else t("cli_fixed_why", lang)
        print(t("cli_fixed", lang, shown=shown, more=more, why=why))
    if land.explained_variance is not None:
        ev = land.explained_variance
        print(t("cli_explained", lang, pc1=f"{ev[0]:.1%}", pc2=f"{ev[1]:.1%}"))
    if land.method == "hessian":
        l1, l2 = land.config["hessian_eigenvalues"]
        print(t("cli_hessian_plane", lang, step=land.config["center_step"], l1=f"{l1:.6g}", l2=f"{l2:.6g}"))
    print(t("cli_path", lang, verdict=_verdict_text(land, lang=lang)))
    from ..render.landscape import collapsed_scale, path_outside

    outside, start_out = path_outside(land)
    if outside:
        start = t("cli_outside_start", lang) if start_out else ""
        print(f"note: {t('cli_outside', lang, n=outside, rows=len(land.path), start=start)}")
    if collapsed_scale(land) is not None:
        print(f"note: {t('cli_collapsed', lang, scale=f'{collapsed_scale(land):.2g}')}")
    if curvature:
        from ..analysis.curvature import EXACT_MAX_PARAMS, curvature_at

        cur = curvature_at(history, land.config["center_step"])
        opt = str(history.config.get("optimizer", "sgd")).lower()
        plain = opt == "sgd" and not history.config.get("momentum")
        if not cur.has_bound:
            stable = t("cli_curv_flat", lang)
        elif cur.stable is None:
            stable = ""
        elif not plain:
            stable = t("cli_curv_not_plain", lang, opt=opt)
        else:
            stable = t("cli_curv_stable" if cur.stable else "cli_curv_unstable", lang)
        print(t("cli_curvature", lang, step=cur.step, method=t(f"cli_curv_method_{cur.method}", lang),
                lam=f"{cur.lambda_max:.6g}", lrmax=f"{cur.lr_max:.6g}", lr=cur.lr_used, stable=stable))
        top = (t("cli_curv_top", lang, k=len(cur.top), values=", ".join(f"{v:.6g}" for v in cur.top))
               if len(cur.top) > 1 else "")
        if np.isfinite(cur.lambda_min):  # NaN: Lanczos did not converge within its bound
            print(t("cli_curv_spectrum", lang, step=cur.step, lam=f"{cur.lambda_min:.6g}", top=top,
                    negative=t("cli_curv_negative", lang) if cur.negative_curvature else ""))
        if history.params.shape[1] <= EXACT_MAX_PARAMS:
            display = CurvatureDisplay.from_history(history, step=land.config["center_step"], lang=lang)
            written.append(_write_figure(display.figure_, out / f"curvature.{fmt}", fmt, history, lang))
    for path in written:
        print(f"wrote {path}")


@app.command()
@takes_palette
@takes_run_options()
def basins(
    method: Annotated[str, typer.Option(
        "--method", help="Plane of starts: params (two named parameters, the others at their initial values) or "
                         "random (every parameter, along two filter-normalised random directions).")] = "params",
    direction_seed: Annotated[int, typer.Option("--direction-seed", help="Seed of the random directions.")] = 0,
    x_param: ParamXOpt = None,
    y_param: ParamYOpt = None,
    resolution: Annotated[int, typer.Option("--resolution", "-r", help="Starts per axis (K x K starts).")] = 64,
    range_: Annotated[Optional[str], typer.Option(
        "--range", help="Half-width H around the run's start (default: 8 for params, 1 for random), or "
                        "XMIN,XMAX,YMIN,YMAX.")]
        = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Loss threshold for the steps-to-reach map.")]
        = 0.1,
    solved_accuracy: Annotated[float, typer.Option(
        "--solved-accuracy", help="Final training accuracy that counts as solved.")] = 1.0,
    memory_budget: MemoryOpt = "1GiB",
    out: OutOpt = Path("out/basins"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
) -> None:
    """Train a K x K grid of starting points at once and map where each one went (basins.npz).

    The starts vary two parameters over a plane; the others start at the run's initial values.
    Maps: the final loss, the steps to reach --threshold, solved or stuck (final accuracy), and
    which cluster of final parameters each start reached.
    """
    from ..analysis.basins import basin_map
    from ..analysis.landscape import parse_memory
    from ..i18n import resolve_lang, t
    from ..render.basins import MAX_DRAWN_CLUSTERS, basins_figure

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    if not 2 <= resolution <= 1024:
        fail(f"--resolution must be an integer between 2 and 1024; got {resolution}")
    check_seed(direction_seed, "--direction-seed")
    span, x_range, y_range = _parse_range(range_)
    budget = parse_memory(memory_budget)
    out = check_writable_dir(out)
    from .core import load_checked

    config = run_options.config(lang=lang)
    load_checked(config, record=False)  # basins records no history; basin_map checks its own memory
    release_notes()  # the input is validated: the notes about it may be read now
    started = time.perf_counter()
    bm = basin_map(config, x_name=x_param, y_name=y_param, resolution=resolution, span=span, x_range=x_range,
                   y_range=y_range, threshold=threshold, solved_accuracy=solved_accuracy, method=method.lower(),
                   seed=direction_seed, memory_budget=budget)
    elapsed = time.perf_counter() - started
    written = [bm.save(out / "basins.npz")]
    fig, _ = basins_figure(bm, lang=lang)
    written.append(_write_figure(fig, out / f"basins.{fmt}", fmt))
    n = bm.solved.size
    reached = int((bm.steps_to_threshold >= 0).sum())
    print(t("cli_basins", lang, k=resolution, steps=bm.config["steps"], secs=f"{elapsed:.2f}"))
    clusters = len(bm.cluster_centers)
    many = t("cli_basins_many", lang, limit=MAX_DRAWN_CLUSTERS) if clusters > MAX_DRAWN_CLUSTERS else ""
    print(t("cli_basins_counts", lang, solved=int(bm.solved.sum()), n=n, threshold=f"{threshold:g}",
            reached=reached, diverged=int(bm.diverged.sum()), clusters=clusters, many=many))
    for path in written:
        print(f"wrote {path}")
