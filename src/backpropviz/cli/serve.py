"""``serve``: the live playground, a local web server (``backpropviz.web.server``).

The page is the viewer of ``backpropviz html`` with controls beside it; the server trains with the
one training loop and streams every step to the page. It listens on 127.0.0.1 unless ``--host``
says otherwise, and every request needs the random token of the URL it prints.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app, fail

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on (0: any free one).")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on. The default, 127.0.0.1, is reachable from this machine only; "
                       "another address (0.0.0.0: every one) lets other machines in, with the token.")] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the default web browser.")] = False,
    uploads: Annotated[Optional[Path], typer.Option(
        "--uploads", help="Folder that keeps the CSV files uploaded from the page, named by their content's "
                          "SHA-256, so that a link and run --config find them again (default: "
                          "backpropviz-uploads-USER in the system's temporary folder).")] = None,
):
    """A live playground in the browser: choose the data (or draw your own points on the plane, or
    upload a CSV file), the model (add and remove layers and neurons), the initialisation, the loss,
    the optimiser and its hyperparameters, the schedule, L1/L2, and watch real PyTorch training step
    by step, every view of the html command moving. Prints the URL (with its token) and serves until
    Ctrl-C.

    The learning rate applies to the running training from its next step (kept in the link as a
    change at that step); every other setting starts a new run.

    The loss surface of the path so far, the computation graph of the step you stop at and the
    per-epoch test metrics come in the background; a click on the perceptron's surface starts a
    run from there."""
    if not 0 <= port <= 65535:
        fail(f"--port must be an integer in 0..65535 (0: any free one); got {port}")
    if uploads is not None and uploads.exists() and not uploads.is_dir():
        fail(f"--uploads {str(uploads)!r} is a file; give a folder (made if missing) for the uploaded CSV files")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail("serve needs Starlette and uvicorn: pip install 'backpropviz[serve]'")
    from ..web.server import Server

    server = Server(host=host, port=port, upload_dir=uploads)
    if host not in LOOPBACK:
        print(f"warning: --host {host} lets other machines reach the playground; anyone with the URL's token can "
              "train on this machine", file=sys.stderr)
    try:
        server.start()
        print(f"backpropviz playground: {server.url}", flush=True)
        print("Ctrl-C stops the server.", flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(server.url)
        while server.thread.is_alive():
            time.sleep(0.2)
        fail("the playground server stopped unexpectedly")
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: stop within a second, one line (cli.app.main)
        server.stop()
        exc.kept = "the playground server stopped"
        raise
    finally:
        server.stop()
