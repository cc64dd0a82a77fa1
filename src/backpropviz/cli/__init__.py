"""Command-line interface (typer). ``backpropviz --help`` lists the commands."""

from .. import interrupts

if interrupts.started_as_program():
    interrupts.at_start()  # first: Ctrl-C during the imports below ends with one line, not a traceback

from .app import app, console_entry, main  # noqa: F401,E402
from . import core  # noqa: F401,E402  (registers demo, run, plot)
from . import explain  # noqa: F401,E402  (registers explain, gradcheck)
from . import compare  # noqa: F401,E402  (registers compare)
from . import landscape  # noqa: F401,E402  (registers landscape, basins)
from . import usermodel  # noqa: F401,E402  (registers interpolate)
from . import html  # noqa: F401,E402  (registers html)
from . import animate  # noqa: F401,E402  (registers animate)
from . import serve  # noqa: F401,E402  (registers serve)
from . import export  # noqa: F401,E402  (registers export)

from .app import guard_numbers, reflow_command_help  # noqa: E402

reflow_command_help()  # --help wraps descriptions to the terminal, not at the source's line breaks
guard_numbers()  # every float given to any command is finite, checked once here
