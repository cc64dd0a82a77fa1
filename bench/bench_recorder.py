"""What does ``backpropviz.record`` cost a user's own loop? Time against the same loop unrecorded,
and the recorder's memory after a short and a long run.

Workloads (issue 13), about one million parameters each, on the CPU, synthetic data fixed by a seed,
Adam lr 1e-3, scalars every step and full snapshots (parameters, gradients, buffers) every 100:

- ``mlp``: 784-1024-200-10 with ReLU, 1,010,850 parameters, batches of 128. The hardest case:
  its steps are the cheapest per parameter, so the recorder's share is the largest;
- ``conv``: a small convolutional net on 3 x 32 x 32 images (three 3x3 convolutions of 32, 64,
  128 channels with BatchNorm and ReLU, two max-pools, a 112-unit linear layer, 10 classes),
  1,012,442 parameters, batches of 32.

Time: the loop with and without the recorder (``with backpropviz.record(...) as rec`` and one
``rec.step(loss)`` per step) alternate (plain, recorded, then recorded, plain, ...), each from the
same seed, and the figure is the ratio of the medians. ``--projection K`` adds a third series with
the K-dimensional projection recorded too.

Memory: in a fresh child process each, the loop first runs unrecorded twice (each time with a new
model and optimiser, as the recorded run will have: so that the training's own allocations, and
the allocator's growth from one model to the next, are done), then recorded for N steps; the recorder's peak is the growth of the
process's peak resident set (VmHWM) over the unrecorded run's, and tracemalloc's peak of the
Python-side allocations (numpy buffers, file writes) while recording. Both are compared with the
budget the recorder states up front (``rec.estimate['memory_bytes']``).

    python bench/bench_recorder.py             # short: the MLP, 100 steps x 3 repeats, memory after 200 vs 1,000 steps
    python bench/bench_recorder.py --steps 200 --repeats 5 --memory-steps 1000,5000       # the README's MLP figures
    python bench/bench_recorder.py --models conv --steps 40 --repeats 3 --memory-steps 0  # the conv net's time

Times are the process's CPU time (``time.process_time``): on a shared machine the wall clock
mostly measures the other tenants; with one torch thread and no other thread, CPU time is what an
idle machine's wall clock would show.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import torch

import backpropviz


def make_model(name: str) -> torch.nn.Module:
    if name == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 200),
                                   torch.nn.ReLU(), torch.nn.Linear(200, 10))

    def block(cin, cout):
        return [torch.nn.Conv2d(cin, cout, 3, padding=1), torch.nn.BatchNorm2d(cout), torch.nn.ReLU()]

    return torch.nn.Sequential(*block(3, 32), *block(32, 64), torch.nn.MaxPool2d(2), *block(64, 128),
                               torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(128 * 8 * 8, 112),
                               torch.nn.ReLU(), torch.nn.Linear(112, 10))


def make_data(name: str, n_batches: int = 16):
    g = torch.Generator().manual_seed(1)
    shape, batch = ((784,), 128) if name == "mlp" else ((3, 32, 32), 32)
    return [(torch.randn(batch, *shape, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(n_batches)]


def loop(name: str, steps: int, folder=None, projection=None, data=None, state=None):
    """The user's loop; recorded into ``folder`` when given. Returns (seconds, the recorder or None)."""
    torch.manual_seed(0)
    model = make_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = data or make_data(name)
    loss_fn = torch.nn.functional.cross_entropy
    rec = None
    start = time.process_time()
    if folder is None:
        for step in range(steps):
            x, y = data[step % len(data)]
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
    else:
        with backpropviz.record(model, opt, folder, steps=steps, snapshots=backpropviz.every(100),
                                projection=projection) as rec:
            if state is not None:
                state["estimate"] = rec.estimate
            for step in range(steps):
                x, y = data[step % len(data)]
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                rec.step(loss)
    return time.process_time() - start, model


def timing(name: str, steps: int, repeats: int, projection: int | None) -> dict:
    data = make_data(name)
    series = ["plain", "recorded"] + (["projected"] if projection else [])
    times = {s: [] for s in series}
    finals = {}
    work = Path(tempfile.mkdtemp(prefix="bench_recorder."))
    try:
        loop(name, 20, data=data)  # warm-up
        for i in range(repeats):
            for s in (series if i % 2 == 0 else series[::-1]):
                folder = None if s == "plain" else work / f"{s}{i}"
                seconds, model = loop(name, steps, folder, projection if s == "projected" else None, data)
                times[s].append(seconds)
                finals[s] = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
                if folder is not None:
                    shutil.rmtree(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for s in series[1:]:
        assert torch.equal(finals[s], finals["plain"]), "the recorder changed the run"
    return {s: statistics.median(v) for s, v in times.items()} | {"all": times}


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def memory_child(name: str, steps: int) -> None:
    """Run in a child: the unrecorded loop, then the recorded one; print the peaks as JSON."""
    import backpropviz.record  # noqa: F401  (its code is not the recorder's memory)

    torch.set_num_threads(1)
    data = make_data(name)
    loop(name, 300, data=data)
    loop(name, 300, data=data)  # a second fresh model and optimiser: the allocator's own growth is done
    before = peak_rss()
    work = Path(tempfile.mkdtemp(prefix="bench_recorder."))
    state = {}
    try:
        tracemalloc.start()
        loop(name, steps, work / "rec", data=data, state=state)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        written = sum(f.stat().st_size for f in (work / "rec").rglob("*") if f.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"rss_growth": peak_rss() - before, "traced_peak": traced, "written": written,
                      "estimate": state["estimate"]}))


def memory(name: str, steps: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory-child", name, str(steps)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp", help="comma-separated: mlp, conv (default mlp)")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed run (default 100)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-steps", default="200,1000",
                        help="run lengths whose recorder peaks are compared (default 200,1000; 0: none)")
    parser.add_argument("--projection", type=int, default=32, help="k of a third, projected series (0: none)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    torch.set_num_threads(args.threads)
    lengths = [int(n) for n in args.memory_steps.split(",") if int(n) > 0]
    for name in args.models.split(","):
        n_params = sum(p.numel() for p in make_model(name).parameters())
        print(f"{name}: {n_params:,} parameters, Adam, scalars every step, snapshots every 100; "
              f"torch threads {torch.get_num_threads()}")
        t = timing(name, args.steps, args.repeats, args.projection or None)
        per = args.steps
        line = (f"  time ({args.steps} steps, median of {args.repeats}): plain {t['plain'] / per * 1e3:.2f} ms/step, "
                f"recorded {t['recorded'] / per * 1e3:.2f} ms/step: {t['recorded'] / t['plain']:.3f}x")
        if "projected" in t:
            line += f"; with projection={args.projection}: {t['projected'] / t['plain']:.3f}x"
        print(line + " (target <= 1.05x)")
        for steps in lengths:
            m = memory(name, steps)
            budget = m["estimate"]["memory_bytes"]
            print(f"  memory after {steps:,} steps: peak RSS growth {mb(m['rss_growth'])}, tracemalloc peak "
                  f"{mb(m['traced_peak'])}; stated budget {mb(budget)} (on the CPU the device's part is host memory "
                  f"too); disk {mb(m['written'])} written vs "
                  f"{mb(m['estimate']['disk_bytes'])} stated")


if __name__ == "__main__":
    main()
