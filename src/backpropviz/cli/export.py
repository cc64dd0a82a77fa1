"""``export``: a run as the ``backpropviz run`` command line that trains it again, and as a
plain-PyTorch script (``--script``, no backpropviz import) that trains it the same way and prints the
same final parameters (``backpropviz.export``). ``run --script`` writes the script of the run it trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app, check_writable_file, fail
from .options import RunOptions, takes_run_options

ScriptOpt = Annotated[Optional[Path], typer.Option(
    "--script", help="Also write a plain-PyTorch script (.py; torch and numpy only, no backpropviz) that trains "
                     "this run the same way and prints the same final parameters, bit for bit.")]
StepsOpt = Annotated[Optional[int], typer.Option(
    "--steps", help="The script stops after this many steps (default: every epoch; for a history that stopped "
                    "early, its own steps).")]


def check_script_option(path: Path, option: str = "--script") -> Path:
    """The script's output file, checked before any work (a writable .py that the command does not read)."""
    return check_writable_file(path, option, (".py",))


def write_script(config, path: Path, *, steps: int | None = None) -> Path:
    """Write ``export.pytorch_script(config)`` to ``path`` (history.atomic_write: all of it or nothing)."""
    from ..export import pytorch_script
    from ..history import atomic_write

    text = pytorch_script(config, steps=steps)
    atomic_write(Path(path), lambda f: f.write(text.encode("utf-8")))
    return Path(path)


@app.command()
@takes_run_options()
def export(
    source: Annotated[Optional[Path], typer.Argument(
        help="A history .npz (--save-history, or the playground's download) or a settings .json "
             "(--save-config). Without it, the run options describe the run.",
        metavar="[HISTORY.npz|CONFIG.json]")] = None,
    script: ScriptOpt = None,
    steps: StepsOpt = None,
    run_options: RunOptions = None,
) -> None:
    """Print the backpropviz run command line that trains a run again; --script also writes it as a
    plain-PyTorch script.

    The line gives every setting that differs from its default; a setting that has no option gives
    `backpropviz run --config FILE` and says which.

    The script embeds the training rows exactly and builds the model with torch's own layers under
    the same seed, with the run's loss, optimiser, schedule and batch order: `python SCRIPT.py`
    prints the parameters backpropviz records after the last step, bit for bit.
    """
    from ..config import config_from_dict, load_config
    from ..export import command_line

    if script is not None:
        script = check_script_option(script)
    if steps is not None and script is None:
        fail(f"--steps says where the script stops; give --script FILE.py with it (got --steps {steps})")
    if steps is not None and steps < 0:
        fail(f"--steps must be a whole number >= 0; got {steps}")
    if source is not None:
        run_options.refuse_with_history(source, "a history or settings file")
        if source.suffix.lower() == ".npz":
            from ..history import History

            history = History.load(source)
            config = config_from_dict(history.config, f"the config of {str(source)!r}")
            if steps is None and history.status != "completed":
                steps = history.n_steps  # the script stops where the history stopped
        elif source.suffix.lower() == ".json":
            config = load_config(source)
        else:
            fail(f"export reads a history .npz or a settings .json; got {str(source)!r}")
    else:
        config = run_options.config()
    line = command_line(config, config_file=str(source) if source is not None else "run.json")
    if script is not None:
        write_script(config, script, steps=steps)  # --steps beyond the run's steps is refused there
    typer.echo(line)
    if script is not None:
        typer.echo(f"wrote {script}")
