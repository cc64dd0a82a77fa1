"""The 300-frame overview of the article's run as GIF (and MP4): built once and blitted per frame,
against drawing each frame as a new figure, side by side, in one process.

    .venv/bin/python bench/bench_animate.py [--frames 300] [--baseline-frames 30] [--repeats 3]

Both sides draw the same frames with the same display code and the same loss surface (computed
once, outside the timings), and encode with the same encoder. The baseline makes a new
OverviewFigure for each frame (``step=row``) and draws it whole; it is timed on
``--baseline-frames`` of the frames, evenly spread, and its per-frame time scaled to all of them
(``--baseline-frames 300`` times every one). Reports where the time goes (drawing, encoding) and
the file sizes. Target: animate >= 4x faster.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--baseline-frames", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lang", default="en", choices=["en", "ja"])
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    from backpropviz.analysis.frames import choose_frames
    from backpropviz.config import RunConfig
    from backpropviz.errors import BackpropvizError
    from backpropviz.render.animate import Animation, require_video
    from backpropviz.render.figures import gc_paused
    from backpropviz.render.overview import OverviewFigure
    from backpropviz.train import train

    history = train(RunConfig())
    rows = choose_frames(history.params, args.frames).rows
    landscape = OverviewFigure.from_history(history, plot=False).landscape  # once, for both sides
    formats = ["gif"]
    try:
        require_video()
        formats.append("mp4")
    except BackpropvizError:
        print("imageio-ffmpeg not installed: GIF only (pip install -e '.[video]')")

    results = {}
    for fmt in formats:
        totals, draws, encodes, sizes = [], [], [], []
        for _ in range(args.repeats):
            scene = OverviewFigure.from_history(history, landscape=landscape, lang=args.lang)
            anim = Animation(scene, rows, fps=20)
            buf = io.BytesIO()
            start = time.perf_counter()
            anim.write(buf, fmt)
            totals.append(time.perf_counter() - start)
            draws.append(anim.draw_seconds_)
            encodes.append(anim.encode_seconds_)
            sizes.append(len(buf.getvalue()))
        results[fmt] = (statistics.median(totals), statistics.median(draws), statistics.median(encodes), sizes[-1])

    # the baseline: a new figure per frame, drawn whole
    picks = rows[np.unique(np.linspace(0, len(rows) - 1, min(args.baseline_frames, len(rows))).round().astype(int))]
    per_frame = []
    with gc_paused():
        for row in picks:
            start = time.perf_counter()
            fig = OverviewFigure.from_history(history, landscape=landscape, lang=args.lang, step=int(row)).figure_
            fig.canvas.draw()
            np.array(fig.canvas.buffer_rgba())
            per_frame.append(time.perf_counter() - start)
    baseline_draw = statistics.mean(per_frame) * len(rows)

    n = len(rows)
    print(f"article run, overview, {n} frames at 1400 x 1200, lang {args.lang}, median of {args.repeats}")
    print(f"baseline, a new figure per frame: {statistics.mean(per_frame) * 1000:.0f} ms a frame "
          f"(timed on {len(picks)} frames): {baseline_draw:.1f} s of drawing for {n}")
    ok = True
    for fmt, (total, draw, encode, size) in results.items():
        baseline = baseline_draw + encode  # the same encoder after the same frames
        ratio = baseline / total
        ok &= ratio >= 4
        print(f"{fmt}: animate {total:.1f} s = drawing {draw:.1f} s ({draw / n * 1000:.0f} ms a frame, "
              f"background included) + encoding {encode:.1f} s ({encode / n * 1000:.0f} ms a frame); "
              f"file {size / 1e6:.2f} MB")
        print(f"{fmt}: baseline {baseline:.1f} s (drawing {baseline_draw:.1f} s + the same encoding); "
              f"speed-up {ratio:.1f}x (target >= 4x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
