"""Convergence map: 64 x 64 perceptron starts x 1000 steps, vectorised vs one start after another.

The vectorised trainer (``analysis.basins.train_many``) trains all 4,096 starts at once; the
baseline trains starts one after another with the single-run trainer (``train.train``), timed
on a sample of starts (the per-start time does not depend on the start) and scaled to 4,096.
Repeats alternate between the two; medians are compared. Target: >= 100x.

    .venv/bin/python bench/bench_basins.py [--repeats 3] [--sample 24] [--resolution 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample", type=int, default=24, help="starts trained one by one per repeat")
    ap.add_argument("--resolution", type=int, default=64)
    args = ap.parse_args()

    from backpropviz.analysis.basins import train_many
    from backpropviz.config import RunConfig
    from backpropviz.train import train

    import torch

    config = RunConfig()  # the article's: AND, perceptron, BCE, SGD lr 0.5, 1000 full-batch steps
    K = args.resolution
    w = np.linspace(-9, 7, K)
    A, B = np.meshgrid(w, w + 2)
    starts = np.stack([A.ravel(), B.ravel(), np.zeros(A.size)], 1).astype(np.float32)
    sample = starts[np.linspace(0, len(starts) - 1, args.sample).astype(int)]

    def vectorised():
        return train_many(config, starts, progress=False)

    def one_by_one():
        for s in sample:
            train(RunConfig(init=tuple(float(v) for v in s)))

    # correctness on the sample: the vectorised finals equal the single runs' (bit for bit)
    run = vectorised()
    index = np.linspace(0, len(starts) - 1, args.sample).astype(int)
    for k, s in zip(index[:4], sample[:4]):
        h = train(RunConfig(init=tuple(float(v) for v in s)))
        assert np.array_equal(h.params[-1], run.final[k]), "vectorised run differs from the single run"

    t_vec, t_seq = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter(); vectorised(); t_vec.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); one_by_one(); t_seq.append(time.perf_counter() - t0)
    vec = statistics.median(t_vec)
    per_start = statistics.median(t_seq) / args.sample
    seq = per_start * len(starts)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{K} x {K} starts x {config.epochs} steps (perceptron, AND, SGD lr {config.lr})")
    print(f"  vectorised (train_many)         {vec:8.2f} s   runs: {', '.join(f'{t:.2f}' for t in t_vec)}")
    print(f"  one by one (train), per start   {per_start * 1e3:8.1f} ms  (sample of {args.sample} starts)")
    print(f"  one by one, all {len(starts)} starts    {seq:8.1f} s   (per-start time x {len(starts)})")
    print(f"  speed-up                        {seq / vec:8.0f}x  (target >= 100x)")
    return 0 if seq / vec >= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
