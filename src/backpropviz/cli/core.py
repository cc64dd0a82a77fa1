"""``demo``, ``run`` and ``plot``: reproduce the article, train a configuration, redraw a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import (EpochsListOpt, FormatOpt, LangOpt, OutOpt, RangeOpt, ResolutionOpt, SpanOpt, app,
                  check_writable_dir, check_writable_file, fail, parse_floats, parse_ints)

SaveHistoryOpt = Annotated[Optional[Path], typer.Option(
    "--save-history", help="Also save the whole run as a .npz history file (redraw it later with `plot`).")]
ExportCsvOpt = Annotated[Optional[Path], typer.Option(
    "--export-csv", help="Also write the history as CSV: one row per step (loss, parameters, gradients).")]


class FigureOptions:
    """The figure options shared by every command that draws, checked before any work is done."""

    def __init__(self, out: Path, fmt: str, lang: str | None, span: float, resolution: int,
                 surface_range: str | None, boundary_epochs: str | None):
        from ..i18n import resolve_lang
        from ..render.figures import FORMATS

        self.fmt = fmt.lower()
        if self.fmt not in FORMATS:
            fail(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
        self.lang = resolve_lang(lang)
        if not span > 0:
            fail(f"--surface-span must be > 0; got {span}")
        if not 2 <= resolution <= 1000:
            fail(f"--surface-resolution must be between 2 and 1000; got {resolution}")
        self.span, self.resolution = span, resolution
        self.x_range = self.y_range = None
        if surface_range:
            x0, x1, y0, y1 = parse_floats(surface_range, "--surface-range", 4)
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


def _train_or_fail(config, save_history: Path | None):
    """Train; on a NaN/inf loss keep the history so far (if asked to save it) and stop with exit 2."""
    from ..errors import TrainingDiverged
    from ..train import train

    try:
        return train(config)
    except TrainingDiverged as exc:
        kept = ""
        if save_history is not None:
            exc.history.save(save_history)
            kept = f"; the {exc.history.n_steps} finite steps before it are saved in {save_history}"
        fail(f"{exc}{kept}")


def _report(history, written: list[Path]) -> None:
    from ..train import truth_table

    if history.config.get("data", "").lower() in {"and", "or", "nand", "nor", "xor", "xnor"}:
        print("X1 X2 RESULT")
        print("\n".join(truth_table(history)))
    print(f"final loss {float(history.loss[-1]):.6f} after {history.n_steps} steps")
    for path in written:
        print(f"wrote {path}")


@app.command()
def demo(
    out: OutOpt = Path("out/demo"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    save_history: SaveHistoryOpt = None,
) -> None:
    """Reproduce the article: a perceptron learns the AND gate.

    BCE loss, SGD lr 0.5, 1000 full-batch epochs, seed 2025, start w1=-1, w2=1, b=0. Prints the
    article's truth table and writes the 2x2 overview and the loss curve.
    """
    from ..config import RunConfig

    figs = FigureOptions(out, fmt, lang, 8.0, 50, None, None)
    if save_history is not None:
        check_writable_file(save_history, "--save-history", (".npz",))
    history = _train_or_fail(RunConfig(), save_history)
    written = figs.write(history) + _save_extras(history, save_history, None)
    _report(history, written)


@app.command()
def run(
    data: Annotated[str, typer.Option("--data", "-d", help="Data set: and, or, nand, nor, xor, xnor.")] = "and",
    loss: Annotated[str, typer.Option("--loss", help="Loss: bce or mse.")] = "bce",
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimiser: sgd.")] = "sgd",
    lr: Annotated[float, typer.Option("--lr", help="Learning rate (> 0).")] = 0.5,
    momentum: Annotated[float, typer.Option("--momentum", help="SGD momentum in [0, 1).")] = 0.0,
    epochs: Annotated[int, typer.Option("--epochs", "-e", help="Number of epochs (>= 1).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (initialisation, shuffling).")] = 2025,
    init: Annotated[Optional[str], typer.Option(
        "--init", help="Initial parameters w1,w2,b (e.g. -1,1,0), or 'random' for a seeded random start. "
                       "Default: the article's -1,1,0.")] = None,
    out: OutOpt = Path("out/run"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    save_history: SaveHistoryOpt = None,
    export_csv: ExportCsvOpt = None,
    surface_span: SpanOpt = 8.0,
    surface_resolution: ResolutionOpt = 50,
    surface_range: RangeOpt = None,
    boundary_epochs: EpochsListOpt = None,
) -> None:
    """Train one configuration, print its truth table and write its figures."""
    from ..config import ARTICLE_INIT, RunConfig, parse_init

    if init is None:
        init_values = ARTICLE_INIT
    elif init.strip().lower() == "random":
        init_values = None
    else:
        init_values = parse_init(init)
    config = RunConfig(data=data, loss=loss, optimizer=optimizer, lr=lr, momentum=momentum,
                       epochs=epochs, seed=seed, init=init_values).validate()
    from ..losses import get_loss
    from ..optim import OPTIMIZERS
    from ..errors import choice_error

    get_loss(config.loss)
    if config.optimizer.lower() not in OPTIMIZERS:
        raise choice_error("optimizer", config.optimizer, OPTIMIZERS)
    figs = FigureOptions(out, fmt, lang, surface_span, surface_resolution, surface_range, boundary_epochs)
    if save_history is not None:
        check_writable_file(save_history, "--save-history", (".npz",))
    if export_csv is not None:
        check_writable_file(export_csv, "--export-csv", (".csv",))
    history = _train_or_fail(config, save_history)
    written = figs.write(history) + _save_extras(history, save_history, export_csv)
    _report(history, written)


@app.command()
def plot(
    history_file: Annotated[Path, typer.Argument(help="A .npz history written by --save-history.",
                                                 metavar="HISTORY.npz")],
    out: OutOpt = Path("out/plot"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    export_csv: ExportCsvOpt = None,
    surface_span: SpanOpt = 8.0,
    surface_resolution: ResolutionOpt = 50,
    surface_range: RangeOpt = None,
    boundary_epochs: EpochsListOpt = None,
) -> None:
    """Redraw the figures of a saved history without training."""
    from ..history import History

    history = History.load(history_file)
    figs = FigureOptions(out, fmt, lang, surface_span, surface_resolution, surface_range, boundary_epochs)
    if export_csv is not None:
        check_writable_file(export_csv, "--export-csv", (".csv",))
    written = figs.write(history) + _save_extras(history, None, export_csv)
    for path in written:
        print(f"wrote {path}")
