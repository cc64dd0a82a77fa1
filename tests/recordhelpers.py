"""Plain helpers for the recording tests (test_recorder.py, test_run_recording.py)."""

from __future__ import annotations

import os
import signal
import time


def sigkill_once_flushed(child, folder, chunks: int, timeout: float) -> None:
    """SIGKILL the process ``child`` (a ``subprocess.Popen``) once the recording in ``folder`` has
    ``chunks`` chunks of scalars in its index (or after ``timeout`` seconds, or once the child has
    ended by itself), and wait for it: the caller checks ``child.returncode``."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and child.poll() is None:
            index = folder / "index.jsonl"
            if index.exists() and index.read_text().count('"scalars"') >= chunks:
                break
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
