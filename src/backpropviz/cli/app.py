"""The typer app and what every command shares: error reporting, output checks, common options.

Command modules (core.py, explain.py, landscape.py, ...) add commands with ``@app.command()``
and are imported once in ``cli/__init__.py``. They import torch and matplotlib inside the
command functions, so that ``backpropviz --help`` answers at once.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import shutil
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
PaletteOpt = Annotated[str, typer.Option(
    "--palette", help="Figure colours: default, or cvd (colour-blind safe: Okabe-Ito colours for categories, "
                      "cividis for continuous maps).")]


def takes_palette(command):
    """Decorate a command that draws figures: it gets a ``--palette`` option (last in its --help)
    and runs with that palette in use (``render.palette.use_palette``), so every figure it writes
    has those colours. Apply it right below ``@app.command()``."""
    signature = inspect.signature(command, eval_str=True)
    parameters = [*signature.parameters.values(),
                  inspect.Parameter("palette", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=PaletteOpt,
                                    default="default")]

    @functools.wraps(command)
    def with_palette(palette: str = "default", **kwargs):
        from ..render.palette import get_palette, use_palette

        with use_palette(get_palette(palette).name):  # an unknown name fails here, before any work
            return command(**kwargs)

    with_palette.__signature__ = signature.replace(parameters=parameters)
    with_palette.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_palette


SpanOpt = Annotated[float, typer.Option("--surface-span", help="Half-width of the loss surface around the final "
                                        "(w1, w2), as in the article (+-8), widened where the path leaves it.")]
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


def option_name(name: str, annotation) -> str:
    """How the user types the parameter ``name`` (``--surface-span``), from its typer declaration."""
    for info in getattr(annotation, "__metadata__", ()):
        decls = [getattr(info, "default", None), *(getattr(info, "param_decls", None) or ())]
        long = [d for d in decls if isinstance(d, str) and d.startswith("--")]
        if long:
            return long[0].split("/")[0]
        if type(info).__name__ == "ArgumentInfo":
            return name.upper()
    return "--" + name.rstrip("_").replace("_", "-")


def check_numbers(callback):
    """``callback`` with every float it is given checked first, once, at the edge: it must be
    finite (the option parser takes inf, nan and 1e400, which is inf). Each option's own range
    is checked where the option is used; whole numbers are compared exactly there. A Ctrl-C or
    SIGTERM inside the command leaves it as ``interrupts.Stopped`` (typer would swallow it)."""
    # The annotations evaluated in the command's own module (typer reads them off this wrapper).
    signature = inspect.signature(callback, eval_str=True)
    names = {n: option_name(n, p.annotation) for n, p in signature.parameters.items()}

    @functools.wraps(callback)
    def checked(**kwargs):
        from ..interrupts import Stopped

        for name, value in kwargs.items():
            if isinstance(value, bool):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                fail(f"{names.get(name, name)} must be a finite number; got {value}")
        try:
            return callback(**kwargs)
        except KeyboardInterrupt as exc:  # past typer as an exception: see interrupts.Stopped
            raise Stopped(exc) from None

    checked.__signature__ = signature
    checked.__annotations__ = {n: p.annotation for n, p in signature.parameters.items()}
    return checked


def guard_numbers() -> None:
    """Put ``check_numbers`` in front of every registered command (called once all are registered)."""
    for info in app.registered_commands:
        if not getattr(info.callback, "_numbers_checked", False):
            info.callback = check_numbers(info.callback)
            info.callback._numbers_checked = True


# A window of the loss surface (--surface-span, --surface-range, --range) holds float32
# parameters; beyond this its points and its width cannot be represented.
WINDOW_MAX = 1e38


def check_window(values, option: str) -> None:
    """Every coordinate or half-width of a window lies within +-WINDOW_MAX."""
    big = [v for v in values if abs(v) > WINDOW_MAX]
    if big:
        fail(f"{option} values must lie within +-{WINDOW_MAX:g} (the window's points are float32 "
             f"parameters); got {big[0]:g}")


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
    from ..history import make_dirs

    path = Path(path)
    if path.exists() and not path.is_dir():
        fail(f"{what} {str(path)!r} is a file; give a folder to write into")
    try:
        make_dirs(path)  # removed again if the command fails and nothing was written there
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        fail(f"{what} {str(path)!r} is not writable ({exc.strerror or exc}); give a folder you can write to")
    return path


def check_writable_file(path: Path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Check the folder of an output file is writable, the suffix is one we write, and the file is
    not one this command reads (checked after the inputs are named: it would overwrite them)."""
    from ..history import is_input

    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        fail(f"{what} must end in {' or '.join(suffixes)}; got {str(path)!r}")
    if path.is_dir():
        fail(f"{what} {str(path)!r} is a folder; give a file name")
    if is_input(path):
        fail(f"{what} {str(path)!r} is a file this command reads; give another name (it would be overwritten)")
    check_writable_dir(path.parent if str(path.parent) else Path("."), what=f"the folder of {what}")
    return path


def parse_floats(text: str, option: str, count: int | None = None) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        fail(f"{option} takes comma-separated numbers; got {text!r}")
    if count is not None and len(values) != count:
        fail(f"{option} takes {count} comma-separated numbers; got {len(values)} in {text!r}")
    if not all(math.isfinite(v) for v in values):
        fail(f"{option} takes finite numbers; got {text!r}")
    return values


def parse_ints(text: str, option: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        fail(f"{option} takes comma-separated whole numbers such as 0,10,100; got {text!r}")


def error_line(message: str) -> None:
    """``backpropviz: error: MESSAGE`` on stderr, on one line, in any terminal encoding."""
    line = "backpropviz: error: " + " ".join(str(message).split())
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        line.encode(encoding)
    except (UnicodeEncodeError, LookupError):  # a path or name the terminal cannot show
        line = line.encode("ascii", "backslashreplace").decode("ascii")
    print(line, file=sys.stderr)


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


class HeldNotes:
    """stderr, holding back ``note:`` lines until the command's input is validated.

    A note about the run (an ignored option, a changed loss) is worth reading only if the run
    goes ahead: ``release`` prints the notes held so far and lets later ones through (called
    once validation succeeded, and when the command succeeds); after an error ``discard``
    drops them, so that the error is the one line on stderr. Everything else passes at once.
    """

    def __init__(self, stream):
        self.stream, self.held, self.holding, self._line = stream, [], True, ""

    def write(self, text: str) -> int:
        if not self.holding:
            return self.stream.write(text)
        self._line += text
        *lines, self._line = self._line.split("\n")
        for line in lines:
            if line.startswith("note: "):
                self.held.append(line)
            else:
                self.stream.write(line + "\n")
        if self._line and not "note: ".startswith(self._line[:6]):  # a partial line that is no note
            self.stream.write(self._line)
            self._line = ""
        return len(text)

    def release(self) -> None:
        if self.holding:
            self.holding = False
            for line in self.held:
                self.stream.write(line + "\n")
            self.held.clear()
            if self._line:
                self.stream.write(self._line)
                self._line = ""

    def discard(self) -> None:
        self.held.clear()
        self._line = ""
        self.holding = False

    def __getattr__(self, name):  # isatty, encoding, fileno, flush, ... as the real stream
        return getattr(self.stream, name)


def release_notes() -> None:
    """The command's input is validated and the work begins: print the notes held so far."""
    if isinstance(sys.stderr, HeldNotes):
        sys.stderr.release()


class Warnings:
    """Python warnings raised while a command runs, kept off the terminal as raw text.

    A successful command shows each distinct one as a ``note:`` line (with where it came from),
    after its own output; a failed one only prints its error line. BACKPROPVIZ_DEBUG=1 shows
    them raw, as Python would.
    """

    def __init__(self):
        self.seen: dict[str, None] = {}

    def __enter__(self):
        import warnings

        self._context = warnings.catch_warnings()
        self._context.__enter__()
        if not os.environ.get("BACKPROPVIZ_DEBUG"):  # the usual filters decide what is shown, not how
            warnings.showwarning = self._keep
        return self

    def _keep(self, message, category, filename, lineno, file=None, line=None):  # noqa: ARG002
        where = Path(filename)
        place = "/".join(where.parts[-2:]) if "site-packages" in where.parts or len(where.parts) > 2 else where.name
        self.seen[f"{category.__name__}: {' '.join(str(message).split())} ({place}:{lineno})"] = None

    def __exit__(self, *exc):
        self._context.__exit__(*exc)
        return False

    def report(self) -> None:
        for text in self.seen:
            print(f"note: Python warned: {text}", file=sys.stderr)


def _requested_lang(args: list[str]) -> str | None:
    """The language the command will speak (--lang, else the locale), or None if not decidable."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1].strip().lower()
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1].strip().lower()
    from ..i18n import resolve_lang

    return resolve_lang(None)


def check_terminal(args: list[str]) -> None:
    """Refuse Japanese output on a terminal whose encoding cannot show it (before any work)."""
    if _requested_lang(args) != "ja":
        return
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "日本語".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            fail(f"--lang ja: this terminal's encoding ({encoding}) cannot show Japanese; use --lang en, "
                 "or a UTF-8 locale (e.g. LANG=ja_JP.UTF-8 or PYTHONIOENCODING=utf-8)")


def matplotlib_cache() -> str | None:
    """Point matplotlib at a temporary folder when its own (under HOME) cannot be written.

    Left alone, matplotlib would make a ``matplotlib-*`` folder in the temporary directory for
    its font cache, warn about it and leave it there at every run. Returns the folder made
    (removed by ``main`` at the end), or None when matplotlib's own folders will do.
    """
    if os.environ.get("MPLCONFIGDIR"):
        return None
    home = Path(os.path.expanduser("~"))
    wanted = [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib",
              Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib"]
    for folder in wanted:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError:
            break
    else:
        return None
    folder = tempfile.mkdtemp(prefix="backpropviz-matplotlib-")
    os.environ["MPLCONFIGDIR"] = folder
    return folder


def _interrupted_line(exc, outputs) -> str:
    from ..interrupts import Interrupted, signal_name

    signum = exc.signum if isinstance(exc, Interrupted) else 2
    kept = getattr(exc, "kept", None)
    if kept is None:
        kept = ("every file was already written" if outputs.committed and not outputs.staged
                else "nothing was written")
    return f"backpropviz: interrupted ({signal_name(signum)}){' ' if kept.startswith('during') else '; '}{kept}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every user error into one stderr line and exit code 2.

    Every command runs inside one ``Outputs`` (its files are put in place together when it
    succeeds; see history.Outputs), with its ``note:`` lines held until its input is
    validated, Python's warnings kept off the terminal, and Ctrl-C / SIGTERM turned into one
    line saying what was kept (exit 130 / 143).
    """
    from .. import interrupts
    from ..history import Outputs

    handlers = interrupts.while_running()
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    real_stderr = sys.stderr
    sys.stderr = notes = HeldNotes(real_stderr)
    cache = None
    outputs = Outputs()
    code = 2
    try:
        with outputs, Warnings() as warned:
            try:
                if not args:
                    print(command.get_help(typer.Context(command, info_name="backpropviz")))
                    fail(f"no command given; choose one of: {', '.join(command.list_commands(None))} "
                         "(backpropviz COMMAND --help says more)")
                check_terminal(args)
                cache = matplotlib_cache()
                result = command.main(args=args, prog_name="backpropviz", standalone_mode=False)
                code = result if isinstance(result, int) else 0
            except typer.Exit as exc:  # a command's own exit code (gradcheck's 1): its files stand
                code = exc.exit_code
            except interrupts.Stopped as exc:
                raise exc.interrupt from None
            if code == 130:  # typer's answer to a Ctrl-C or SIGTERM outside the command itself (parsing options)
                raise interrupts.Interrupted(interrupts.last_signal())
            if code == 0 or outputs.staged or outputs.committed:
                outputs.commit()
            notes.release()
            if code == 0:
                warned.report()
        return code
    except typer.Abort:
        notes.discard()
        error_line("aborted")
        return 1
    except BackpropvizError as exc:
        notes.discard()
        error_line(str(exc))
        return 2
    except typer.TyperException as exc:  # click-style usage errors: bad option, bad value
        notes.discard()
        message = " ".join(exc.format_message().split()) or "this command line is not one backpropviz takes; " \
            "backpropviz --help lists the commands"
        given = _given_value(exc, args)
        error_line(message + (f"; got {given!r}" if given is not None else ""))
        return getattr(exc, "exit_code", 2) or 2
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (interrupts.Interrupted)
        notes.discard()
        print(_interrupted_line(exc, outputs), file=real_stderr)
        return getattr(exc, "exit_code", 130)
    except BrokenPipeError:
        os._exit(0)
    except Exception as exc:  # a bug, not bad input: say so in one line; the traceback is opt-in
        notes.discard()
        if os.environ.get("BACKPROPVIZ_DEBUG"):
            raise
        error_line(f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
                   "rerun with BACKPROPVIZ_DEBUG=1 for the traceback and please report it")
        return 1
    finally:
        with interrupts.deferred():
            notes.release()
            sys.stderr = real_stderr
            if cache is not None:
                shutil.rmtree(cache, ignore_errors=True)
                os.environ.pop("MPLCONFIGDIR", None)
        interrupts.restore(handlers)  # as they were before main (a program or test that called it)


def console_entry() -> None:
    """The ``backpropviz`` console script: ``main`` and then a fast exit.

    Tearing down an interpreter that has loaded torch takes longer than training the article's
    model (0.3-0.8 s here). Every file we write is complete and closed before ``main`` returns
    (atomic renames), so once the streams are flushed there is nothing left to clean up.
    """
    from .. import interrupts

    code = main()
    interrupts.quietly()  # all is written and said: a late Ctrl-C changes nothing
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
