"""The interactive page: its size, the time from opening to interactive, and the time one step
change takes to re-render every view, measured in headless Chromium (Debian's).

    .venv/bin/python bench/bench_page.py [--steps 200] [--moons-epochs 300]

Targets (issue #10): the article's page (1000 steps) at most 1 MB in English and 1.5 MB with the
Japanese font (every page embeds it); interactive within 1 s; one step re-renders every view
within 16 ms (60 frames a second) for the article's run and for moons, mlp:8,8, 300 epochs of
mini-batches. Render times are read in the page: performance.now() around `go(k)` (every view's
update) and a forced style and layout of the result, over steps spread across the run, after a
warm-up pass; the median, the 95th percentile and the worst are reported (painting is not
included: headless Chromium paints at its own pace). The opening time is navigation start to
the page's ready mark (data decoded, every view built and drawn), median of --opens fresh tabs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pagehelpers import CHROMIUM, CHROMIUM_ARGS, MOONS  # noqa: E402


def build(folder: Path):
    from backpropviz.config import RunConfig
    from backpropviz.train import train
    from backpropviz.web.pack import page_data
    from backpropviz.web.page import write_page

    pages = {}
    h = train(RunConfig())
    for lang in ("en", "ja"):
        t0 = time.perf_counter()
        pages[f"article ({lang})"] = write_page(page_data(h, lang=lang), folder / f"article_{lang}.html")
        print(f"built article ({lang}) in {time.perf_counter() - t0:.1f} s")
    return h, pages


def measure(browser, path: Path, steps: int, opens: int) -> dict:
    url = path.resolve().as_uri()
    open_ms = []
    for _ in range(opens):
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function("document.documentElement.dataset.ready", timeout=60000)
        open_ms.append(page.evaluate("performance.now()"))
        ctx.close()
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.ready", timeout=60000)
    times = page.evaluate("""(count) => {
      const api = window.backpropviz, n = api.steps(), out = [];
      const ks = Array.from({length: count}, (_, i) => Math.round(i * (n - 1) / Math.max(1, count - 1)));
      for (const k of ks) api.go(k);                       // warm-up: JIT, caches
      for (const k of ks) {
        // the views' update and the browser's style and layout of the result (forced by reading a size)
        const t0 = performance.now();
        api.go(k);
        void document.body.offsetHeight;
        out.push(performance.now() - t0);
      }
      return out;
    }""", steps)
    ctx.close()
    times.sort()
    return {"bytes": path.stat().st_size, "open_ms": statistics.median(open_ms),
            "median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))], "max_ms": times[-1]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="steps visited per page")
    ap.add_argument("--opens", type=int, default=5, help="fresh tabs timed from opening to interactive")
    ap.add_argument("--moons-epochs", type=int, default=300)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from backpropviz.config import RunConfig
    from backpropviz.train import train
    from backpropviz.web.pack import page_data
    from backpropviz.web.page import write_page

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _, pages = build(folder)
        t0 = time.perf_counter()
        hm = train(RunConfig(**{**MOONS, "epochs": args.moons_epochs}))
        pages["moons mlp:8,8 (en)"] = write_page(page_data(hm, lang="en"), folder / "moons.html")
        print(f"built moons ({hm.n_steps} steps) in {time.perf_counter() - t0:.1f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            print(f"{'page':22} {'size':>9} {'open':>8} {'step median':>12} {'p95':>7} {'worst':>7}")
            for name, path in pages.items():
                r = measure(browser, path, args.steps, args.opens)
                print(f"{name:22} {r['bytes'] / 1e6:7.2f}MB {r['open_ms']:6.0f}ms {r['median_ms']:10.2f}ms "
                      f"{r['p95_ms']:5.2f}ms {r['max_ms']:5.2f}ms")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
