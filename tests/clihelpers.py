"""Assertions shared by the CLI tests (pytest puts this folder on sys.path via conftest.py)."""


def one_line_error(result, *fragments):
    """The run failed as bad input should: exit 2, one stderr line, no traceback, naming ``fragments``."""
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("backpropviz: error: "), lines[0]
    assert "Traceback" not in result.err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
