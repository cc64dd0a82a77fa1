"""The live playground's speed (``backpropviz serve``), measured in headless Chromium (Debian's).

    .venv/bin/python bench/bench_serve.py [--repeats 3] [--seconds 2] [--speeds 60,300,0] [--late 10000]

(the README's figures: --repeats 5 --seconds 3 --speeds 60,120,300,1000,0 --late 10000)

Targets (issue #12):

(a) From a control change to the first frame of the new run on the page: at most 100 ms, for the
    perceptron (the article's AND gate) and for moons with mlp:8,8. Measured in the page:
    performance.now() just before the control's event is dispatched (a neuron added with the
    layer's "+" button, the seed or the learning rate typed and changed) to the end of the main
    thread's work on the frame that shows the first step of the new run (the playground's
    ``bpv-live-drawn`` event; then, for steps drawn in a task, the next requestAnimationFrame; then
    a message posted from it or from the frame that drew them: it runs once that frame's style,
    layout, paint and commit are done); for the learning rate,
    which applies to the running training, the first step trained with the new rate. "First frame"
    means: every view shown (none deferred) has drawn the new run's first steps, and the browser
    has laid out and painted that frame. The run is training when the control changes, so
    the new run starts at once; --repeats changes each, the median and the worst are reported, and
    where the time goes (medians, ms after the change): the command's answer (the server checks the
    settings, builds the model, starts the run's training thread and, for a run that trains at once,
    answers with its first steps; for the learning rate, answers at once), the first steps arriving
    on the page (in that answer, or as an event), and the page's frame that appended them and drew
    every view (``bpv-live-drawn``); the rest is the browser's style, layout and paint of that frame
    (and, for steps drawn in a task, the wait for the browser's next frame).
(b) Sustained: at least 60 training steps shown per second with every view live for moons,
    mlp:8,8, batch 10 (200 samples: 20 steps an epoch), and more steps per frame at higher speeds,
    without the page falling behind the server. Over --seconds after a second's warm-up, at each
    of --speeds (steps per second; 0: as fast as training goes), it reports the steps the server
    trained per second, the steps the page drew per second, the frames it drew per second (each
    draws every step that arrived since the last one), and the lag (steps trained, not yet drawn)
    at the start and at the end of the window: a lag that grows is a page falling behind; and the
    server's CPU time over the window, as a share of one core (this process: the server and the
    benchmark's own driver of the browser, which waits).

On a virtual machine the host may take CPU time (steal): the share it took while the control
changes were timed is printed after them, and every figure is slower by about that much.

The server runs in this process (``backpropviz.web.server.Server``, as ``backpropviz serve``
runs it), so its step counts are read directly; the browser talks to it over HTTP as a user's does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pagehelpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

MOONS = {"data": "moons", "model": "mlp:8,8", "activation": "relu", "optimizer": "adam", "lr": 0.05,
         "batch_size": 10, "epochs": 2000, "seed": 0}
ARTICLE = {"epochs": 100000}  # the article's run (AND gate, perceptron), long enough to change it while it trains

# In the page: dispatch a control's event and wait for the frame after the first step of the new
# run (or, for the learning rate, the first step trained with it) is drawn.
CHANGE = """async ({selector, kind, value}) => {
  const root = document.getElementById("bpv-live"), api = window.backpropviz;
  const before = api.state().run, want = Math.fround(Number(value));
  const el = document.querySelector(selector);
  return await new Promise((resolve) => {
    let t0 = 0;
    const timer = setTimeout(() => resolve({ ms: null }), 10000);
    const drawn = (ev) => {
      const d = ev.detail;
      const fresh = d.run !== before;
      if (!fresh && !(kind === "lr" && d.lr === want)) return;
      root.removeEventListener("bpv-live-drawn", drawn);
      const drawnAt = performance.now() - t0;
      // A message posted from a frame's requestAnimationFrame callback is handled after that
      // frame's style, layout, paint and commit: the frame has left the main thread. Steps drawn in
      // a task are shown by the next frame; steps drawn in a frame's callback (d.inFrame), by it.
      const afterFrame = (fn) => (d.inFrame ? fn() : requestAnimationFrame(fn));
      afterFrame(() => { const ch = new MessageChannel(); ch.port1.onmessage = () => {
        clearTimeout(timer);
        // the command's answer: the network's timing of the first /api/command sent after t0
        const sent = performance.getEntriesByType("resource").find((e) => e.name.includes("/api/command") && e.startTime >= t0);
        resolve({ ms: performance.now() - t0, newRun: fresh, steps: d.steps, drawn: drawnAt,
                  answer: sent ? sent.responseEnd - t0 : null, arrived: d.arrived - t0 });
      }; ch.port2.postMessage(0); });
    };
    root.addEventListener("bpv-live-drawn", drawn);
    t0 = performance.now();
    if (kind === "click") el.click();
    else { el.value = String(value); el.dispatchEvent(new Event("change", { bubbles: true })); }
  });
}"""

# In the page: frames drawn and steps appended over `seconds`.
WINDOW = """async (seconds) => {
  const root = document.getElementById("bpv-live"), api = window.backpropviz;
  let frames = 0, appended = 0, most = 0;
  const drawn = (ev) => { frames += 1; appended += ev.detail.appended; most = Math.max(most, ev.detail.appended); };
  root.addEventListener("bpv-live-drawn", drawn);
  const t0 = performance.now(), s0 = api.steps();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  root.removeEventListener("bpv-live-drawn", drawn);
  return { ms: performance.now() - t0, frames, appended, most, steps: api.steps() - s0 };
}"""


def open_playground(browser, server, settings: dict, speed: int):
    from urllib.parse import urlencode

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "&" + urlencode({**settings, "speed": speed}), timeout=180000)
    page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=60000)
    page.evaluate("window.backpropviz.idle()")
    return ctx, page, errors


def close(ctx, page):
    """Stop the page's run (a new, unstarted one replaces it) and close the tab."""
    page.evaluate("window.backpropviz.reset().then(() => window.backpropviz.idle())")
    ctx.close()


def play_until(page, steps: int):
    page.evaluate("window.backpropviz.play()")
    page.wait_for_function(f"window.backpropviz.steps() >= {steps}", timeout=60000)


def server_run(server, page):
    """The server's LiveRun behind the page's current run."""
    run_id = page.evaluate("window.backpropviz.state().run")
    for client in list(server.playground.clients.values()):
        if client.run is not None and client.run.id == run_id:
            return client.run
    raise RuntimeError(f"the server has no run {run_id}")


def control_changes(browser, server, repeats: int, match: str = "") -> list[tuple[str, list[float], list[tuple]]]:
    """Per case (those whose label holds ``match``): its label, the times (ms) of --repeats changes, and each
    one's (answer, arrived, drawn) ms."""
    cases = [
        ("perceptron (AND): seed changed, new run", ARTICLE, "input[name=seed]", "fill", [2026, 2025]),
        ("perceptron (AND): learning rate, live", ARTICLE, "input[name=lr]", "lr", [0.4, 0.5]),
        ("moons mlp:8,8: a neuron added, new run", MOONS, ".bpv-live-layer[data-layer='0'] .bpv-live-more", "click", None),
        ("moons mlp:8,8: learning rate, live", MOONS, "input[name=lr]", "lr", [0.04, 0.05]),
    ]
    out = []
    for label, settings, selector, kind, values in cases:
        if match not in label:
            continue
        ctx, page, errors = open_playground(browser, server, settings, 60)
        play_until(page, 10)
        times, fresh, parts = [], [], []
        for i in range(repeats + 1):  # the first is a warm-up (the JIT, the first mount)
            value = values[i % len(values)] if values else None
            r = page.evaluate(CHANGE, {"selector": selector, "kind": kind, "value": value})
            if r["ms"] is None:
                raise RuntimeError(f"{label}: no frame of the new run within 10 s ({errors})")
            if i:
                times.append(r["ms"])
                fresh.append(r["newRun"])
                parts.append((r["answer"], r["arrived"], r["drawn"]))
            page.wait_for_function("window.backpropviz.steps() >= 5 && window.backpropviz.state().state === 'running'",
                                   timeout=60000)
            if kind == "click":  # back to mlp:8,8 for the next repeat (not timed)
                page.click(".bpv-live-layer[data-layer='0'] .bpv-live-fewer")
                page.wait_for_function("window.backpropviz.steps() >= 5 && window.backpropviz.state().state === 'running'",
                                       timeout=60000)
        kinds = "new run" if all(fresh) else ("live" if not any(fresh) else "mixed")
        out.append((f"{label} [{kinds}]", times, parts))
        close(ctx, page)
        if errors:
            raise RuntimeError(f"{label}: page errors {errors}")
    return out


def lag(page, run) -> int:
    """Steps the server has trained that the page has not drawn yet (the server read before and after)."""
    before = run.done_steps
    shown = page.evaluate("window.backpropviz.steps()")
    return round((before + run.done_steps) / 2 - shown)


def sustained(browser, server, speed: int, seconds: float, late: int = 0) -> dict:
    ctx, page, errors = open_playground(browser, server, MOONS, 0 if late else speed)
    play_until(page, max(late, 1))
    if late:  # steps recorded before the window: each chart draws them all every frame
        page.select_option("select[name=speed]", str(speed))
    time.sleep(1.0)  # warm-up
    run = server_run(server, page)
    t0, s0, c0 = time.perf_counter(), run.done_steps, time.process_time()
    lag0 = lag(page, run)
    w = page.evaluate(WINDOW, seconds)
    t1, s1, c1 = time.perf_counter(), run.done_steps, time.process_time()
    lag1 = lag(page, run)
    views = page.evaluate("window.backpropviz.views()")
    close(ctx, page)
    if errors:
        raise RuntimeError(f"speed {speed}: page errors {errors}")
    sec = w["ms"] / 1000
    return {"server": (s1 - s0) / (t1 - t0), "shown": w["steps"] / sec, "fps": w["frames"] / sec,
            "per_frame": w["appended"] / max(w["frames"], 1), "most": w["most"], "lag0": lag0, "lag1": lag1,
            "views": views, "cpu": (c1 - c0) / (t1 - t0)}


def cpu_times() -> list[int] | None:
    """The machine's CPU time so far by kind (/proc/stat: user, nice, system, idle, iowait, irq,
    softirq, steal), or None where there is none."""
    try:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def stolen(before: list[int] | None) -> str:
    """The share of the machine's CPU time the host took (steal) since ``before``: a virtual
    machine's figures are slower by about that much, and swing with it."""
    after = cpu_times()
    if before is None or after is None or sum(after) == sum(before):
        return ""
    d = [b - a for a, b in zip(before, after)]
    return f" (CPU time taken by the host meanwhile: {100 * d[7] / sum(d):.0f}%)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="control changes timed per case")
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each sustained window")
    ap.add_argument("--speeds", default="60,300,0", help="steps per second of the sustained runs (0: unpaced)")
    ap.add_argument("--only", choices=("change", "sustained"), help="one of the two measurements")
    ap.add_argument("--case", default="", help="only the control changes whose label holds this text (e.g. neuron)")
    ap.add_argument("--late", type=int, default=0,
                    help="also measure each speed after this many steps (trained unpaced first): charts hold them all")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from backpropviz.web.server import Server

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (others' work slows every figure)")
    with Server(port=0) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if args.only != "sustained":
            print("(a) control change -> the frame after the new run's first step is drawn (target <= 100 ms)")
            since = cpu_times()
            for label, times, parts in control_changes(browser, server, args.repeats, args.case):
                print(f"  {label:58} median {statistics.median(times):6.1f} ms   worst {max(times):6.1f} ms   "
                      f"({len(times)} changes)")
                answers = [a for a, _, _ in parts if a is not None]
                answer = f"{statistics.median(answers):5.1f} ms" if answers else "(not timed)"
                print(f"  {'':58}   medians: answer {answer}, first steps arrived {statistics.median(a for _, a, _ in parts):5.1f}"
                      f" ms, drawn (JS) {statistics.median(d for _, _, d in parts):5.1f} ms; then the frame's style, layout and paint")
            print(f"  {stolen(since).strip()}")
        if args.only != "change":
            print("(b) moons mlp:8,8, batch 10, every view live (target >= 60 steps/s shown, the lag not growing)")
            print(f"  {'speed':>8} {'trained/s':>10} {'shown/s':>8} {'frames/s':>9} {'steps/frame':>12} {'most':>5} "
                  f"{'lag start':>10} {'lag end':>8} {'server CPU':>11}")
            views = None
            for late in sorted({0, args.late}):
                for speed in (int(s) for s in args.speeds.split(",")):
                    since = cpu_times()
                    r = sustained(browser, server, speed, args.seconds, late)
                    views = r["views"]
                    print(f"  {speed or 'max':>8} {r['server']:10.1f} {r['shown']:8.1f} {r['fps']:9.1f} "
                          f"{r['per_frame']:12.2f} {r['most']:5d} {r['lag0']:10d} {r['lag1']:8d} {100 * r['cpu']:10.0f}%"
                          + (f"   (after {late} steps)" if late else "") + stolen(since))
            print(f"  views live: {', '.join(views)}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
