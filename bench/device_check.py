"""The recorder on a GPU, in one command: the CUDA cases of its tests, then a short timing.

    .venv/bin/python bench/device_check.py            # about a minute on one GPU; at most 3

1. ``pytest -k cuda`` on tests/test_recorder.py and tests/test_record_devices.py: on CUDA the
   loop's parameters stay bit for bit those without the recorder, the recorded snapshots and
   gradients are those the loop read, the scalars match their float64 definitions, a step waits
   for the GPU nowhere (torch's sync debug mode), the projection keeps float32's precision with
   TF32 matmuls allowed, a tensor lr on the GPU is recorded, and the user-model tools (landscape,
   curvature, interpolation, explain, gradcheck) on a GPU model give the CPU's numbers.
2. The recorder's cost on CUDA, as bench/bench_recorder.py's models and loop (a 1.0M-parameter
   MLP and a 1.0M-parameter conv net with BatchNorm, Adam, every(100) snapshots): the plain
   loop, recorded, and recorded with projection=32, ``torch.cuda.synchronize()`` before and
   after each timed run, the median of ``--repeats`` runs taken in turn.

One summary at the end. Exit code 0 when the tests pass (and, with no CUDA device, after saying
"no CUDA device: nothing checked"), 1 when any failed. ``--device cpu --no-tests`` runs the
timing on the CPU instead: a dry run of this script where there is no GPU.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
TEST_FILES = ["tests/test_recorder.py", "tests/test_record_devices.py"]
TEST_TIMEOUT = 120  # seconds


def run_tests() -> tuple[bool, str]:
    """(passed, pytest's summary line) of the CUDA cases."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-k", "cuda", *TEST_FILES]
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        return False, f"pytest did not finish within {TEST_TIMEOUT} s"
    out = done.stdout + done.stderr
    if done.returncode != 0:
        print(out[-6000:])  # the failures, for whoever reads the log
    lines = [ln for ln in out.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", ln)]
    summary = lines[-1].strip("= ") if lines else f"pytest exited with {done.returncode}"
    skipped = re.search(r"(\d+) skipped", summary)
    return done.returncode == 0 and not skipped, summary


def timed(run, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    run()
    sync()
    return time.perf_counter() - start


def timing(name: str, steps: int, repeats: int, device: torch.device) -> dict:
    """Median seconds a step of ``name``'s loop takes: plain, recorded, recorded with projection=32."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_recorder as bench

    import backpropviz

    data = [(x.to(device), y.to(device)) for x, y in bench.make_data(name)]
    loss_fn = torch.nn.functional.cross_entropy
    n_params = sum(p.numel() for p in bench.make_model(name).parameters())

    def series(kind: str, folder: Path):
        torch.manual_seed(0)
        model = bench.make_model(name).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        bench.user_steps(model, opt, loss_fn, data, 20)  # kernels chosen, memory cached
        if kind == "plain":
            return lambda: bench.user_steps(model, opt, loss_fn, data, steps)

        def recorded():
            with backpropviz.record(model, opt, folder, steps=steps, snapshots=backpropviz.every(100),
                                    projection=32 if kind == "projected" else None) as rec:
                bench.user_steps(model, opt, loss_fn, data, steps, lambda step, loss: rec.step(loss))
        return recorded

    seconds = {"plain": [], "recorded": [], "projected": []}
    with tempfile.TemporaryDirectory() as tmp:
        timed(series("recorded", Path(tmp) / "warm-up"), device)  # the first run of a process is slower: not kept
        for r in range(repeats):
            for kind in seconds:
                seconds[kind].append(timed(series(kind, Path(tmp) / f"{kind}{r}"), device))
    return {"params": n_params, **{k: statistics.median(v) / steps for k, v in seconds.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per series (the median is shown)")
    parser.add_argument("--no-tests", action="store_true", help="only the timing")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="where to time (cpu: a dry run of this script without a GPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"no CUDA device: nothing checked (torch {torch.__version__})")
        return 0
    where = torch.cuda.get_device_name() if device.type == "cuda" else "the CPU"
    print(f"device: {where}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    ok, summary = (None, "not run") if args.no_tests else run_tests()
    print(f"tests (pytest -k cuda {' '.join(TEST_FILES)}): {summary}", flush=True)
    rows = []
    for name in ("mlp", "conv"):
        t = timing(name, args.steps, args.repeats, device)
        rows.append(f"{name} ({t['params']:,} parameters): plain {t['plain'] * 1e3:.3f} ms a step, recorded "
                    f"{t['recorded'] * 1e3:.3f} ({t['recorded'] / t['plain']:.2f}x), with projection=32 "
                    f"{t['projected'] * 1e3:.3f} ({t['projected'] / t['plain']:.2f}x)")
        print(rows[-1], flush=True)
    print("\nsummary:")
    print(f"  tests: {({True: 'PASS', False: 'FAIL', None: 'NOT RUN'})[ok]} ({summary})")
    for row in rows:
        print(f"  {row}")
    return 1 if ok is False else 0


if __name__ == "__main__":
    sys.exit(main())
