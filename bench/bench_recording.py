"""How much does recording every step cost? ``train()`` against the same training without recording.

The workload (issue 3): an MLP of about 10k parameters (mlp:100,100, 10,501 parameters) on the
2,000-point moons set, 20 epochs of mini-batches of 32 (1,260 steps), Adam. The recorded run is
``backpropviz.train.train`` (parameters, gradients, loss and batch of every step, lr, and the
whole-set loss and accuracy once per epoch). Two unrecorded loops build the same data and model
with ``prepare`` and run the same steps (same shuffled batches, same update rule, same bits):

- ``plain``: the loop a user writes: torch.optim's update one parameter tensor at a time (what
  ``torch.optim.Adam(model.parameters())`` runs on the CPU);
- ``flat``: the loop ``train`` runs, minus the recording: the parameters live in one flat vector
  and the update runs once on it, from the gradients joined into one vector (``torch.cat``).

``train`` gets the joined gradient for free: the recorder's gradient row is that vector. The
update rules are element-wise, so both updates give the same bits (tests/test_optim.py). Runs
alternate (plain, flat, recorded, ..., reversed every other repeat) so that drifts of a shared
machine hit all; the figures are ratios of the medians.

    python bench/bench_recording.py            # 7 repeats, one torch thread
    python bench/bench_recording.py --repeats 3 --threads 2
    python bench/bench_recording.py --to-folder   # also the cost of run --recording DIR

Target (issue 3): recorded <= 1.1x the same loop without recording. Both ratios are printed:
recorded / plain (what a user of a plain loop sees) and recorded / flat (the cost of the
recording alone). A fourth series, ``flat`` plus only the once-per-epoch evaluation of the
whole training set (done as ``train`` does it), shows how the recording's cost splits.

Where the recording's cost goes (2-core shared VM, Nov 2026, runs with parts switched off,
interleaved, medians of 9-15; measured before the flat update, against the plain loop, when
recorded / plain was 1.21-1.22): ``train`` with both row copies and the epoch evaluation
switched off 1.04-1.05 (the loop's bookkeeping: ``loss.item()``, the divergence checks, the
recorder calls); the epoch evaluation alone 1.03; the two row copies per step the rest, ~13%.
A bare loop with two 42 KB ``memmove`` calls per step costs 1.14x when they go to fresh rows and
1.06x when they go to the same hot 84 KB, so the copies alone use up a 10% budget on this
machine. Tried, not kept:

- (Dec 2026, issue 13 item 6; ``--tricks``, CPU-time medians, 5-9 repeats, load 10-18 on 2 cores)
  the per-step row copies by ``ctypes.memmove`` at the rows' addresses instead of
  ``torch.cat(out=row)`` / ``row.copy_()``: torch's copies took 0.945x and 0.852x the memmove
  run's time, so memmove was dropped; a helper thread prefaulting the buffers with
  ``madvise(MADV_POPULATE_WRITE)``: ``np.empty`` buffers took 1.139x and 1.054x, the same maps
  populated at once by ``mmap(MAP_POPULATE)`` with torch's copies 0.897x, so the thread became
  MAP_POPULATE. After: recorded / plain 1.031, ``np.empty`` / recorded 1.086 (MAP_POPULATE kept);

- ``MADV_HUGEPAGE`` on the buffers: 1.221 -> 1.213 (within noise);
- a ring buffer in cache plus a Python thread moving rows to the history: 1.25-1.42x. Every
  hand-over wakes a sleeping thread (GIL or queue), ~25-30 us each on this VM;
- a native (C, pthreads) thread doing the copies, spinning between steps so that it is never
  woken: the copies take 12 ms in all there, yet the run is 1.17-1.19x (the other core reading
  the rows the training core keeps rewriting moves the same cache lines back and forth);
- holding each chunk's gradient tensors and copying them in bulk every 16 or 64 steps: 1.24x;
- non-temporal stores for the row copies (session 1): 1.22 -> 1.19.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from backpropviz.config import RunConfig
from backpropviz.losses import get_loss
from backpropviz.models import flat_storage
from backpropviz.optim import make_optimizer
from backpropviz import train as train_module
from backpropviz.train import WholeSetEvaluator, prepare, train

CONFIG = RunConfig(data="moons", n_samples=2000, noise=0.2, model="mlp:100,100", activation="tanh",
                   optimizer="adam", lr=1e-3, epochs=20, batch_size=32, seed=0)


def baseline(config: RunConfig, *, flat: bool = False, epoch_eval: bool = False) -> float:
    """The same training with no recording at all; returns the final parameter checksum.

    ``flat=False`` updates one parameter tensor at a time (the plain loop), ``flat=True`` the
    flat parameter vector from the joined gradients (``train``'s loop). ``epoch_eval=True``
    adds only the whole-training-set evaluation that ``train`` does once per epoch.
    """
    train_set, _, model = prepare(config)
    loss_fn = get_loss(config.loss)
    params = list(model.parameters())
    vector = flat_storage(model) if flat else None
    optimizer = make_optimizer(config.optimizer, [vector] if flat else params, lr=config.lr,
                               **config.optimizer_options())
    X = torch.from_numpy(train_set.X)
    y = torch.from_numpy(train_set.y).reshape(-1, 1)
    shuffler = np.random.default_rng(config.seed)
    evaluate = WholeSetEvaluator(model, loss_fn, X, y)  # as train() evaluates
    for _ in range(config.epochs + epoch_eval):
        if epoch_eval:
            evaluate()
        if _ == config.epochs:
            break
        for batch in torch.from_numpy(shuffler.permutation(len(y))).split(config.batch_size):
            loss = loss_fn(model(X[batch]), y[batch])
            grads = torch.autograd.grad(loss, params)
            optimizer.step((torch.cat([g.reshape(-1) for g in grads]),) if flat else grads)
    return float(sum(p.detach().sum() for p in params))


def recorded(config: RunConfig) -> float:
    return float(train(config).params[-1].sum(dtype=np.float64))


def recorded_to_folder(config: RunConfig) -> float:
    """``recorded`` that also records into a folder (``run --recording``: backpropviz.record on the
    same loop, every step's parameters and gradient written in chunks); the folder is removed after."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="bench-recording-")
    try:
        return float(train(config, recording=folder + "/rec").params[-1].sum(dtype=np.float64))
    finally:
        shutil.rmtree(folder)


def plain_buffers(rows, cols, dtype=np.float32):
    """``recording_buffers`` without MAP_POPULATE: plain ``np.empty`` (pages mapped at first write)."""
    return [np.empty((r, cols), dtype=dtype) for r in rows]


def recorded_unpopulated(config: RunConfig) -> float:
    """``recorded`` with the history's buffers from ``np.empty`` (the --tricks series)."""
    saved = train_module.recording_buffers
    try:
        train_module.recording_buffers = plain_buffers
        return recorded(config)
    finally:
        train_module.recording_buffers = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    # One thread by default: for a model this small more threads mostly spin, and on a shared
    # machine their waiting swamps the figure.
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--tricks", action="store_true",
                        help="also run the recording with its buffers from plain np.empty instead of populated "
                             "anonymous maps (MAP_POPULATE)")
    parser.add_argument("--to-folder", action="store_true",
                        help="also run the recording into a folder as `run --recording` does (every step kept "
                             "on disk, about 107 MB for this workload, in a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n_params = sum(p.numel() for p in prepare(CONFIG)[2].parameters())
    print(f"workload: {CONFIG.model} ({n_params} parameters), {CONFIG.n_samples} samples, "
          f"{CONFIG.epochs} epochs, batch {CONFIG.batch_size}, {CONFIG.optimizer}; "
          f"torch threads {torch.get_num_threads()}")
    checksums = [baseline(CONFIG), baseline(CONFIG, flat=True), recorded(CONFIG)]  # warm-up, and:
    assert max(checksums) - min(checksums) <= 1e-3 * max(1.0, abs(checksums[0])), checksums  # same run

    runs = {"plain": baseline, "flat": lambda c: baseline(c, flat=True), "recorded": recorded,
            "flat+eval": lambda c: baseline(c, flat=True, epoch_eval=True)}
    if args.tricks:
        runs["np.empty"] = recorded_unpopulated
    if args.to_folder:
        runs["+folder"] = recorded_to_folder
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for i in range(args.repeats):
        for name in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            start, start_cpu = time.perf_counter(), time.process_time()
            runs[name](CONFIG)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    # Wall time is what a user waits; the process's CPU time is steadier on a shared machine.
    for clock, times in (("wall", wall), ("cpu", cpu)):
        for name, values in times.items():
            print(f"{clock:4s} {name:9s} median {statistics.median(values):.3f} s  "
                  f"(min {min(values):.3f}, max {max(values):.3f}, n={len(values)})")
    for clock, times in (("wall", wall), ("cpu", cpu)):
        med = {name: statistics.median(values) for name, values in times.items()}
        print(f"{clock:4s} recorded / plain {med['recorded'] / med['plain']:.3f}, "
              f"recorded / flat {med['recorded'] / med['flat']:.3f} (target <= 1.10); "
              f"flat + epoch evaluation only / flat {med['flat+eval'] / med['flat']:.3f}")
        if "+folder" in med:
            print(f"{clock:4s} recorded into a folder too (run --recording) / recorded "
                  f"{med['+folder'] / med['recorded']:.3f}")
        if "np.empty" in med:
            print(f"{clock:4s} recorded with np.empty buffers / recorded {med['np.empty'] / med['recorded']:.3f}")


if __name__ == "__main__":
    main()
