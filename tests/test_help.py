"""`--help` wraps to the terminal: no line breaks left over from how a docstring is wrapped in the source."""

import inspect

import pytest

from backpropviz.cli import app
from backpropviz.cli.app import flowing_help

COMMANDS = [info.name or info.callback.__name__ for info in app.registered_commands]


def paragraphs(command):
    """The description paragraphs of ``command``'s docstring, each as one line of words."""
    info = next(i for i in app.registered_commands if (i.name or i.callback.__name__) == command)
    doc = inspect.getdoc(info.callback)
    return [" ".join(p.split()) for p in doc.split("\n\n")]


def help_lines(cli, monkeypatch, command, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli(command, "--help")
    assert result.code == 0, result
    return [line.strip() for line in result.out.splitlines()]


def test_every_command_is_checked():
    assert {"demo", "run", "plot", "explain", "gradcheck", "compare", "landscape", "basins"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_wide_terminal_gets_each_paragraph_on_one_line(cli, monkeypatch, command):
    lines = help_lines(cli, monkeypatch, command, 400)
    for paragraph in paragraphs(command):
        assert paragraph in lines, (paragraph, lines[:12])


@pytest.mark.parametrize("command", COMMANDS)
def test_a_narrow_terminal_gets_lines_no_wider_than_itself(cli, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "60")
    result = cli(command, "--help")
    assert result.code == 0, result
    assert max(len(line) for line in result.out.splitlines()) <= 60
    words = " ".join(result.out.split())
    assert " ".join(paragraphs(command)[-1].split()[:6]) in words  # the description is all there, rewrapped


def test_flowing_help_joins_lines_and_keeps_paragraphs():
    text = """First line.

    A paragraph wrapped
    over three lines
    in the source.

    Example: backpropviz run --data xor
    """
    assert flowing_help(text) == ("First line.\n\nA paragraph wrapped over three lines in the source.\n\n"
                                  "Example: backpropviz run --data xor")
    assert flowing_help(None) is None
