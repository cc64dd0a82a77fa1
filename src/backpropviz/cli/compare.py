"""``compare``: train several settings from the same initial parameters and draw them together."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .app import FormatOpt, LangOpt, OutOpt, app, check_writable_dir, fail
from .app import takes_palette
from .core import StepProgress, total_steps
from .options import RunOptions, takes_run_options

VaryOpt = Annotated[List[str], typer.Option(
    "--vary", help="KEY=V1,V2,...: the setting that differs between runs, e.g. optimizer=sgd,adam,rmsprop, "
                   "lr=0.1,0.5,1, batch-size=1,16,full, loss=bce,mse, momentum=0,0.9, activation=sigmoid,relu "
                   "(also schedule, weight-decay, l1, l2, epochs). Repeat it to combine settings.")]


@app.command()
@takes_palette
@takes_run_options()
def compare(
    vary: VaryOpt = [],  # noqa: B006  (typer reads the default; it is never mutated)
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
    plane: Annotated[str, typer.Option(
        "--plane", help="The loss slice: auto (w1,w2 for a perceptron, PCA otherwise), params (two "
                        "parameters, see --params) or pca (plane of all paths' top two principal directions).")] = "auto",
    params: Annotated[Optional[str], typer.Option(
        "--params", help="Two parameter names for --plane params, e.g. w1,b or 0.weight[0,0],0.weight[0,1].")] = None,
    resolution: Annotated[int, typer.Option("--resolution", help="Grid points per axis of the slice.")] = 61,
    out: OutOpt = Path("out/compare"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    save_histories: Annotated[Optional[Path], typer.Option(
        "--save-histories", help="Also save each run's history as DIR/run<k>.npz (redraw with `plot`).")] = None,
    animate: Annotated[Optional[str], typer.Option(
        "--animate", help="Also write the race as compare.gif or compare.mp4: every run's path growing on the "
                          "one slice, with its loss and accuracy curves, epoch by epoch.")] = None,
    frames: Annotated[int, typer.Option("--frames", help="Frames of --animate (at least 2; first and last epoch "
                                                        "always).")] = 100,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second of --animate (up to 50).")] = 20.0,
) -> None:
    """Train several settings from one start and draw their paths and curves together.

    Every run starts from the same initial parameters (same seed, same model); only the --vary
    settings differ. Writes compare.<fmt> (paths on one loss slice, loss and accuracy per epoch,
    one colour per run) and, for networks, gradient_norms.<fmt> (per-layer norms, run by run).

    Example: backpropviz compare --data xor --model mlp:4 --vary optimizer=sgd,adam,rmsprop --lr 0.1
    """
    from ..analysis.compare import PLANES, parse_vary, variants
    from ..errors import choice_error
    from ..i18n import resolve_lang
    from ..render.figures import check_format

    lang = resolve_lang(lang)
    varied = [parse_vary(v) for v in vary]
    # The notes are per run (below), except what fitting the base run to its data changed; not
    # even that when the runs vary the loss (each names its own).
    base = run_options.config(notes=False, data_notes=all(key != "loss" for key, _ in varied), lang=lang)
    runs = variants(base, varied)
    _note_ignored_settings(runs, schedule_varied=any(key == "schedule" for key, _ in varied), lang=lang)
    if plane.lower() not in PLANES:
        raise choice_error("plane", plane, PLANES)
    param_pair = None
    if params is not None:
        param_pair = tuple(p.strip() for p in params.split(";" if ";" in params else ",")) \
            if "[" not in params else _split_names(params)
        if len(param_pair) != 2:
            fail(f"--params takes two parameter names such as w1,b; got {params!r}")
        if plane.lower() == "pca":
            fail("--params chooses the axes of --plane params; it does not apply to --plane pca")
    if not 2 <= resolution <= 1000:
        fail(f"--resolution must be between 2 and 1000; got {resolution}")
    fmt = check_format(fmt)
    if animate is not None:
        from ..analysis.frames import check_frames
        from ..render.animate import check_animation_format, check_fps, require_video

        animate = check_animation_format(animate, "--animate")
        check_frames(frames)
        check_fps(fps)
        if animate == "mp4":
            require_video()
    out = check_writable_dir(out)
    if save_histories is not None:
        check_writable_dir(save_histories, "--save-histories")

    from ..train import check_run_fits, load_data, prepare

    dataset = load_data(base)
    n_train = None
    for label, config in runs:  # every run's loss must fit the data, before anything trains
        try:
            train_set, _, model = prepare(config, dataset)
            check_run_fits(config, len(train_set.y), sum(p.numel() for p in model.parameters()))
        except Exception as exc:
            from ..errors import BackpropvizError

            if isinstance(exc, BackpropvizError):
                fail(f"run {label}: {exc}")
            raise
        n_train = len(train_set.y)
    if param_pair is not None:
        from ..models import build_model, param_names
        from ..train import n_outputs

        names = param_names(build_model(base.model, dataset.n_features, seed=base.seed,
                                        activation=base.activation, n_outputs=n_outputs(dataset.n_classes)))
        for name in param_pair:
            if name not in names:
                fail(f"--params: no parameter {name!r}; this model has: {', '.join(names[:12])}"
                     + (" ..." if len(names) > 12 else ""))

    histories, diverged = _train_all(runs, dataset, n_train)
    _draw_and_report(runs, histories, diverged, plane, param_pair, resolution, out, fmt, lang, save_histories,
                     animation=None if animate is None else (animate, frames, fps))


def _note_ignored_settings(runs, *, schedule_varied: bool = False, lang: str = "en") -> None:
    """One stderr note per distinct setting that some runs would ignore, naming those runs."""
    import sys

    from ..i18n import t
    from .options import ignored_setting_note

    by_note: dict[str, list[str]] = {}
    for label, config in runs:
        note = ignored_setting_note(config, schedule_varied=schedule_varied, lang=lang)
        if note:
            by_note.setdefault(note, []).append(label)
    for note, labels in by_note.items():
        print(f"note: {t('cli_run_note', lang, labels=', '.join(labels), note=note)}", file=sys.stderr)


def results_table(labels, histories, lang: str = "en") -> list[str]:
    """The compare table: one row per run, columns aligned, one number format per column.

    ``train loss`` and ``accuracy`` are on the whole training set at the final parameters
    (data loss), as ``run`` prints them; ``steps`` counts the optimisation steps taken.
    Columns are aligned by terminal width (a Japanese character takes two columns).
    """
    from ..i18n import t
    from ..render.chain import ljust, rjust, text_width
    from ..train import is_regression

    regression = is_regression(histories[0])  # R^2 instead of accuracy
    rows = []
    for label, history in zip(labels, histories):
        loss = float(history.epoch_train_loss[-1]) if len(history.epoch_train_loss) else float("nan")
        acc = float(history.epoch_train_acc[-1]) if len(history.epoch_train_acc) else float("nan")
        rows.append([label, f"{loss:.6f}", f"{acc:.4f}" if regression else f"{acc:.2%}", str(history.n_steps)])
    header = [t(key, lang) for key in ("cli_col_run", "cli_col_loss", "cli_col_r2" if regression else "cli_col_acc",
                                       "cli_col_steps")]
    widths = [max(text_width(row[k]) for row in [header, *rows]) for k in range(len(header))]

    def line(cells):  # the label left-aligned, the numbers right-aligned
        return "  ".join([ljust(cells[0], widths[0])] + [rjust(c, w) for c, w in zip(cells[1:], widths[1:])])

    return [line(header)] + [line(row) for row in rows]


def _split_names(text: str) -> tuple[str, ...]:
    """Split 'a[0,1],b[2]' at the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return tuple(p for p in parts if p)


def _train_all(runs, dataset, n_train):
    from ..errors import TrainingDiverged
    from ..train import train

    from .app import release_notes

    release_notes()  # every run's input is validated: the notes about them may be read now
    histories, diverged = [], []
    total = sum(total_steps(config, n_train) for _, config in runs)
    done = 0
    with StepProgress(total, "training runs") as progress:
        for _, config in runs:
            def on_step(step, offset=done):
                progress(offset + step)

            try:
                history = train(config, dataset, on_step=on_step)
                diverged.append(False)
            except TrainingDiverged as exc:
                history = exc.history
                diverged.append(True)
            histories.append(history)
            done += total_steps(config, n_train)
    return histories, diverged


def _draw_and_report(runs, histories, diverged, plane, param_pair, resolution, out, fmt, lang, save_histories,
                     animation=None):
    from ..analysis.compare import comparison_slice
    from ..analysis.views import layers
    from ..history import atomic_write
    from ..render.base import note_diverged
    from ..render.compare import CompareDisplay
    from ..render.figures import figure_bytes, gc_paused
    from ..render.fonts import use_language
    from ..render.gradnorms import GradientNormComparison
    from ..i18n import name_label, t

    labels = [label + (t("diverged_suffix", lang) if bad else "") for (label, _), bad in zip(runs, diverged)]
    slice_ = comparison_slice(histories, method=plane, params=param_pair, resolution=resolution,
                              finished=[not bad for bad in diverged])
    rendered = []

    def note(fig):  # each diverged run says at which step, on every figure
        for (label, _), history in zip(runs, histories):
            note_diverged(fig, history, lang, label=label)

    with gc_paused(), use_language(lang):
        display = CompareDisplay.from_histories(histories, labels, slice_, diverged=diverged, lang=lang)
        note(display.figure_)
        rendered.append((f"compare.{fmt}", figure_bytes(display.figure_, fmt)))
        if len(layers(histories[0].param_names)) > 1:
            config = histories[0].config
            title = t("compare_grad_title", lang, data=str(config.get("data", "")),
                      model=name_label("model", config.get("model", ""), lang))
            grads = GradientNormComparison.from_histories(histories, labels, title=title, lang=lang)
            note(grads.figure_)
            rendered.append((f"gradient_norms.{fmt}", figure_bytes(grads.figure_, fmt)))
    written = []
    for name, data in rendered:
        path = out / name
        atomic_write(path, lambda f, data=data: f.write(data))
        written.append(path)
    if animation is not None:
        written.append(_write_race(histories, labels, slice_, diverged, out, lang, *animation))
    if save_histories is not None:
        for k, history in enumerate(histories, start=1):
            written.append(history.save(save_histories / f"run{k}.npz"))
    table_labels = [label + (t("diverged_suffix", lang) if bad else "") for (label, _), bad in zip(runs, diverged)]
    print("\n".join(results_table(table_labels, histories, lang)))
    for path in written:
        print(f"wrote {path}")


def _write_race(histories, labels, slice_, diverged, out, lang, fmt, n_frames, fps):
    """compare.<gif|mp4>: the runs' paths and curves growing together, epoch by epoch."""
    import sys

    from ..analysis.frames import choose_race_frames
    from ..i18n import t
    from ..render.animate import Animation
    from ..render.compare import CompareDisplay

    choice = choose_race_frames(histories, n_frames)
    if choice.every_row:
        epochs = len(choice.rows) - 1
        print("note: " + t("anim_every_epoch", lang, asked=n_frames, rows=epochs + 1, epochs=epochs), file=sys.stderr)
    scene = CompareDisplay.for_animation(histories, labels, slice_, diverged=diverged, lang=lang)
    return Animation(scene, choice.rows, fps=fps).save(out / f"compare.{fmt}", fmt)
