"""Loss-landscape engine against per-point loops and the `loss-landscapes` package, side by side.

Two cases, each run in interleaved repeats (engine, baseline, engine, baseline, ...) so that
machine noise hits both alike; medians and their ratios are reported:

1. perceptron: the article's run, the (w1, w2) slice at 200 x 200 points, b fixed at its final
   value; baseline: the article's per-point loop (set the weights, call the model, .item()).
   Target: engine >= 1000x the loop's points/s.
2. mlp: an MLP 64-64-16-10 with ReLU (5,370 parameters) trained briefly on scikit-learn's
   digits (1,797 samples); 51 x 51 grid along two filter-normalised random directions.
   Baselines: `loss_landscapes.random_plane` (PyPI) and a per-point loop (set_flat + forward).
   Targets: engine >= 3x loss-landscapes and >= 4x the loop, peak memory < 2 GB. The FLOP
   bound of a plain batched forward pass (this machine's matmul FLOP/s / FLOPs per point) is
   reported beside the engine's points/s.

    .venv/bin/python bench/bench_landscape.py [--repeats 5] [--case perceptron|mlp|all]

Baselines need the bench extra: `.venv/bin/pip install -c requirements/constraints.txt -e '.[bench]'`
(loss-landscapes, scikit-learn). Without loss-landscapes that baseline is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def median_rate(times: list[float], n_points: int) -> float:
    return n_points / statistics.median(times)


def timed_block(fn, min_seconds: float = 0.2) -> float:
    """Seconds per call of ``fn``, over back-to-back calls lasting at least ``min_seconds``.

    A call of a millisecond is at the mercy of the scheduler on a shared machine (one time
    slice lost is a 10x slower call); timing both sides over blocks of similar length compares
    their throughput instead.
    """
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


# -- case 1: perceptron ------------------------------------------------------------------------
def perceptron_case(repeats: int) -> dict:
    from backpropviz.analysis.landscape import evaluate_plane
    from backpropviz.config import RunConfig
    from backpropviz.losses import get_loss
    from backpropviz.train import model_at, train

    history = train(RunConfig())
    final = history.params[-1].astype(np.float64)
    w1s = np.linspace(final[0] - 8, final[0] + 8, 200)
    w2s = np.linspace(final[1] - 8, final[1] + 8, 200)
    origin = final.copy()
    origin[:2] = 0.0
    directions = np.eye(3)[:2]
    loss_fn = get_loss("bce")
    model = model_at(history)
    X = torch.from_numpy(history.X)
    y = torch.from_numpy(history.y).reshape(-1, 1)

    def engine():
        return evaluate_plane(model, loss_fn, history.X, history.y, origin, directions, w1s, w2s, progress=False)

    W1, W2 = np.meshgrid(w1s, w2s)
    loop_points = 4000  # a sample of the grid: the loop's rate does not depend on which points

    def loop():
        temp = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
        temp[0].bias.data = torch.tensor([final[2]], dtype=torch.float32)
        out = np.empty(loop_points)
        flat1, flat2 = W1.ravel(), W2.ravel()
        for k in range(loop_points):
            temp[0].weight.data = torch.tensor([[flat1[k], flat2[k]]], dtype=torch.float32)
            out[k] = loss_fn(temp(X), y).item()
        return out

    surface = engine()
    check = loop()
    err = float(np.max(np.abs(surface.ravel()[:loop_points] - check)))
    t_engine, t_loop = [], []
    for _ in range(repeats):
        t_engine.append(timed_block(engine))
        t0 = time.perf_counter(); loop(); t_loop.append(time.perf_counter() - t0)
    engine_rate = median_rate(t_engine, W1.size)
    loop_rate = median_rate(t_loop, loop_points)
    return {"case": "perceptron 200x200", "engine_points_per_s": engine_rate,
            "loop_points_per_s": loop_rate, "ratio_vs_loop": engine_rate / loop_rate,
            "target_vs_loop": 1000, "max_abs_diff_vs_loop": err}


# -- case 2: MLP on digits ---------------------------------------------------------------------
def digits_mlp(seed: int = 0, steps: int = 200):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.long)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    return model, X, y


def matmul_flops() -> float:
    """FLOP/s of this machine's float32 matrix product at the MLP's first-layer shape."""
    a, b = torch.randn(1797 * 8, 64), torch.randn(64, 64)
    a @ b
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(20):
            a @ b
        dt = time.perf_counter() - t0
        best = max(best, 20 * 2 * a.shape[0] * 64 * 64 / dt)
    return best


def mlp_engine_only(resolution: int) -> float:
    """Run the engine once (for the peak-memory measurement in a fresh process)."""
    from backpropviz.analysis.directions import parameter_shapes, random_directions
    from backpropviz.analysis.landscape import evaluate_plane
    from backpropviz.models import get_flat

    model, X, y = digits_mlp()
    center = get_flat(model).double().numpy()
    d = random_directions(center, parameter_shapes(model), seed=0)
    axis = np.linspace(-1, 1, resolution)
    t0 = time.perf_counter()
    evaluate_plane(model, F.cross_entropy, X, y, center, d, axis, axis, progress=False)
    return time.perf_counter() - t0


def mlp_case(repeats: int, resolution: int = 51) -> dict:
    from backpropviz.analysis.directions import parameter_shapes, random_directions
    from backpropviz.analysis.landscape import evaluate_plane
    from backpropviz.models import get_flat, set_flat

    model, X, y = digits_mlp()
    n_params = sum(p.numel() for p in model.parameters())
    center = get_flat(model).double().numpy()
    d = random_directions(center, parameter_shapes(model), seed=0)
    axis = np.linspace(-1, 1, resolution)
    n_points = resolution ** 2

    def engine():
        return evaluate_plane(model, F.cross_entropy, X, y, center, d, axis, axis, progress=False)

    A, B = np.meshgrid(axis, axis)
    loop_points = 300

    def loop():
        temp = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        out = np.empty(loop_points)
        with torch.no_grad():
            for k in range(loop_points):
                flat = center + A.ravel()[k] * d[0] + B.ravel()[k] * d[1]
                set_flat(temp, torch.from_numpy(flat).float())
                out[k] = F.cross_entropy(temp(X), y).item()
        return out

    try:
        import loss_landscapes
        from loss_landscapes.metrics import Loss
    except ImportError:
        loss_landscapes = None
        print("loss-landscapes is not installed: skipping that baseline "
              "(install it with `.venv/bin/pip install -c requirements/constraints.txt -e '.[bench]'`)",
              file=sys.stderr)

    def package():
        metric = Loss(F.cross_entropy, X, y)
        return loss_landscapes.random_plane(model, metric, distance=1.0, steps=resolution,
                                            normalization="filter", deepcopy_model=True)

    surface = engine()
    check = loop()
    err = float(np.max(np.abs(surface.ravel()[:loop_points] - check)))
    t_engine, t_loop, t_pkg = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter(); engine(); t_engine.append(time.perf_counter() - t0)
        if loss_landscapes is not None:
            t0 = time.perf_counter(); package(); t_pkg.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); loop(); t_loop.append(time.perf_counter() - t0)
    flops_per_point = 2 * X.shape[0] * sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
    flops = matmul_flops()
    engine_rate = median_rate(t_engine, n_points)
    loop_rate = median_rate(t_loop, loop_points)
    result = {"case": f"mlp 64-64-16-10 ({n_params} params) on digits, {resolution}x{resolution} filter-normalised",
              "engine_points_per_s": engine_rate, "loop_points_per_s": loop_rate,
              "ratio_vs_loop": engine_rate / loop_rate, "target_vs_loop": 4,
              "max_abs_diff_vs_loop": err,
              "matmul_flop_per_s": flops, "flop_per_point_plain_forward": flops_per_point,
              "plain_forward_bound_points_per_s": flops / flops_per_point}
    if t_pkg:
        pkg_rate = median_rate(t_pkg, n_points)
        result.update(loss_landscapes_points_per_s=pkg_rate, ratio_vs_loss_landscapes=engine_rate / pkg_rate,
                      target_vs_loss_landscapes=3)
    # Peak memory of the engine alone, in a fresh process.
    child = subprocess.run([sys.executable, __file__, "--engine-only", str(resolution),
                            "--threads", str(torch.get_num_threads())], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    result["engine_peak_rss_mib"] = json.loads(child.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--case", default="all", choices=["perceptron", "mlp", "all"])
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for every side (default: torch's own, one per core). On a machine "
                         "shared with other work, --threads 1 keeps the comparison fair: two-thread "
                         "operations stall whenever the other core is busy.")
    ap.add_argument("--engine-only", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.engine_only is not None:
        mlp_engine_only(args.engine_only)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
        print(json.dumps({"peak_rss_mib": peak}))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    ok = True
    results = []
    if args.case in ("perceptron", "all"):
        results.append(perceptron_case(args.repeats))
    if args.case in ("mlp", "all"):
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("the MLP case needs scikit-learn (digits): pip install scikit-learn", file=sys.stderr)
            return 2
        results.append(mlp_case(args.repeats))
    for r in results:
        print(f"\n{r['case']}")
        for k, v in r.items():
            if k != "case":
                print(f"  {k:36s} {v:,.4g}" if isinstance(v, float) else f"  {k:36s} {v}")
        ok &= r["ratio_vs_loop"] >= r["target_vs_loop"]
        if "ratio_vs_loss_landscapes" in r:
            ok &= r["ratio_vs_loss_landscapes"] >= r["target_vs_loss_landscapes"]
        if "engine_peak_rss_mib" in r:
            ok &= r["engine_peak_rss_mib"] < 2048
    print("\nall targets met" if ok else "\nsome targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
