// What the uPlot charts share: the x axis over parameter rows 0..T, a cursor line at the current
// step that moves without redrawing the chart, click-to-jump, and growth with the recording.

import uPlot from "uplot";
import { font } from "bpv/canvas.js";

/** The x values: rows 0..T (row k holds the parameters before step k; row T after the last). */
export function rows(rec) {
  const n = rec.length + 1;
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = i < rec.length ? rec.stepNumber(i) : rec.total;
  return x;
}

/**
 * A uPlot chart in `el` with a cursor line at the page's step; clicking jumps the page there.
 * `make(rec)` returns {opts, data}; it is called again when the recording grows, and the chart is
 * made again if its series, axes or scales are no longer the same (a live run's first per-epoch
 * metrics add curves; a loss range past 20x turns the axis logarithmic). `fits(next)`: another
 * recording gives the same series, axes and scales; `rebind(next)` then shows it in place (a live
 * page's next run), else returns false and the chart is as it was; `rebind(next, {series: true})`
 * also takes series added or removed at the end (reseries). `chart.u`: the uPlot shown.
 */
export function lineChart(el, rec, ctx, make, { height = 220 } = {}) {
  // (ctx.width: the card's width, measured once for every view: no layout forced per chart)
  const width = Math.max(320, Math.min(ctx.width || el.clientWidth || 420, 640));
  let u = null, line = null, layout = null, current = 0, wanted = 0;
  // Away from the pointer, the legend shows the current step's values.
  const restLegend = (chart) => { if (chart.cursor.idx == null && chart.legend.show !== false) chart.setLegend({ idx: current }, false); };
  // How long a redraw for growth takes: setData, and uPlot's drawing (queued as a microtask).
  let growing = false, growMs = 0, grownAt = -Infinity, growTimer = null, dataMs = 0, drawStart = 0;

  function build({ opts, data }) {
    if (u) u.destroy();
    layout = shape(opts);
    // uPlot draws axis texts on its canvas: give it the page's font (Japanese glyphs included).
    opts.axes = (opts.axes || []).map((a) => ({ font: font(11), labelFont: font(12, "bold"), ...a }));
    const hooks = { ...(opts.hooks || {}) };
    hooks.setCursor = [...(hooks.setCursor || []), restLegend];
    hooks.ready = [...(hooks.ready || []), restLegend];
    hooks.drawClear = [...(hooks.drawClear || []), () => { drawStart = performance.now(); }];
    hooks.draw = [...(hooks.draw || []), () => {
      if (!growing) return;
      grownAt = performance.now();
      growMs = dataMs + (grownAt - drawStart);
      growing = false;
    }];
    // The cursor line is placed again after every draw: a chart made (or rebuilt) and placed in the
    // same task has no scales yet (uPlot commits them in a microtask), and its line would be lost.
    line = null;
    hooks.draw.push(() => { if (line) position(); });
    u = new uPlot({ width, height, cursor: { drag: { x: false, y: false } }, ...opts, hooks }, data, el);
    line = document.createElement("div");
    line.className = "bpv-cursor";
    line.style.cssText = "position:absolute;top:0;bottom:0;width:0;border-left:2px solid #d62728;pointer-events:none";
    u.over.appendChild(line);
    u.over.style.cursor = "pointer";
    u.over.addEventListener("click", () => {
      const i = u.cursor.idx;
      if (i !== null && i !== undefined) ctx.go(Math.min(i, rec.length - 1));
    });
  }
  build(make(rec));

  function position() {
    const left = u.valToPos(u.data[0][current], "x");
    if (Number.isFinite(left)) line.style.left = `${left}px`;
  }
  const place = (k) => {
    wanted = k;
    current = Math.min(k, u.data[0].length - 1);  // (a step newer than the chart's last redraw: its end)
    position();
    line.dataset.step = String(k);
    restLegend(u);
  };
  /** The chart of `made` ({opts, data} of the recording shown): its data, or a new uPlot if its
   * series, axes or scales changed. */
  function show(made) {
    if (shape(made.opts) === layout) u.setData(made.data);
    else build(made);
    place(wanted);
  }
  /** Series added or removed at the end of a chart with the same axes, scales and legend, whose
   * kept series are drawn as before (a live run's next network, a neuron more: its layer's
   * parameters), made so in place: a new uPlot's first draw measures its axes and forces a layout
   * of the page (uPlot's work in a neuron added's first frame, Chromium traces: 4-14 ms with the
   * chart made again, 4-7 with it kept). A label of a kept series changes in place only where no
   * legend shows it (the tooltip reads it). False: not so. */
  function reseries(opts) {
    const was = JSON.parse(layout), now = JSON.parse(shape(opts));
    const series = opts.series || [];
    const legend = now[3] !== false;
    const n = Math.min(was[0].length, now[0].length);
    const kept = (i) => JSON.stringify(was[0][i].slice(1)) === JSON.stringify(now[0][i].slice(1))
      && (!legend || was[0][i][0] === now[0][i][0]);
    if (JSON.stringify(was.slice(1)) !== JSON.stringify(now.slice(1)) || n < 2) return false;
    for (let i = 0; i < n; i++) if (!kept(i)) return false;
    for (let i = was[0].length - 1; i >= now[0].length; i--) u.delSeries(i);
    for (let i = was[0].length; i < now[0].length; i++) u.addSeries(series[i], i);
    for (let i = 0; i < n; i++) u.series[i].label = series[i].label;
    if (line) u.over.appendChild(line);  // (over the series' cursor points, as in a chart made anew)
    return true;
  }
  // A live run grows every frame, and a redraw draws every point of every series: a chart that
  // takes d ms to redraw does so at most every 4d ms, so that late in a long run the other views
  // keep their frame rate (bench/bench_serve.py); its last growth is always drawn.
  const grow = () => {
    growTimer = null;
    const t0 = performance.now();
    show(make(rec));
    dataMs = performance.now() - t0;
    growing = true;
  };
  const grown = () => {
    const wait = grownAt + 4 * growMs - performance.now();
    if (wait <= 0 && growTimer === null) grow();
    else if (growTimer === null) growTimer = setTimeout(grow, Math.max(wait, 0));
  };
  let stopGrowing = rec.onGrow(grown);
  // A chart that is rebuilt (another layer chosen, the viewer's views rebuilt, a new live run)
  // stops following the recording: its growth callback and a pending redraw go with it.
  const destroy = () => {
    stopGrowing();
    clearTimeout(growTimer);
    growTimer = null;
    u.destroy();
  };
  // (a new uPlot costs a canvas, its axes' DOM and a forced layout in its first commit: on a new
  // live run of the same shape, the chart is kept and given the run's data)
  const fits = (next) => shape(make(next).opts) === layout;
  const rebind = (next, { series = false } = {}) => {
    const made = make(next);
    if (shape(made.opts) !== layout && !(series && reseries(made.opts))) return false;
    layout = shape(made.opts);
    stopGrowing();
    clearTimeout(growTimer);
    growTimer = null;
    rec = next;
    stopGrowing = rec.onGrow(grown);
    wanted = 0;
    show(made);
    return true;
  };
  return { get u() { return u; }, get line() { return line; }, place, destroy, fits, rebind };
}

/** What a chart's options fix when it is made: its series, axes and scales (not their data). */
function shape(opts) {
  return JSON.stringify([(opts.series || []).map((s) => [s.label, s.scale, s.stroke, s.width, s.dash, s.spanGaps]),
    (opts.axes || []).map((a) => [a.label, a.scale, a.side, a.size]),
    Object.entries(opts.scales || {}).map(([k, v]) => [k, v.distr, v.time, Array.isArray(v.range) ? v.range : typeof v.range]),
    opts.legend ? opts.legend.show : true]);
}
