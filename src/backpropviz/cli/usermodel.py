"""Models backpropviz did not build: ``landscape --model package.module:factory`` and ``interpolate``.

``landscape`` hands over to ``user_landscape`` when ``--model`` names a factory (see
``usermodel.py`` for what the factories may return); ``interpolate`` draws the loss along the
straight line between two checkpoints of such a model, with the barrier height.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, List, Optional

import numpy as np
import typer

from .app import FormatOpt, LangOpt, OutOpt, app, check_format, check_writable_dir, fail, parse_floats, release_notes
from .app import takes_palette

# The run options that name the model, its data and its loss; every other one describes a
# training run, which a model of the user's does not have here.
USER_OPTIONS = ("model", "data", "loss")
USER_METHODS = ("random", "pca", "hessian", "custom")

CheckpointOpt = Annotated[Optional[List[Path]], typer.Option(
    "--checkpoint", help="With --model package.module:factory, a torch.save file of the model's state_dict "
                         "(read with weights_only=True). Repeat it for several (snapshots along a run): all are "
                         "drawn on the plane, --center-step picks the centre (default: the last), and --method "
                         "pca uses them.")]


RecordingOpt = Annotated[Optional[Path], typer.Option(
    "--recording", help="With --model package.module:factory, a recording of your loop (backpropviz.record); its "
                        "snapshots are the path (as several --checkpoint files would be), each with its own "
                        "BatchNorm statistics.")]


def recording_state(rec, step: int, model, model_name: str, folder) -> dict:
    """The snapshot of ``step`` in recording ``rec`` as a state dict for ``model`` (parameters and
    buffers; tied names from the recording's aliases)."""
    import torch

    from ..analysis.recording_views import read_snapshot

    aliases = rec.meta.get("aliases", {})
    own = model.state_dict()
    snap = read_snapshot(rec, step)
    state = {}
    for key in own:
        name = aliases.get(key, key)
        if name in snap.layout:
            state[key] = torch.from_numpy(np.array(snap.param(name)))
        elif name in snap.buffers:
            state[key] = torch.from_numpy(np.array(snap.buffers[name]))
    n_params = sum(p.numel() for p in model.parameters())
    if len(state) < len(own) and rec.n_params != n_params:
        fail(f"--recording {str(folder)!r} was made of a model with {rec.n_params} parameters; --model "
             f"{model_name!r} has {n_params}")
    return state


def recording_path(user, folder, center_step: int, model_name: str, dtype: str = "float32"):
    """``(rows, centre row, labels, own losses (K,) or None)`` of the recording in ``folder``: its
    snapshots as a ``SnapshotRows`` path (read one at a time, never all held), labelled ``step N``,
    and, when the model has buffers (BatchNorm statistics) that differ between snapshots, each
    snapshot's loss with its own buffers (one snapshot loaded at a time). ``user.model`` is left
    holding the centre snapshot (parameters and buffers)."""
    import torch

    from ..analysis.evaluator import LossEvaluator
    from ..analysis.recording_views import SnapshotRows, read_snapshot
    from ..record import load_recording
    from ..usermodel import fit_state, flat_params

    rec = load_recording(folder)
    steps = rec.snapshot_steps
    if not steps:
        fail(f"--recording {str(folder)!r} holds no snapshots yet")
    if not -len(steps) <= center_step < len(steps):
        fail(f"--center-step takes rows in [0, {len(steps) - 1}] of the {len(steps)} checkpoint(s) (negative "
             f"counts from the end); got {center_step}")
    row = center_step % len(steps)
    labels = [f"step {s}" for s in steps]
    model = user.model

    def load(i):
        fit_state(model, recording_state(rec, steps[i], model, model_name, folder), option="--recording",
                  source=f"{str(folder)!r} ({labels[i]})", model_name=f"--model {model_name!r}")

    load(row)  # checks the recording's layout against the model (every snapshot has the same)
    aliases = rec.meta.get("aliases", {})
    rows = SnapshotRows(rec, steps, [(aliases.get(n, n), _numpy_dtype(p.dtype))
                                     for n, p in model.named_parameters()])
    own = None
    stats = [aliases.get(n, n) for n in user.buffers if not n.endswith("num_batches_tracked")]
    if stats:
        first = read_snapshot(rec, steps[0]).buffers
        later = (read_snapshot(rec, s).buffers for s in steps[1:])  # one snapshot at a time
        if any(not np.array_equal(first[n], buffers[n]) for buffers in later for n in stats):
            own = []
            for i in range(len(steps)):
                load(i)
                ev = LossEvaluator(model.eval(), user.loss_fn, user.X, user.y, dtype=getattr(torch, dtype),
                                   progress=False)
                own.append(float(ev.points(flat_params(model)[None])[0]))
            own = np.asarray(own)
            load(row)  # the plane's buffers are the centre's
    return rows, row, labels, own


def _numpy_dtype(dtype):
    """The numpy dtype of a torch dtype, or None where numpy has none (bfloat16: the values are
    then taken as the recording saved them)."""
    import torch

    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:
        return None


def refuse_run_options(run_options, command: str = "landscape") -> None:
    """Fail when options that describe a training run come with a model of the user's."""
    from .options import RUN_DEFAULTS

    given = [f"--{name.replace('_', '-')} {value}" for name, value in run_options.values.items()
             if name not in USER_OPTIONS and value != RUN_DEFAULTS[name]]
    if given:
        fail(f"{command} with --model package.module:factory takes --data package.module:factory and --loss, not "
             f"the options of a training run; got {', '.join(given)}")


def load_user(run_options, checkpoints):
    """``(UserModel, states, labels)``: the model, data and loss, and each checkpoint's state dict
    (checked to fit the model) with its file name. The model holds the last one's state."""
    from ..usermodel import fit_state, load_user_model, read_state

    values = run_options.values
    checkpoints = list(checkpoints or [])
    user = load_user_model(values["model"], values["data"], values["loss"],
                           checkpoint=checkpoints[-1] if checkpoints else None)
    states, labels = [], []
    for path in checkpoints:
        state = read_state(path)
        fit_state(user.model, state, source=repr(str(path)), model_name=f"--model {values['model']!r}")
        states.append(state)
        labels.append(Path(path).name)
    if states:
        fit_state(user.model, states[-1])
    return user, states, labels


def _rows(user, states, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray | None]:
    """``(path (K, P), own losses (K,) or None)``: each checkpoint's parameters, and, when the model
    has buffers (BatchNorm statistics) that differ between checkpoints, the loss of each with its
    own buffers (else None: the plane's buffers are every row's)."""
    import torch

    from ..analysis.evaluator import LossEvaluator
    from ..usermodel import fit_state, flat_params

    if not states:
        return flat_params(user.model)[None], None
    rows = []
    for state in states:
        fit_state(user.model, state)
        rows.append(flat_params(user.model))
    buffers = [n for n in user.buffers if not n.endswith("num_batches_tracked")]
    differ = any(not torch.equal(states[0][n], s[n]) for s in states[1:] for n in buffers)
    own = None
    if differ:
        own = []
        for state, row in zip(states, rows):
            fit_state(user.model, state)
            ev = LossEvaluator(user.model.eval(), user.loss_fn, user.X, user.y, dtype=getattr(torch, dtype),
                               progress=False)
            own.append(float(ev.points(row[None])[0]))
        own = np.asarray(own)
    return np.stack(rows), own


def user_landscape(*, run_options, checkpoints, recording=None, method, span, x_range, y_range, resolution, center_step,
                   direction_seed, directions, dtype, budget, view_list, aspect, curvature, out, fmt, lang) -> None:
    """``landscape`` for ``--model package.module:factory`` (its options already checked)."""
    import torch

    from ..analysis import landscape as L
    from ..i18n import t
    from ..render.landscape import landscape_figure
    from ..usermodel import fit_state
    from .landscape import _verdict_text, _write_figure

    key = (method or "random").lower()
    if key not in USER_METHODS:
        fail(f"--method {key} needs a recorded run; for a model of your own choose one of: {', '.join(USER_METHODS)}")
    refuse_run_options(run_options)
    if recording is not None and checkpoints:
        fail("give either --checkpoint files or --recording (whose snapshots are the path), not both")
    user, states, labels = load_user(run_options, checkpoints)
    if recording is not None:  # the snapshots read one at a time: memory does not grow with their number
        path, row, labels, own = recording_path(user, recording, center_step, run_options.values["model"], dtype)
    else:
        path, own = _rows(user, states, dtype)
        row = center_step if -len(path) <= center_step < len(path) else None
        if row is None:
            fail(f"--center-step takes rows in [0, {len(path) - 1}] of the {len(path)} checkpoint(s) (negative "
                 f"counts from the end); got {center_step}")
        if states:
            fit_state(user.model, states[row])  # the plane's buffers are the centre's
    if key == "pca" and len(path) < 2:
        fail("--method pca needs at least two --checkpoint files or a --recording of several snapshots (the plane "
             f"of their principal directions); got {len(path)}")
    release_notes()
    user.model.eval()
    started = time.perf_counter()
    land = L.model_plane(user.model, user.loss_fn, user.X, user.y, method=key, path=path, center_row=row,
                         span=span, resolution=resolution, x_range=x_range, y_range=y_range, seed=direction_seed,
                         directions=directions, row_losses=own, labels=labels or [user.model_spec],
                         dtype=getattr(torch, dtype), memory_budget=budget)
    elapsed = time.perf_counter() - started
    land.config["model"] = {"model": user.model_spec, "data": user.data_spec, "loss": user.loss_name,
                            "checkpoints": [str(p) for p in checkpoints or []],
                            "recording": None if recording is None else str(recording)}
    name = (labels or [user.model_spec])[land.config["center_step"]]
    lines = []
    if curvature:
        cur = _curvature_line(user, land, name, lang)
        land.config["curvature"] = cur[0]
        lines.append(cur[1])
    written = [land.save(out / "landscape.npz")]
    for view in view_list:
        fig, _, _ = landscape_figure(land, view, lang=lang, aspect=aspect)
        written.append(_write_figure(fig, out / f"landscape_{view}.{fmt}", fmt))
    print(t("cli_user_landscape", lang, model=user.model_spec, method=land.method, k=resolution,
            secs=f"{elapsed:.2f}", name=name))
    if land.fixed:
        shown = ", ".join(f"{n}={v:.4g}" for n, v in list(land.fixed.items())[:3])
        more = t("cli_fixed_more", lang, n=len(land.fixed) - 3) if len(land.fixed) > 3 else ""
        print(t("cli_fixed", lang, shown=shown, more=more, why=t("cli_fixed_why", lang)))
    if land.explained_variance is not None:
        ev = land.explained_variance
        print(t("cli_explained", lang, pc1=f"{ev[0]:.1%}", pc2=f"{ev[1]:.1%}"))
    if land.config.get("buffers"):
        from ..render.landscape import centre_label, tr

        print(f"note: {tr('buffers_fixed', lang, n=len(land.config['buffers']), name=centre_label(land))}")
    print(t("cli_path", lang, verdict=_verdict_text(land, lang=lang)))
    for line in lines:
        print(line)
    for p in written:
        print(f"wrote {p}")


def _curvature_line(user, land, name: str, lang: str) -> tuple[dict, str]:
    """The Hessian's top and bottom eigenvalues at the plane's centre: ``(for the file, the line)``."""
    from ..analysis.curvature import model_curvature
    from ..i18n import t

    cur = model_curvature(user.model, user.loss_fn, user.X, user.y, land.origin, step=land.config["center_step"])
    top = (t("cli_curv_top", lang, k=len(cur.top), values=", ".join(f"{v:.6g}" for v in cur.top))
           if len(cur.top) > 1 else "")
    line = t("cli_user_curvature", lang, name=name, method=t(f"cli_curv_method_{cur.method}", lang),
             lam=f"{cur.lambda_max:.6g}", lrmax=f"{cur.lr_max:.6g}", low=f"{cur.lambda_min:.6g}",
             negative=t("cli_curv_negative", lang) if cur.negative_curvature else "", top=top)
    record = {"method": cur.method, "lambda_max": cur.lambda_max, "lambda_min": cur.lambda_min,
              "top": [float(v) for v in cur.top]}
    return record, line


@app.command()
@takes_palette
def interpolate(
    model: Annotated[str, typer.Option("--model", "-m", help="package.module:factory returning your nn.Module.")],
    data: Annotated[str, typer.Option(
        "--data", "-d", help="package.module:factory returning a DataLoader of (inputs, targets), (X, y) tensors or "
                             "a Dataset.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="The line's start (t = 0): a torch.save file "
                                                                  "of the model's state_dict.")],
    to: Annotated[Path, typer.Option("--to", help="The line's end (t = 1): a checkpoint of the same model.")],
    loss: Annotated[Optional[str], typer.Option(
        "--loss", help="ce (cross-entropy on logits, the default), nll, bce, bce-logits, mse, l1, or "
                       "package.module:fn.")] = None,
    points: Annotated[int, typer.Option("--points", help="Points along the line (the ends always among them).")]
        = 61,
    t_range: Annotated[str, typer.Option("--t-range", help="TMIN,TMAX: how far the line goes before the start "
                                                           "and past the end.")] = "-0.25,1.25",
    buffers: Annotated[str, typer.Option(
        "--buffers", help="BatchNorm statistics along the line: interpolate (with the parameters, so each end has "
                          "its own; past an end, that end's) or start (the start checkpoint's at every t).")]
        = "interpolate",
    dtype: Annotated[str, typer.Option("--dtype", help="float32 or float64.")] = "float32",
    memory_budget: Annotated[str, typer.Option("--memory-budget", help="Memory the evaluation may use.")] = "1GiB",
    out: OutOpt = Path("out/interpolate"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
) -> None:
    """The loss along the straight line between two checkpoints of your model, with the barrier
    height (interpolation.npz and its figure).

    The barrier is the largest rise, for t in [0, 1], of the loss above the straight line between
    the two ends' losses (0: the two are linearly connected). The model is evaluated in eval
    mode, its BatchNorm statistics interpolated with the parameters (or, --buffers start, the
    start checkpoint's at every t).
    """
    import torch

    from ..analysis.landscape import interpolation, parse_memory
    from ..i18n import resolve_lang, t
    from ..render.landscape import LossLineDisplay
    from ..usermodel import fit_state, flat_params, is_factory_spec
    from .landscape import _write_figure
    from .options import RunOptions

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    if not is_factory_spec(model):
        fail(f"--model takes package.module:factory (a model of your own); got {model!r}")
    if not 3 <= points <= 100_000:
        fail(f"--points must be an integer between 3 and 100000; got {points}")
    lo, hi = parse_floats(t_range, "--t-range", 2)
    if not (lo <= 0 and hi >= 1 and lo < hi):
        fail(f"--t-range must hold [0, 1] (TMIN <= 0 < 1 <= TMAX); got {t_range!r}")
    if dtype not in ("float32", "float64"):
        fail(f"--dtype must be float32 or float64; got {dtype!r}")
    if buffers not in ("interpolate", "start"):
        fail(f"--buffers takes interpolate or start; got {buffers!r}")
    budget = parse_memory(memory_budget)
    out = check_writable_dir(out)
    options = RunOptions({"model": model, "data": data, "loss": loss})
    user, states, labels = load_user(options, [checkpoint, to])  # the model holds the end's state
    end = flat_params(user.model)
    end_own = None
    stats = [n for n in user.buffers if not n.endswith("num_batches_tracked")]
    if stats and buffers == "start":
        from ..analysis.evaluator import LossEvaluator

        ev = LossEvaluator(user.model.eval(), user.loss_fn, user.X, user.y, progress=False)
        end_own = float(ev.points(end[None])[0])  # the end with its own BatchNorm statistics
    fit_state(user.model, states[0])  # the line's buffers are the start's
    start = flat_params(user.model)
    release_notes()
    line = interpolation(user.model.eval(), user.loss_fn, user.X, user.y, start, end,
                         t=np.linspace(lo, hi, points), labels=tuple(labels), dtype=getattr(torch, dtype),
                         memory_budget=budget, buffers=(states[0], states[1]) if stats and buffers == "interpolate"
                         else None)
    line.config = {"kind": "checkpoints", "model": user.model_spec, "data": user.data_spec, "loss": user.loss_name,
                   "checkpoints": [str(checkpoint), str(to)], "buffers": stats, "buffers_mode": buffers,
                   "barrier": line.barrier,
                   "barrier_t": line.barrier_t, "end_loss_own_buffers": end_own}
    written = [line.save(out / "interpolation.npz")]
    display = LossLineDisplay.from_line(line, lang=lang)
    written.append(_write_figure(display.figure_, out / f"interpolation.{fmt}", fmt))
    l0, l1 = line.end_losses
    top = int(np.nanargmax(line.loss))
    print(t("cli_interpolate", lang, a=labels[0], b=labels[1], n=len(line.t), dist=f"{line.distance:.4g}",
            la=f"{l0:.6g}", lb=f"{l1:.6g}", top=f"{line.loss[top]:.6g}", tt=f"{line.t[top]:.3g}",
            barrier=f"{line.barrier:.6g}"))
    if end_own is not None:
        print(f"note: {t('cli_interp_buffers', lang, a=labels[0], b=labels[1], own=f'{end_own:.6g}')}")
    for p in written:
        print(f"wrote {p}")
