"""The typer app and what every command shares: error reporting, output checks, common options.

Command modules (core.py, explain.py, landscape.py, ...) add commands with ``@app.command()``
and are imported once in ``cli/__init__.py``. They import torch and matplotlib inside the
command functions, so that ``backpropviz --help`` answers at once.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import BackpropvizError

app = typer.Typer(
    name="backpropviz",
    help="Make backpropagation visible: train small networks with PyTorch, record every step, "
         "and draw what happened and why.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Shared option types -------------------------------------------------------------------------
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for the figures (created if needed).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="Figure file format: png, svg or pdf.")]
LangOpt = Annotated[
    Optional[str],
    typer.Option("--lang", help="Language of the figure labels and of the terminal summary and notes: en or ja "
                                "(error messages stay English). Default: from the locale (LANG=ja_JP... gives ja)."),
]
SpanOpt = Annotated[float, typer.Option("--surface-span", help="Half-width of the loss surface around the final "
                                        "(w1, w2), as in the article (+-8).")]
ResolutionOpt = Annotated[int, typer.Option("--surface-resolution", help="Grid points per surface axis (article: 50).")]
RangeOpt = Annotated[Optional[str], typer.Option(
    "--surface-range", help="Explicit surface window XMIN,XMAX,YMIN,YMAX (overrides --surface-span).")]
EpochsListOpt = Annotated[Optional[str], typer.Option(
    "--boundary-epochs", help="Comma-separated epochs whose decision boundary to draw, e.g. 0,10,100,1000 "
                              "(default: first and last).")]


def flowing_help(text: str | None) -> str | None:
    r"""``text`` (a command's docstring) with the line breaks of its source wrapping removed, so that
    ``--help`` wraps each paragraph to the terminal's width; blank lines still separate paragraphs.

    typer keeps single line breaks in a command's description (not in an option's), so a docstring
    wrapped at 100 columns in the source would break at those columns in any terminal.

    >>> flowing_help("First line.\n\n    Two lines\n    of one paragraph.\n\n    Next.")
    'First line.\n\nTwo lines of one paragraph.\n\nNext.'
    """
    if text is None:
        return None
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paragraphs)


def reflow_command_help() -> None:
    """Give every registered command its docstring as :func:`flowing_help` (called once all are registered)."""
    for info in app.registered_commands:
        info.help = flowing_help(info.help if info.help is not None else inspect.getdoc(info.callback))


def fail(message: str) -> None:
    """Raise the error that ``main`` prints as one line on stderr with exit code 2."""
    raise BackpropvizError(message)


def check_format(fmt: str) -> str:
    """``--format`` in lower case, after checking it is one we write."""
    from ..render.figures import FORMATS

    key = fmt.lower()
    if key not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    return key


def check_writable_dir(path: Path, what: str = "--out") -> Path:
    """Make sure ``path`` is (or can become) a folder we can write into, before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(f"{what} {str(path)!r} is a file; give a folder to write into")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        fail(f"{what} {str(path)!r} is not writable ({exc.strerror or exc}); give a folder you can write to")
    return path


def check_writable_file(path: Path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Check the folder of an output file is writable and the suffix is one we write."""
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        fail(f"{what} must end in {' or '.join(suffixes)}; got {str(path)!r}")
    if path.is_dir():
        fail(f"{what} {str(path)!r} is a folder; give a file name")
    check_writable_dir(path.parent if str(path.parent) else Path("."), what=f"the folder of {what}")
    return path


def parse_floats(text: str, option: str, count: int | None = None) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        fail(f"{option} takes comma-separated numbers; got {text!r}")
    if count is not None and len(values) != count:
        fail(f"{option} takes {count} comma-separated numbers; got {len(values)} in {text!r}")
    return values


def parse_ints(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{option} takes comma-separated whole numbers such as 0,10,100; got {text!r}")


def error_line(message: str) -> None:
    print(f"backpropviz: error: {message}", file=sys.stderr)


def _given_value(exc, args: list[str]) -> str | None:
    """The text the user gave for the option a BadParameter is about (typer's message omits it)."""
    param = getattr(exc, "param", None)
    if param is None or not isinstance(exc, typer.BadParameter) or not getattr(param, "opts", None):
        return None
    for i, arg in enumerate(args):
        for opt in param.opts:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1:]
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every user error into one stderr line and exit code 2."""
    from ..errors import TrainingDiverged  # noqa: F401  (cheap: no torch)

    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="backpropviz", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        error_line("aborted")
        return 1
    except BackpropvizError as exc:
        error_line(str(exc))
        return 2
    except typer.TyperException as exc:  # click-style usage errors: bad option, bad value
        message = " ".join(exc.format_message().split())
        given = _given_value(exc, args)
        error_line(message + (f"; got {given!r}" if given is not None else ""))
        return getattr(exc, "exit_code", 2) or 2
    except KeyboardInterrupt:
        error_line("interrupted")
        return 130
    except BrokenPipeError:
        os._exit(0)
    except Exception as exc:  # a bug, not bad input: say so in one line; the traceback is opt-in
        if os.environ.get("BACKPROPVIZ_DEBUG"):
            raise
        error_line(f"internal error ({type(exc).__name__}: {exc}); "
                   "rerun with BACKPROPVIZ_DEBUG=1 for the traceback and please report it")
        return 1
    return result if isinstance(result, int) else 0


def console_entry() -> None:
    """The ``backpropviz`` console script: ``main`` and then a fast exit.

    Tearing down an interpreter that has loaded torch takes longer than training the article's
    model (0.3-0.8 s here). Every file we write is complete and closed before ``main`` returns
    (atomic renames), so once the streams are flushed there is nothing left to clean up.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
