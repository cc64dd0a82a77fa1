"""Wall time of `backpropviz demo` against the article's program (seed_article.py), side by side.

Runs both as fresh processes, interleaved (A, B, A, B, ...) so that machine noise hits both alike,
and reports the medians and their ratio. The target is demo / seed <= 0.5.

    .venv/bin/python bench/bench_demo.py [--repeats 7] [--lang en|ja]

The seed program imports japanize_matplotlib: install the bench extra first
(`.venv/bin/pip install -c requirements/constraints.txt -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "reference" / "seed_article.py"
BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: str, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--lang", default="en", choices=["en", "ja"])
    args = ap.parse_args()
    if not SEED.is_file():
        print(f"missing baseline {SEED}", file=sys.stderr)
        return 2
    try:
        import japanize_matplotlib  # noqa: F401
    except ImportError:
        print("the baseline needs japanize-matplotlib: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    env = dict(os.environ, MPLBACKEND="Agg")
    seed_cmd = [sys.executable, str(SEED)]
    demo_cmd = [str(BIN / "backpropviz"), "demo", "--lang", args.lang, "--out", "demo"]
    times = {"seed": [], "demo": []}
    with tempfile.TemporaryDirectory() as tmp:
        timed(seed_cmd, tmp, env), timed(demo_cmd, tmp, env)  # warm the file cache once
        for _ in range(args.repeats):
            times["seed"].append(timed(seed_cmd, tmp, env))
            times["demo"].append(timed(demo_cmd, tmp, env))
    seed, demo = statistics.median(times["seed"]), statistics.median(times["demo"])
    print(f"seed_article.py        median {seed:.3f} s  (runs: {', '.join(f'{t:.2f}' for t in times['seed'])})")
    print(f"backpropviz demo --lang {args.lang} median {demo:.3f} s  (runs: {', '.join(f'{t:.2f}' for t in times['demo'])})")
    print(f"ratio demo/seed = {demo / seed:.2f}  (target <= 0.50)")
    return 0 if demo / seed <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
