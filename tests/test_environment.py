"""Bad input, class 4 and 5: the environment (a full disk, an ASCII-only terminal, a HOME that
cannot be written, LC_ALL=C) and silence where a word is owed (raw Python warnings, an empty
error line, a note printed before an error). Real processes where the environment matters.
"""

import errno
import os
import resource
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from clihelpers import one_line_error

ENTRY = [sys.executable, "-m", "backpropviz"]


def _run(args, env=None, cwd=None, preexec_fn=None, timeout=240):
    full_env = {**os.environ, **(env or {})}
    full_env.pop("BACKPROPVIZ_DEBUG", None)
    return subprocess.run([*ENTRY, *map(str, args)], capture_output=True, text=True, env=full_env, cwd=cwd,
                          preexec_fn=preexec_fn, timeout=timeout)


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def test_a_full_disk_is_one_line_and_replaces_nothing(cli, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "overview.png").write_bytes(b"an earlier figure")
    real_fdopen = os.fdopen

    class FullDisk:  # the first few KiB go through, then the device is full
        def __init__(self, f):
            self.f, self.left = f, 4096

        def write(self, data):
            if len(data) > self.left:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.left -= len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k)))
    r = cli("demo", "--out", out, "--save-history", tmp_path / "h.npz")
    one_line_error(r, "cannot write", str(out), "No space left on device", "Nothing was replaced")
    assert (out / "overview.png").read_bytes() == b"an earlier figure"
    assert _files(tmp_path) == ["out", "out/overview.png"], "no temporary file, no half-written one"


def test_a_file_size_limit_in_a_real_process(tmp_path):
    # RLIMIT_FSIZE makes the kernel refuse the write (EFBIG) as a full disk would (ENOSPC).
    out = tmp_path / "out"
    out.mkdir()
    (out / "loss_curve.png").write_bytes(b"kept")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    p = _run(["demo", "--out", out], preexec_fn=limit)
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backpropviz: error: cannot write"), p.stderr
    assert "File too large" in lines[0] and "Traceback" not in p.stderr
    assert _files(out) == ["loss_curve.png"] and (out / "loss_curve.png").read_bytes() == b"kept"


def test_japanese_on_an_ascii_terminal_is_refused_up_front(tmp_path):
    p = _run(["demo", "--lang", "ja", "--out", tmp_path / "out"], env={"PYTHONIOENCODING": "ascii"})
    assert p.returncode == 2, p
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--lang ja" in lines[0] and "ascii" in lines[0] and "--lang en" in lines[0]
    assert p.stdout == "" and not (tmp_path / "out").exists()


def test_a_home_that_cannot_be_written_leaves_no_cache_folder_behind(tmp_path):
    # A HOME under a regular file cannot be made even by root: matplotlib would make a
    # matplotlib-* folder in the temporary directory, warn, and leave it there.
    blocker = tmp_path / "file"
    blocker.write_text("")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"HOME": str(blocker / "home"), "TMPDIR": str(scratch), "XDG_CONFIG_HOME": "", "XDG_CACHE_HOME": "",
           "MPLCONFIGDIR": ""}
    p = _run(["demo", "--out", tmp_path / "out"], env=env)
    assert p.returncode == 0, p
    assert p.stderr == "", p.stderr  # no warning about a temporary cache folder
    assert list(scratch.iterdir()) == []
    assert (tmp_path / "out" / "overview.png").is_file()


def test_lc_all_c_gives_english_and_works(tmp_path):
    p = _run(["demo", "--out", tmp_path / "out"], env={"LC_ALL": "C", "LANG": "C"})
    assert p.returncode == 0, p
    assert "last step's loss" in p.stdout and p.stderr == ""


def test_no_command_names_the_commands(cli):
    r = cli()
    one_line_error(r, "no command given", "demo", "run", "landscape", "--help")
    assert "Usage" in r.out  # the help goes to stdout, the one line to stderr


def test_a_note_is_not_printed_before_an_error(cli, tmp_path):
    # --step-size beyond --epochs earns a note, but the run is refused for --surface-span.
    r = cli("run", "--schedule", "step", "--step-size", "5000", "--surface-span", "-1", "--out", tmp_path / "o")
    one_line_error(r, "--surface-span")
    assert "note:" not in r.err
    r = cli("run", "--schedule", "step", "--step-size", "5000", "--epochs", "3", "--out", tmp_path / "o")
    assert r.code == 0 and r.err.count("note: --schedule step") == 1, r


def test_python_warnings_never_reach_the_terminal_raw(cli, tmp_path, monkeypatch):
    import numpy as np

    import backpropviz.train

    real = backpropviz.train.train

    def overflowing(*args, **kwargs):
        np.float32(3e38) * np.float32(10)  # RuntimeWarning: overflow encountered
        warnings.warn("something to know", UserWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(backpropviz.train, "train", overflowing)
    r = cli("run", "--epochs", "3", "--out", tmp_path / "o")
    assert r.code == 0, r
    notes = [line for line in r.err.splitlines() if line.startswith("note: Python warned:")]
    assert len(notes) == 2 and "overflow" in notes[0] and "test_environment.py" in notes[0], r.err
    assert all(line.startswith("note: ") for line in r.err.splitlines()), r.err  # no raw warning lines
    r = cli("run", "--epochs", "3", "--boundary-epochs", "9", "--out", tmp_path / "o")
    one_line_error(r, "--boundary-epochs")  # a failed command says only its error


@pytest.mark.parametrize("args", [["--lang", "xx", "demo"], ["demo", "--nope"], ["run", "--epochs"]])
def test_usage_errors_are_one_nonempty_line(cli, args):
    r = cli(*args)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and len(r.err.strip()) > 25, r
