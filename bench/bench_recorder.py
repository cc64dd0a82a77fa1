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
the allocator's growth from one model to the next, are done), then the recorder once on a tiny
model (its imports and the code pages of the kernels it calls, reported apart: the same for any
model), then the loop recorded for N steps. A control child does the same with the last run
unrecorded too. Three measures, each compared with the budget the recorder states up front
(``rec.estimate['memory_bytes']``):

- malloc's bytes in use (glibc's mallinfo2), sampled after every optimiser step (after the
  recorder's hooks) and while the recorder writes each file or part of one: its peak over the
  start, recorded minus the control's, is the recorder's own memory, whatever the allocator
  keeps of what was freed;
- the growth of the process's peak resident set (VmHWM) over the unrecorded runs': what the
  system sees, but glibc keeps freed blocks and their place differs from run to run, so that the
  control's growth (0 to 65 MB here) is as large as the recorder's, or larger;
- tracemalloc's peak of the Python-side allocations (numpy buffers, file writes) while recording.

Beside other tools (``--compare wandb,tensorboard``, the ``compare`` extra): the same loop logged by
``wandb.watch(model, log="all", log_freq=1)`` offline (with ``wandb.log`` of the loss each step) or by
TensorBoard's ``add_histogram`` of every parameter and its gradient each step, alternated with the
series above. wandb works in a service process of its own: its CPU time there (read from /proc and
``RUSAGE_CHILDREN``) and the wall clock are reported beside this process's CPU time. Then one run of
``--readback-steps`` per series is read back from its files: what each keeps (bins per histogram, the
steps present, TensorBoard's reservoir sampling at its reader's defaults).

    python bench/bench_recorder.py             # short: the MLP, 100 steps x 3 repeats, memory after 200 vs 1,000 steps
    python bench/bench_recorder.py --steps 200 --repeats 5 --memory-steps 1000,5000       # the README's MLP figures
    python bench/bench_recorder.py --models conv --steps 40 --repeats 3 --memory-steps 0  # the conv net's time
    python bench/bench_recorder.py --steps 200 --repeats 3 --memory-steps 0 --compare wandb,tensorboard

Times are the process's CPU time (``time.process_time``): on a shared machine the wall clock
mostly measures the other tenants; with one torch thread and no other thread, CPU time is what an
idle machine's wall clock would show.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import resource
import shutil
import statistics
import struct
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


def user_steps(model, opt, loss_fn, data, steps: int, after=None) -> None:
    """The user's ordinary loop over ``data``'s batches in turn; ``after(step, loss)`` once each
    optimiser step is taken (what the series being timed logs or records)."""
    for step in range(steps):
        x, y = data[step % len(data)]
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if after is not None:
            after(step, loss)


def loop(name: str, steps: int, folder=None, projection=None, data=None, state=None):
    """The user's loop; recorded into ``folder`` when given. Returns (seconds, the recorder or None)."""
    torch.manual_seed(0)
    model = make_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = data or make_data(name)
    loss_fn = torch.nn.functional.cross_entropy
    rec = None
    start, wall = time.process_time(), time.perf_counter()
    if folder is None:
        user_steps(model, opt, loss_fn, data, steps)
    else:
        with backpropviz.record(model, opt, folder, steps=steps, snapshots=backpropviz.every(100),
                                projection=projection) as rec:
            if state is not None:
                state["estimate"] = rec.estimate
            user_steps(model, opt, loss_fn, data, steps, lambda step, loss: rec.step(loss))
    seconds = time.process_time() - start
    if state is not None:
        state["wall"] = time.perf_counter() - wall
    return seconds, model


# -- the same loop logged by wandb.watch or TensorBoard histograms (--compare) -----------------------

COMPARE = {"wandb": "wandb", "tensorboard": "tensorboard"}  # series -> the package it needs


def missing(kind: str) -> bool:
    return importlib.util.find_spec(COMPARE[kind]) is None


def children_cpu() -> float:
    """CPU seconds of this process's children: the live ones (with their reaped children) and the
    reaped ones. wandb's service (wandb-core, and its wandb-symon) runs beside the loop there."""
    me, tick, total = os.getpid(), os.sysconf("SC_CLK_TCK"), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # from the state on: ppid, ..., utime, stime, cutime, cstime
        if int(fields[1]) == me:
            total += sum(int(f) for f in fields[11:15])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total / tick + usage.ru_utime + usage.ru_stime


def logged_loop(name: str, steps: int, kind: str, folder: Path, data) -> dict:
    """The user's loop, logged the way each tool's users get a per-layer picture of every step:
    ``wandb.watch(model, log="all", log_freq=1)`` (offline) or TensorBoard's ``add_histogram`` of every
    parameter and its gradient. Opening and closing (``wandb.finish``, ``writer.close``) are timed."""
    torch.manual_seed(0)
    model = make_model(name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.functional.cross_entropy
    if kind == "wandb":
        import wandb

        wandb.setup()  # its service, started here and ended after the run: all of its CPU time is this run's
    else:
        from torch.utils.tensorboard import SummaryWriter
    folder.mkdir(parents=True)
    service = children_cpu()
    start, wall = time.process_time(), time.perf_counter()
    if kind == "wandb":
        wandb.init(mode="offline", dir=folder, project="bench_recorder", settings=wandb.Settings(silent=True))
        wandb.watch(model, log="all", log_freq=1)
        # watch's histograms go out with each step's log
        user_steps(model, opt, loss_fn, data, steps, lambda step, loss: wandb.log({"loss": loss.item()}))
        wandb.finish()
    else:
        writer = SummaryWriter(folder)

        def log(step, loss):
            writer.add_scalar("loss", loss.item(), step)
            for n, p in model.named_parameters():
                writer.add_histogram(f"parameters/{n}", p, step)
                writer.add_histogram(f"gradients/{n}", p.grad, step)

        user_steps(model, opt, loss_fn, data, steps, log)
        writer.close()  # flushes
    cpu, wall = time.process_time() - start, time.perf_counter() - wall
    if kind == "wandb":
        wandb.teardown()  # the service exits and is reaped: its CPU time is in RUSAGE_CHILDREN
    return {"cpu": cpu, "wall": wall, "service": children_cpu() - service, "model": model}


def wandb_records(path: Path):
    """The records of a ``.wandb`` file: a 7-byte header, then LevelDB-log blocks of 32 KiB."""
    from wandb.proto import wandb_internal_pb2

    raw, pos, parts = path.read_bytes(), 7, b""
    if raw[:4] != b":W&B":
        raise ValueError(f"{path} is not a .wandb file")
    while pos + 7 <= len(raw):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        _crc, n, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        chunk, pos = raw[pos + 7:pos + 7 + n], pos + 7 + n
        if kind in (1, 4):  # full, last
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts + chunk)
            parts = b""
            yield record
        elif kind in (2, 3):  # first, middle
            parts += chunk


def wandb_kept(folder: Path) -> dict:
    """What a wandb offline run holds: the steps with histograms and each histogram's bins."""
    steps, bins, tags = set(), [], set()
    for path in folder.glob("wandb/offline-run-*/run-*.wandb"):
        for record in wandb_records(path):
            if record.WhichOneof("record_type") != "history":
                continue
            for item in record.history.item:
                if len(item.nested_key) == 2 and item.nested_key[1] == "values":
                    steps.add(record.history.step.num)
                    tags.add(item.nested_key[0])
                    bins.append(len(json.loads(item.value_json)))
    return {"steps": sorted(steps), "bins": bins, "tags": len(tags)}


def tensorboard_kept(folder: Path) -> dict:
    """What TensorBoard's reader shows of the event files: its default size guidance keeps 1
    histogram per tag and 500 compressed ones (reservoir sampling); its web page keeps 500 per tag."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    out = {}
    for label, guidance in (("default", None), ("ui", {ea.HISTOGRAMS: 500})):
        acc = ea.EventAccumulator(str(folder), size_guidance=guidance)
        acc.Reload()
        tags = acc.Tags()["histograms"]
        out[label] = {t: [e.step for e in acc.Histograms(t)] for t in tags}
        if label == "default":
            out["compressed"] = {t: [e.step for e in acc.CompressedHistograms(t)] for t in tags}
        else:
            out["bins"] = [len(e.histogram_value.bucket) for t in tags for e in acc.Histograms(t)]
    return out


def disk(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def timing(name: str, steps: int, repeats: int, projection: int | None, compare=()) -> dict:
    """Each series' medians: CPU seconds of this process (by series name), and under "wall",
    "service" (children's CPU seconds) and "written" (bytes on disk); "first": a compared tool's
    first run in the process (imports, wandb's service starting), wall seconds."""
    data = make_data(name)
    series = ["plain", "recorded"] + (["projected"] if projection else []) + list(compare)
    times = {s: [] for s in series}
    walls, services, written, first = {s: [] for s in series}, {s: [] for s in series}, {}, {}
    finals = {}
    work = Path(tempfile.mkdtemp(prefix="bench_recorder."))
    try:
        loop(name, 20, data=data)  # warm-up
        for s in compare:
            wall = time.perf_counter()
            logged_loop(name, 2, s, work / f"warm-{s}", data)
            first[s] = time.perf_counter() - wall
        for i in range(repeats):
            for s in (series if i % 2 == 0 else series[::-1]):
                folder = None if s == "plain" else work / f"{s}{i}"
                if s in compare:
                    run = logged_loop(name, steps, s, folder, data)
                    seconds, model, wall, service = run["cpu"], run["model"], run["wall"], run["service"]
                else:
                    state = {}
                    seconds, model = loop(name, steps, folder, projection if s == "projected" else None, data,
                                          state)
                    wall, service = state["wall"], 0.0
                times[s].append(seconds)
                walls[s].append(wall)
                services[s].append(service)
                finals[s] = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
                if folder is not None:
                    written[s] = disk(folder)
                    shutil.rmtree(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for s in series[1:]:
        assert torch.equal(finals[s], finals["plain"]), f"{s} changed the run"
    return ({s: statistics.median(v) for s, v in times.items()} | {"all": times}
            | {"wall": {s: statistics.median(v) for s, v in walls.items()},
               "service": {s: statistics.median(v) for s, v in services.items()},
               "written": written, "first": first})


def kept(name: str, steps: int, compare) -> dict:
    """One run of ``steps`` steps per series, read back: what each keeps of it."""
    data = make_data(name)
    work = Path(tempfile.mkdtemp(prefix="bench_recorder."))
    out = {}
    try:
        loop(name, steps, work / "recorded", data=data)
        r = backpropviz.load_recording(work / "recorded")
        out["recorded"] = {"rows": len(r.steps), "snapshots": list(r.snapshot_steps),
                           "tensors": len(r.param_names), "written": disk(work / "recorded")}
        for s in compare:
            logged_loop(name, steps, s, work / s, data)
            out[s] = (wandb_kept if s == "wandb" else tensorboard_kept)(work / s) | {"written": disk(work / s)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def proc_status(key: str = "VmHWM") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status (Linux only)")


def peak_rss() -> int:
    return proc_status("VmHWM")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def heap_in_use() -> int:
    """Bytes malloc has handed out and not taken back (glibc's mallinfo2: heap blocks and mapped
    ones): unlike the resident set, blind to how the allocator keeps what was freed."""
    info = ctypes.CDLL(None).mallinfo2
    info.restype = _Mallinfo2
    m = info()
    return m.uordblks + m.hblkhd


def sample_heap(peak: dict):
    """Keep in ``peak['bytes']`` the most malloc holds after each optimiser step (after the
    recorder's hooks) and while the recorder writes each file, or each part of one."""
    from backpropviz.record import store

    def sample(*_):
        peak["bytes"] = max(peak.get("bytes", 0), heap_in_use())

    from torch.optim.optimizer import register_optimizer_step_post_hook

    register_optimizer_step_post_hook(sample)
    for fname in ("write_npy", "write_npy_parts"):
        real = getattr(store, fname, None)
        if real is None:
            continue

        def wrapped(folder, name, array, *rest, _real=real):
            if not rest:  # write_npy(folder, name, array): the array is whole in memory now
                sample()
                return _real(folder, name, array)

            def parts():
                for part in array:
                    sample()
                    yield part
            return _real(folder, name, parts(), *rest)

        setattr(store, fname, wrapped)


def memory_child(name: str, steps: int, recorded: bool = True) -> None:
    """Run in a child: the unrecorded loop twice, the recorder once on a tiny model, then the loop
    recorded (or, as a control, unrecorded a third time); print the peaks as JSON."""
    import backpropviz.record  # noqa: F401  (its code is not the recorder's memory)

    torch.set_num_threads(1)
    data = make_data(name)
    loop(name, 300, data=data)
    loop(name, 300, data=data)  # a second fresh model and optimiser: the allocator's own growth is done
    work = Path(tempfile.mkdtemp(prefix="bench_recorder."))
    state = {}
    try:
        code = proc_status("RssFile")  # the recorder's code first run: its pages, not its data
        tiny = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
        opt = torch.optim.Adam(tiny.parameters())
        with backpropviz.record(tiny, opt, work / "tiny", snapshots=backpropviz.every(2)) as rec:
            for _ in range(5):
                opt.zero_grad()
                tiny(torch.randn(8, 4)).sum().backward()
                opt.step()
                rec.step(0.0)
        code = proc_status("RssFile") - code
        before, heap, in_use = peak_rss(), {}, heap_in_use()
        sample_heap(heap)
        tracemalloc.start()
        loop(name, steps, work / "rec" if recorded else None, data=data, state=state)
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        written = sum(f.stat().st_size for f in (work / "rec").rglob("*") if f.is_file()) if recorded else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"rss_growth": peak_rss() - before, "traced_peak": traced, "written": written,
                      "code": code, "heap_growth": heap.get("bytes", in_use) - in_use,
                      "estimate": state.get("estimate")}))


def memory(name: str, steps: int, recorded: bool = True) -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory-child", name, str(steps)]
                         + ([] if recorded else ["--control"]), capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


LABELS = {"recorded": "backpropviz.record", "wandb": "wandb.watch(log='all', log_freq=1), offline",
          "tensorboard": "TensorBoard add_histogram of every parameter and gradient"}


def report_compare(t: dict, steps: int, compare) -> None:
    """The compared series' cost beside the recorder's: CPU here, CPU in child processes, wall, disk."""
    plain, plain_wall = t["plain"], t["wall"]["plain"]
    print(f"  wall clock: plain {plain_wall / steps * 1e3:.2f} ms/step")
    for s in ["recorded", *compare]:
        cpu, service, wall = t[s], t["service"][s], t["wall"][s]
        line = f"  {LABELS[s]}: {cpu / steps * 1e3:.2f} ms/step CPU here ({cpu / plain:.2f}x)"
        if service > 0:
            line += (f", + {service / steps * 1e3:.2f} ms/step in its service's processes "
                     f"(in all {(cpu + service) / plain:.2f}x)")
        line += f"; wall {wall / steps * 1e3:.2f} ms/step ({wall / plain_wall:.2f}x); disk {mb(t['written'][s])}"
        if s in t["first"]:
            line += f"; its first run in a process {t['first'][s]:.1f} s wall (imports{', service start' * (s == 'wandb')})"
        print(line)


def steps_seen(steps: list, n: int) -> str:
    ends = ", ".join(f"{k} {'yes' if k in steps else 'no'}" for k in (0, n - 1))
    return f"{len(steps)} of {n} steps (step {ends})"


def report_kept(k: dict, n: int) -> None:
    """What each keeps of one n-step run, read back from its files."""
    r = k["recorded"]
    print(f"  kept of {n} steps: {LABELS['recorded']}: {r['rows']} rows of exact scalars (loss, lr, grad, weight and "
          f"update norms of each of {r['tensors']} tensors), full snapshots at steps "
          f"{', '.join(map(str, r['snapshots']))}; disk {mb(r['written'])}")
    if "wandb" in k:
        w = k["wandb"]
        bins = sorted(w["bins"])
        print(f"    {LABELS['wandb']}: histograms of {w['tags']} tensors (parameters and gradients) at "
              f"{steps_seen(w['steps'], n)}, {bins[len(bins) // 2] if bins else 0} bins (median; "
              f"{bins[0] if bins else 0}-{bins[-1] if bins else 0}); disk {mb(w['written'])}")
    if "tensorboard" in k:
        b = k["tensorboard"]
        bins = sorted(b["bins"])
        first = next(iter(b["default"]), None)
        if first is None:
            print("    TensorBoard: no histograms read back")
            return
        print(f"    TensorBoard, {len(b['default'])} histogram tags: EventAccumulator's default keeps "
              f"{steps_seen(b['default'][first], n)} per tag, its compressed histograms "
              f"{steps_seen(b['compressed'][first], n)}; with 500 per tag (the web page's default) "
              f"{steps_seen(b['ui'][first], n)}; {bins[len(bins) // 2]} bins (median; {bins[0]}-{bins[-1]}); "
              f"disk {mb(b['written'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp", help="comma-separated: mlp, conv (default mlp)")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed run (default 100)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-steps", default="200,1000",
                        help="run lengths whose recorder peaks are compared (default 200,1000; 0: none)")
    parser.add_argument("--projection", type=int, default=32, help="k of a third, projected series (0: none)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--compare", default="",
                        help="comma-separated: wandb, tensorboard: the same loop logged by wandb.watch(log='all', "
                             "log_freq=1) offline, or by TensorBoard histograms of every parameter and gradient "
                             "(needs the compare extra; default none)")
    parser.add_argument("--readback-steps", type=int, default=1000,
                        help="with --compare: the length of one more run per series, read back to count what "
                             "each keeps (default 1000; 0: none)")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--control", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]), recorded=not args.control)
        return
    compare = [c for c in args.compare.split(",") if c]
    unknown = [c for c in compare if c not in COMPARE]
    if unknown:
        print(f"bench_recorder.py: --compare takes wandb, tensorboard; got {', '.join(unknown)}", file=sys.stderr)
        sys.exit(2)
    for c in [c for c in compare if missing(c)]:
        print(f"{c}: not installed, its series skipped (pip install -c requirements/constraints.txt -e '.[compare]')")
        compare.remove(c)
    torch.set_num_threads(args.threads)
    lengths = [int(n) for n in args.memory_steps.split(",") if int(n) > 0]
    for name in args.models.split(","):
        n_params = sum(p.numel() for p in make_model(name).parameters())
        print(f"{name}: {n_params:,} parameters, Adam, scalars every step, snapshots every 100; "
              f"torch threads {torch.get_num_threads()}")
        t = timing(name, args.steps, args.repeats, args.projection or None, compare)
        per = args.steps
        line = (f"  time ({args.steps} steps, median of {args.repeats}): plain {t['plain'] / per * 1e3:.2f} ms/step, "
                f"recorded {t['recorded'] / per * 1e3:.2f} ms/step: {t['recorded'] / t['plain']:.3f}x")
        if "projected" in t:
            line += f"; with projection={args.projection}: {t['projected'] / t['plain']:.3f}x"
        print(line + " (target <= 1.05x)")
        if compare:
            report_compare(t, args.steps, compare)
            if args.readback_steps > 0:
                report_kept(kept(name, args.readback_steps, compare), args.readback_steps)
        for steps in lengths:
            m, control = memory(name, steps), memory(name, steps, recorded=False)
            budget = m["estimate"]["memory_bytes"]
            print(f"  memory after {steps:,} steps: malloc's peak in use {mb(m['heap_growth'])} over the start, the "
                  f"same loop unrecorded {mb(control['heap_growth'])}: the recorder "
                  f"{mb(m['heap_growth'] - control['heap_growth'])}; peak RSS growth {mb(m['rss_growth'])} (unrecorded, "
                  f"measured alike: {mb(control['rss_growth'])}), tracemalloc peak {mb(m['traced_peak'])}; stated "
                  f"budget {mb(budget)} (on the CPU the device's part is host memory too); the recorder's code "
                  f"first run {mb(m['code'])} (file pages, before the measure); disk {mb(m['written'])} written vs "
                  f"{mb(m['estimate']['disk_bytes'])} stated")


if __name__ == "__main__":
    main()
