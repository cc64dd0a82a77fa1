"""``demo``, ``run`` and ``plot``: reproduce the article, train a configuration, redraw a saved run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (EpochsListOpt, FormatOpt, LangOpt, OutOpt, RangeOpt, ResolutionOpt, SpanOpt, app,
                  check_format, check_window, check_writable_dir, check_writable_file, fail, parse_floats,
                  parse_ints)
from .app import takes_palette
from .html import HtmlOpt, check_page_options, write_html
from .export import ScriptOpt, check_script_option, write_script
from .options import RunOptions, takes_run_options

SaveHistoryOpt = Annotated[Optional[Path], typer.Option(
    "--save-history", help="Also save the whole run as a .npz history file (redraw it later with `plot`).")]
ExportCsvOpt = Annotated[Optional[Path], typer.Option(
    "--export-csv", help="Also write the history as CSV: one row per step (loss, parameters, gradients).")]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="Train the run saved in FILE.json (--save-config) or in a history FILE.npz (--save-history) "
                     "again: the same history, bit for bit. No other run options beside it.",
    metavar="FILE")]
SaveConfigOpt = Annotated[Optional[Path], typer.Option(
    "--save-config", help="Also write the run's settings as JSON (run it again with --config).")]
RunRecordingOpt = Annotated[Optional[Path], typer.Option(
    "--recording", help="Also record the run into this new folder with backpropviz.record, every step kept "
                        "(parameters and gradients, in chunks written while it trains), with its data and "
                        "config: plot, html, animate, landscape and explain read the folder as they read "
                        "the --save-history file.", metavar="DIR")]


def check_recording_folder(path: Path) -> Path:
    """``--recording``: a new (or empty) folder we can write into, checked before any work."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(f"--recording {str(path)!r} is a file; give a new folder for the recording")
    if (path / "meta.json").exists() or (path / "index.jsonl").exists():
        fail(f"--recording {str(path)!r} already holds a recording; give a new folder")
    if path.is_dir() and any(path.iterdir()):
        fail(f"--recording {str(path)!r} is a folder that is not empty; give a new or empty folder")
    return check_writable_dir(path, "--recording")


def is_run_recording(path: Path) -> bool:
    """Whether ``path`` is a folder written by ``run --recording`` (a whole run: its History);
    a recording of the user's own loop is not, and goes its own way."""
    from ..record import store

    path = Path(path)
    try:  # meta.json and the index only (Recording.is_run, without reading the rows)
        meta = json.loads((path / "meta.json").read_text())
        return bool(meta.get("every_step")) and any(e.get("kind") == "history" for e in store.read_index(path))
    except (OSError, ValueError, AttributeError):  # not one: the command's own path says what is wrong
        return False


def load_history(path: Path):
    """The History in a history file, or in a folder written by ``run --recording``."""
    from ..history import History

    if Path(path).is_dir() and is_run_recording(path):
        from ..record import load_recording

        try:
            return load_recording(path).to_history()
        except (OSError, ValueError, KeyError) as exc:
            fail(f"{str(path)!r}: the recording cannot be read ({type(exc).__name__}: {exc})")
    return History.load(path)


class FigureOptions:
    """The figure options shared by every command that draws, checked before any work is done."""

    def __init__(self, out: Path, fmt: str, lang: str | None, span: float, resolution: int,
                 surface_range: str | None, boundary_epochs: str | None):
        from ..i18n import resolve_lang

        self.fmt = check_format(fmt)
        self.lang = resolve_lang(lang)
        if not span > 0:
            fail(f"--surface-span must be > 0; got {span}")
        check_window([span], "--surface-span")
        if not 2 <= resolution <= 1000:
            fail(f"--surface-resolution must be between 2 and 1000; got {resolution}")
        self.span, self.resolution = span, resolution
        self.x_range = self.y_range = None
        if surface_range:
            x0, x1, y0, y1 = parse_floats(surface_range, "--surface-range", 4)
            check_window((x0, x1, y0, y1), "--surface-range")
            if not (x0 < x1 and y0 < y1):
                fail(f"--surface-range needs XMIN<XMAX and YMIN<YMAX; got {surface_range!r}")
            self.x_range, self.y_range = (x0, x1), (y0, y1)
        self.boundary_epochs = parse_ints(boundary_epochs, "--boundary-epochs") if boundary_epochs else None
        self.out = check_writable_dir(out)

    def write(self, history) -> list[Path]:
        from ..render.figures import write_run_figures

        if self.boundary_epochs is not None:
            last = int(history.epoch[-1]) + 1 if history.n_steps else 0
            bad = [e for e in self.boundary_epochs if not 0 <= e <= last]
            if bad:
                fail(f"--boundary-epochs must lie in 0..{last} for this run; got {bad[0]}")
        return write_run_figures(
            history, self.out, fmt=self.fmt, lang=self.lang, span=self.span, resolution=self.resolution,
            boundary_epochs=self.boundary_epochs, x_range=self.x_range, y_range=self.y_range)


def _save_extras(history, save_history: Path | None, export_csv: Path | None) -> list[Path]:
    written = []
    if save_history is not None:
        written.append(history.save(save_history))
    if export_csv is not None:
        history.to_csv(export_csv)
        written.append(export_csv)
    return written


def _train_or_fail(config, save_history: Path | None, dataset=None, on_step=None, recording: Path | None = None):
    """Train; on a NaN/inf loss keep the history so far (if asked to save it) and stop with exit 2.
    ``recording``: also record the run into that folder (``train(recording=)``)."""
    from ..errors import TrainingDiverged
    from ..train import train
    from .app import release_notes

    release_notes()  # the input is validated: the notes about it may be read now

    try:
        if dataset is None and on_step is None and recording is None:
            return train(config)
        return train(config, dataset, on_step=on_step, recording=recording)
    except TrainingDiverged as exc:
        kept = ""
        if save_history is not None:
            exc.history.save(save_history, now=True)  # kept although the command fails
            kept = f"; the {exc.history.n_steps} finite steps before it are saved in {save_history}"
        if recording is not None:
            kept += f"; {'they are' if kept else f'the {exc.history.n_steps} finite steps before it are'} " \
                    f"recorded in {recording}"
        fail(f"{exc}{kept}")
    except KeyboardInterrupt as exc:  # Ctrl-C / SIGTERM: train() attached the steps done so far
        exc.kept = _keep_interrupted(getattr(exc, "history", None), config, save_history)
        if recording is not None and getattr(exc, "history", None) is not None:
            held = f"the recording {str(recording)!r} holds them (marked as interrupted)"
            nothing = ": nothing was written"
            exc.kept = (exc.kept[: -len(nothing)] + f": {held}, nothing else was written"
                        if exc.kept.endswith(nothing) else f"{exc.kept}; {held}")
        raise


def _keep_interrupted(history, config, save_history: Path | None) -> str:
    """Save an interrupted run's steps to --save-history (whole, atomically, signals held while it
    is written); say what was kept."""
    from ..interrupts import deferred

    if history is None:
        return "nothing was written"
    done = f"during training, after {history.n_steps} of {total_steps(config, len(history.y))} steps"
    if save_history is None or history.n_steps == 0:
        return f"{done}: nothing was written" + ("" if save_history is None else " (no step was done)")
    with deferred():
        history.save(save_history, now=True)
    return f"{done}: those steps are saved in {save_history} (marked as interrupted), no figures were written"


def _report(history, written: list[Path], lang: str = "en") -> None:
    """The article's truth table (gates), the last step's loss and the files written."""
    from ..train import truth_table

    if history.config.get("data", "").lower() in GATE_NAMES:
        print("X1 X2 RESULT")
        print("\n".join(truth_table(history)))
    print(last_step_line(history, lang))
    for path in written:
        print(f"wrote {path}")


GATE_NAMES = {"and", "or", "nand", "nor", "xor", "xnor"}


def last_step_line(history, lang: str = "en") -> str:
    """``history.loss[-1]`` with what it was measured on: the last step's batch, at the parameters
    before that step's update, L1/L2 penalty included when the run has one.

    >>> last_step_line(h)                                                    # doctest: +SKIP
    "last step's loss 0.109595 (step 3999, the last of 4000: a batch of 1 of the 200 training rows, before its update)"
    """
    n = len(history.y)
    rows = n if history.batches is None else int((history.batches[-1] >= 0).sum())
    from ..i18n import t

    batch = t("cli_batch_all", lang, n=n) if rows == n else t("cli_batch_part", lang, rows=rows, n=n)
    config = history.config
    penalty = t("cli_penalty", lang) if config.get("l1") or config.get("l2") else ""
    return t("cli_last_step", lang, loss=f"{float(history.loss[-1]):.6f}", step=history.n_steps - 1,
             n=history.n_steps, batch=batch, penalty=penalty)


@app.command()
@takes_palette
def demo(
    out: OutOpt = Path("out/demo"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    save_history: SaveHistoryOpt = None,
    html_out: HtmlOpt = None,
) -> None:
    """Reproduce the article: a perceptron learns the AND gate.

    BCE loss, SGD lr 0.5, 1000 full-batch epochs, seed 2025, start w1=-1, w2=1, b=0. Prints the
    article's truth table and writes the 2x2 overview and the loss curve.
    """
    from ..config import RunConfig

    figs = FigureOptions(out, fmt, lang, 8.0, 50, None, None)
    if save_history is not None:
        check_writable_file(save_history, "--save-history", (".npz",))
    if html_out is not None:
        check_page_options(html_out, 1000, 51)
    history = _train_or_fail(RunConfig(), save_history)
    written = figs.write(history) + _save_extras(history, save_history, None)
    if html_out is not None:
        written.append(write_html(history, html_out, figs.lang))
    _report(history, written, figs.lang)


# -- options of `run` and `plot` --------------------------------------------------------------
ViewsOpt = Annotated[Optional[str], typer.Option(
    "--views", help="Comma-separated views to draw: overview, loss, probability, hidden, network, trajectories, "
                    "gradients, metrics, first-layer (image inputs such as --data digits), prediction "
                    "(regression); or 'all'. Default: "
                    "the article's overview and loss curve for a two-input perceptron, the network views otherwise.")]
NetworkEpochsOpt = Annotated[Optional[str], typer.Option(
    "--network-epochs", help="Epochs whose weights the network diagram shows, e.g. 0,1000 (default: first and last).")]
HiddenEpochOpt = Annotated[Optional[int], typer.Option(
    "--hidden-epoch", help="Epoch whose hidden-unit outputs to draw (default: the last).")]
PlaneResolutionOpt = Annotated[int, typer.Option(
    "--plane-resolution", help="Grid points per axis of the input-plane views (probability, hidden).")]


def load_checked(config, record: bool = True):
    """``(data set, rows in its training part)`` of ``config``, after the checks training makes
    (the loss fits the classes, the split leaves rows on both sides, ``--init`` fits the model,
    and with ``record`` the history fits in memory: a run too long is refused before it starts)."""
    from ..train import check_run_fits, load_data, prepare

    dataset = load_data(config)
    train_set, _, model = prepare(config, dataset)
    if record:
        check_run_fits(config, len(train_set.y), sum(p.numel() for p in model.parameters()))
    return dataset, len(train_set.y)


class StepProgress:
    """A rich progress bar on stderr for training that lasts more than a moment (terminals only)."""

    CHECK_EVERY = 64

    def __init__(self, total: int, label: str = "training"):
        import sys
        import time

        self.total, self.label = total, label
        self.enabled = sys.stderr.isatty()
        self.started = time.perf_counter()
        self.bar = self.task = None

    def __call__(self, step: int) -> None:
        if not self.enabled or step % self.CHECK_EVERY:
            return
        import time

        if self.bar is None:
            elapsed = time.perf_counter() - self.started
            if elapsed < 0.5 or elapsed / step * self.total < 1.5:
                return
            import sys

            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(file=sys.stderr), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total)
        self.bar.update(self.task, completed=step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def total_steps(config, n_train: int) -> int:
    from ..train import batch_layout

    return config.epochs * batch_layout(config, n_train)[2]


def parse_epoch_list(text: str | None, option: str, n_epochs: int) -> list[int] | None:
    """``"0,10,100"`` -> ints within ``0..n_epochs``, or None when not given."""
    if text is None:
        return None
    values = parse_ints(text, option)
    if not values:
        fail(f"{option} takes comma-separated whole numbers such as 0,10,100; got {text!r}")
    bad = [e for e in values if not 0 <= e <= n_epochs]
    if bad:
        fail(f"{option} must lie in 0..{n_epochs} for this run; got {bad[0]}")
    return values


class ViewSettings:
    """Figure options of `run` and `plot`, checked before any work is done."""

    def __init__(self, out, fmt, lang, views, surface_span, surface_resolution, surface_range,
                 boundary_epochs, network_epochs, hidden_epoch, plane_resolution):
        from ..render.views import parse_views

        self.figs = FigureOptions(out, fmt, lang, surface_span, surface_resolution, surface_range, None)
        self.requested = parse_views(views)
        if not 2 <= plane_resolution <= 1000:
            fail(f"--plane-resolution must be between 2 and 1000; got {plane_resolution}")
        self.texts = (boundary_epochs, network_epochs)
        self.hidden_epoch = hidden_epoch
        self.plane_resolution = plane_resolution
        if boundary_epochs is not None:
            parse_ints(boundary_epochs, "--boundary-epochs")

    def options(self, n_epochs: int):
        """ViewOptions for a run of ``n_epochs`` epochs (epoch options checked against it)."""
        from ..render.views import ViewOptions

        boundary, network = self.texts
        if self.hidden_epoch is not None and not 0 <= self.hidden_epoch <= n_epochs:
            fail(f"--hidden-epoch must lie in 0..{n_epochs} for this run; got {self.hidden_epoch}")
        f = self.figs
        return ViewOptions(
            boundary_epochs=parse_epoch_list(boundary, "--boundary-epochs", n_epochs),
            network_epochs=parse_epoch_list(network, "--network-epochs", n_epochs),
            hidden_epoch=self.hidden_epoch, resolution=self.plane_resolution, span=f.span,
            surface_resolution=f.resolution, x_range=f.x_range, y_range=f.y_range)

    def views(self, shape, has_test: bool):
        """The views to draw; a note on stderr when default views that draw the input plane are
        left out because the data do not have two features."""
        from dataclasses import replace

        from ..render.views import check_views, default_views

        chosen = check_views(self.requested, shape, has_test=has_test)
        if self.requested is None and shape.n_features != 2:
            plane_views = ("overview", "probability", "hidden", "prediction")
            skipped = [v for v in default_views(replace(shape, n_features=2), has_test)
                       if v in plane_views and v not in chosen]
            if skipped:
                from ..i18n import t

                lang = self.figs.lang
                key = "cli_skipped_many" if len(skipped) > 1 else "cli_skipped_one"
                names = t("cli_and", lang).join(skipped)
                print(f"note: {t(key, lang, views=names, n=shape.n_features)}", file=sys.stderr)
        return chosen

    def write(self, history, views, options) -> list[Path]:
        from ..render.views import write_views

        return write_views(history, self.figs.out, views, fmt=self.figs.fmt, lang=self.figs.lang,
                           options=options)


def _report_run(history, written: list[Path], lang: str = "en") -> None:
    """The truth table for gates, the last step's loss, the whole-set metrics after training and
    the files written; a note on stderr when the gradient vanished short of fitting the data."""
    from ..i18n import t
    from ..train import truth_table

    if history.config.get("data", "").lower() in GATE_NAMES:
        print("X1 X2 RESULT")
        print("\n".join(truth_table(history)))
    print(last_step_line(history, lang))
    # The per-epoch metrics are the data loss (no L1/L2 term) at the final parameters, and the
    # accuracy (classes) or R^2 (regression).
    from ..train import is_regression

    r2 = "_r2" if is_regression(history) else ""
    score = (lambda v: f"{v:.4f}") if r2 else (lambda v: f"{v:.2%}")
    if history.epoch_train_loss is not None and len(history.epoch_train_loss):
        print(t("cli_train_after" + r2, lang, loss=f"{float(history.epoch_train_loss[-1]):.6f}",
                acc=score(float(history.epoch_train_acc[-1])), n=len(history.y)))
    if history.has_test and history.epoch_test_loss is not None:
        print(t("cli_test_after" + r2, lang, loss=f"{float(history.epoch_test_loss[-1]):.6f}",
                acc=score(float(history.epoch_test_acc[-1])), n=len(history.y_test)))
    for path in written:
        print(f"wrote {path}")
    note = stall_note(history, lang)
    if note:
        print(f"note: {note}", file=sys.stderr)


# What ``stall_note`` suggests instead of a learning rate that saturated the outputs: a usual
# starting value for the optimiser (adaptive ones take smaller steps per unit of lr).
USUAL_LR = {"adam": 0.01, "adamw": 0.01, "rmsprop": 0.01, "adagrad": 0.1}
SATURATED = 1e-6  # a probability this close to 0 or 1 passes (almost) no gradient back


def _saturated_rows(probabilities):
    """Per row: is the model's output pinned at 0 or 1 (binary) or at one class (softmax)?"""
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 1:
        return (p < SATURATED) | (p > 1 - SATURATED)
    return p.max(axis=1) > 1 - SATURATED


def _exactly_pinned(probabilities):
    """Per row of a binary task: is the output exactly 0 or 1, where float32 passes no gradient?"""
    import numpy as np

    p = np.asarray(probabilities)
    return (p == 0.0) | (p == 1.0)


def _wrong_rows(probabilities, y):
    import numpy as np

    p = np.asarray(probabilities)
    predicted = (p >= 0.5).astype(np.int64) if p.ndim == 1 else p.argmax(axis=1)
    return predicted != np.asarray(y).astype(np.int64).reshape(-1)


def stall_note(history, lang: str = "en") -> str | None:
    """A hint when training stopped moving short of fitting the data (the gradient vanished),
    saying why: outputs saturated by a too-large --lr or by the start, a perceptron on data
    that no line separates, or otherwise a flat point of the loss."""
    import numpy as np

    from ..data import linearly_separable
    from ..i18n import t
    from ..train import is_regression, predict

    if not history.n_steps or history.epoch_train_acc is None or not len(history.epoch_train_acc) \
            or is_regression(history):  # the hints are about classes: saturated outputs, a line
        return None
    accuracy = float(history.epoch_train_acc[-1])
    grad_norm = float(np.linalg.norm(history.grads[-1]))
    if accuracy >= 1.0:
        return None
    if grad_norm > 1e-6:
        return _pinned_rows_note(history, accuracy, lang)
    head = t("cli_stall_head", lang, grad=f"{grad_norm:.1e}", acc=f"{accuracy:.0%}")
    config = history.config
    final = predict(history, -1)
    wrong = _wrong_rows(final, history.y)
    if wrong.any() and _saturated_rows(final)[wrong].all():
        loss = float(history.epoch_train_loss[-1])
        if _saturated_rows(predict(history, 0)).mean() < 0.5:
            lr = float(config.get("lr", 0.5))
            usual = USUAL_LR.get(str(config.get("optimizer", "sgd")).lower(), 0.1)
            return head + t("cli_stall_lr", lang, loss=f"{loss:.3g}", lr=f"{lr:g}", usual=f"{min(lr / 10, usual):g}")
        return head + t("cli_stall_start", lang, loss=f"{loss:.3g}")
    if str(config.get("model", "")).lower().startswith("perceptron") \
            and not linearly_separable(history.X, history.y):
        return head + t("cli_stall_line", lang)
    return head + t("cli_stall_flat", lang)


def _pinned_rows_note(history, accuracy: float, lang: str) -> str | None:
    """When training still moves but every misclassified row of a binary task has its output at
    exactly 0 or 1: in float32 such a row passes no gradient back (sigmoid's derivative is 0
    there), so the rest of the data trains on while those rows stay wrong."""
    import numpy as np

    from ..i18n import t
    from ..train import predict

    final = np.asarray(predict(history, -1))
    if final.ndim != 1:  # softmax + cross-entropy keeps a gradient for a confidently wrong row
        return None
    wrong = _wrong_rows(final, history.y)
    if not wrong.any() or not _exactly_pinned(final)[wrong].all():
        return None
    note = t("cli_pinned_rows", lang, n=int(wrong.sum()), total=len(final), acc=f"{accuracy:.0%}")
    if _exactly_pinned(predict(history, 0))[wrong].all():
        note += t("cli_pinned_start", lang)
    return note


@app.command()
@takes_palette
@takes_run_options()
def run(
    run_options: RunOptions,
    views: ViewsOpt = None,
    out: OutOpt = Path("out/run"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    save_history: SaveHistoryOpt = None,
    export_csv: ExportCsvOpt = None,
    surface_span: SpanOpt = 8.0,
    surface_resolution: ResolutionOpt = 50,
    surface_range: RangeOpt = None,
    boundary_epochs: EpochsListOpt = None,
    network_epochs: NetworkEpochsOpt = None,
    hidden_epoch: HiddenEpochOpt = None,
    plane_resolution: PlaneResolutionOpt = 120,
    config_file: ConfigOpt = None,
    save_config: SaveConfigOpt = None,
    html_out: HtmlOpt = None,
    script: ScriptOpt = None,
    recording: RunRecordingOpt = None,
) -> None:
    """Train one configuration, print its results and write its figures.

    A two-input perceptron gets the article's overview and loss curve; other models get the
    probability map over the input plane, hidden-unit outputs, the network diagram, parameter
    trajectories by layer, gradient norms by layer and train/test curves (choose with --views).

    --recording DIR also records the run with backpropviz.record (every step's parameters and
    gradient, with its data and config); commands that read a history file read that folder too.
    """
    from ..i18n import resolve_lang
    from ..render.views import RunShape

    if config_file is not None:
        from ..config import load_config

        run_options.refuse_with_history(config_file, "--config")
        config = load_config(config_file)
    else:
        config = run_options.config(lang=resolve_lang(lang))
    settings = ViewSettings(out, fmt, lang, views, surface_span, surface_resolution, surface_range,
                            boundary_epochs, network_epochs, hidden_epoch, plane_resolution)
    options = settings.options(config.epochs)
    if save_history is not None:
        check_writable_file(save_history, "--save-history", (".npz",))
    if export_csv is not None:
        check_writable_file(export_csv, "--export-csv", (".csv",))
    if save_config is not None:
        check_writable_file(save_config, "--save-config", (".json",))
    if html_out is not None:
        check_page_options(html_out, 1000, 51)
    if script is not None:
        check_script_option(script)
    if recording is not None:
        check_recording_folder(recording)
    dataset, n_train = load_checked(config)
    shape = RunShape.of_config(config, dataset.n_features, dataset.n_classes, dataset.feature_names,
                               dataset.is_regression)
    chosen = settings.views(shape, has_test=config.test_fraction > 0)
    with StepProgress(total_steps(config, n_train)) as progress:
        history = _train_or_fail(config, save_history, dataset, progress, recording)
    written = settings.write(history, chosen, options) + _save_extras(history, save_history, export_csv)
    if recording is not None:
        written.append(recording)
    if save_config is not None:
        from ..history import atomic_write

        atomic_write(save_config, lambda f: f.write((json.dumps(history.config, indent=2, sort_keys=True)
                                                     + "\n").encode()))
        written.append(save_config)
    if html_out is not None:
        written.append(write_html(history, html_out, settings.figs.lang))
    if script is not None:
        written.append(write_script(config, script))
    _report_run(history, written, settings.figs.lang)


def saved_file_kind(path: Path) -> str:
    """``"history"``, ``"landscape"`` or ``"basins"``: which of backpropviz's .npz files ``path``
    is, from the arrays it holds (anything else, or a file that cannot be read, counts as a
    history, whose loading then says what is wrong)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = {Path(n).stem for n in z.namelist()}
    except (OSError, zipfile.BadZipFile):
        return "history"
    if {"params", "grads"} <= names:
        return "history"
    if {"final_loss", "steps_to_threshold", "cluster"} <= names:
        return "basins"
    if {"alpha", "beta", "loss", "directions", "path"} <= names:
        return "landscape"
    return "history"


def _plot_recording(path: Path, views: str | None, out: Path, fmt: str, lang: str | None, export_csv) -> list[Path]:
    """The figures of a recording of the user's own loop (render/layerstats.py): loss, layers,
    weights, grads, path; a figure that cannot be drawn (no snapshots yet) gets a note."""
    from ..analysis.recording_views import load_checked
    from ..i18n import resolve_lang
    from ..render.layerstats import write_recording_figures

    if views is not None or export_csv is not None:
        fail(f"--views and --export-csv are for history files; a recording folder ({str(path)!r}) gets its "
             "figures loss, layers, weights, grads and path")
    fmt, lang = check_format(fmt), resolve_lang(lang)
    rec = load_checked(path)
    check_writable_dir(out)
    paths, skipped = write_recording_figures(rec, out, fmt=fmt, lang=lang)
    for reason in skipped:
        print(f"note: {reason}", file=sys.stderr)
    return paths


def _plot_map(path: Path, kind: str, views: str | None, out: Path, fmt: str, lang: str | None) -> list[Path]:
    """Redraw the figures of a landscape file (its contour, filled, heatmap and 3d views, or
    those of --views) or of a convergence map (basins.npz)."""
    from ..i18n import resolve_lang
    from .landscape import VIEWS as LANDSCAPE_VIEWS, _parse_views, _write_figure

    fmt, lang = check_format(fmt), resolve_lang(lang)
    if kind == "basins":
        if views is not None:
            fail(f"--views chooses among a history's or a landscape's figures; a convergence map has one; "
                 f"got --views {views} with {str(path)!r}")
        from ..analysis.basins import BasinMap
        from ..render.basins import basins_figure

        basin_map = BasinMap.load(path)
        out = check_writable_dir(out)
        return [_write_figure(basins_figure(basin_map, lang=lang)[0], out / f"basins.{fmt}", fmt)]
    from ..analysis.landscape import Landscape
    from ..render.landscape import landscape_figure

    chosen = _parse_views(views or ",".join(LANDSCAPE_VIEWS))
    land = Landscape.load(path)
    out = check_writable_dir(out)
    rendered = [(view, landscape_figure(land, view, lang=lang)[0]) for view in chosen]
    return [_write_figure(fig, out / f"landscape_{view}.{fmt}", fmt) for view, fig in rendered]


@app.command()
@takes_palette
def plot(
    history_file: Annotated[Path, typer.Argument(
        help="A .npz history written by --save-history, a landscape file (landscape.npz, from `landscape`) "
             "or a convergence map (basins.npz, from `basins`); or a recording folder written by "
             "backpropviz.record (its loss, per-layer scalars, distributions and path); a folder written by "
             "run --recording gets the figures of its history.", metavar="FILE.npz|RECORDING")],
    views: ViewsOpt = None,
    out: OutOpt = Path("out/plot"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    export_csv: ExportCsvOpt = None,
    surface_span: SpanOpt = 8.0,
    surface_resolution: ResolutionOpt = 50,
    surface_range: RangeOpt = None,
    boundary_epochs: EpochsListOpt = None,
    network_epochs: NetworkEpochsOpt = None,
    hidden_epoch: HiddenEpochOpt = None,
    plane_resolution: PlaneResolutionOpt = 120,
) -> None:
    """Redraw the figures of a saved history without training (any view, see --views), or of a
    saved landscape (--views contour, filled, heatmap, 3d) or convergence map."""
    from ..analysis.views import final_epoch
    from ..render.views import RunShape

    if history_file.is_dir() and not is_run_recording(history_file):
        for path in _plot_recording(history_file, views, out, fmt, lang, export_csv):
            print(f"wrote {path}")
        return
    kind = "history" if history_file.is_dir() else saved_file_kind(history_file)
    if kind != "history":
        if export_csv is not None:
            fail(f"--export-csv writes a history's steps; {str(history_file)!r} is a {kind} file")
        for path in _plot_map(history_file, kind, views, out, fmt, lang):
            print(f"wrote {path}")
        return
    history = load_history(history_file)
    settings = ViewSettings(out, fmt, lang, views, surface_span, surface_resolution, surface_range,
                            boundary_epochs, network_epochs, hidden_epoch, plane_resolution)
    if export_csv is not None:
        check_writable_file(export_csv, "--export-csv", (".csv",))
    options = settings.options(final_epoch(history))
    chosen = settings.views(RunShape.of_history(history), has_test=history.has_test)
    written = settings.write(history, chosen, options) + _save_extras(history, None, export_csv)
    for path in written:
        print(f"wrote {path}")
