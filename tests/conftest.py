"""Shared fixtures: headless plotting and an in-process CLI runner."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


class CliResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


@pytest.fixture
def cli(capsys):
    """Run ``backpropviz ARGS`` in this process through the real entry point; returns code, out, err."""
    from backpropviz.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


# The browser fixtures (one headless Chromium for the whole session): defined once, here, so that
# every page test module shares the same browser.
from pagehelpers import browser, open_page  # noqa: E402,F401


@pytest.fixture
def drawn(monkeypatch):
    """Every figure a command encodes while the test runs, in order (drawn, so their texts can be read)."""
    from backpropviz.render import figures

    figs = []
    real = figures.figure_bytes

    def keep(fig, fmt):
        fig.canvas.draw()
        figs.append(fig)
        return real(fig, fmt)

    monkeypatch.setattr(figures, "figure_bytes", keep)
    return figs


@pytest.fixture(autouse=True)
def _no_run_left_training(request):
    """After a test that used a playground ``server`` (module-scoped), its runs are halted: a page
    closed by the test would otherwise hold one of the server's MAX_RUNS places for ORPHAN_GRACE
    seconds, and a later test's "train" could be refused."""
    server = request.getfixturevalue("server") if "server" in request.fixturenames else None
    yield
    playground = getattr(server, "playground", None)
    if playground is None:
        return
    for run in playground.halt_runs():
        if run.thread is not None:
            run.thread.join(60)
