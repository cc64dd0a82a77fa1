// The data with the decision boundary at the current step: the model's probability over the
// input plane (recomputed here from the step's parameters: a small forward pass), its 0.5
// contour, the training points (circles) and test points (squares). The perceptron's boundary
// is also drawn as its exact line w1 x1 + w2 x2 + b = 0. Networks get one thumbnail per hidden
// unit: that unit's output over the same plane.

import { decode } from "bpv/recording.js";
import { fmt } from "bpv/format.js";
import { makeCanvas, scale, axes, lut, isoline, font, palette, CLASS_COLOURS } from "bpv/canvas.js";
import { forward, gridPoints } from "bpv/model.js";
import * as tip from "bpv/tooltip.js";
import { afterFonts } from "bpv/views/surfacelib.js";

const N = 64;            // grid points per axis of the probability map
const FLAT = 1e-3;       // probabilities all within this of each other: no boundary to draw
const MAX_THUMBS = 32;
const THUMB = N;         // a hidden unit's map: its N x N grid values, one CSS pixel each

const UNIT_RANGE = { sigmoid: [0, 1], tanh: [-1, 1] };

// The probability map mixed with white, so that the class markers stand out on it; the hidden
// units' maps at full strength (their dots are black and white).
let MAP = null, UNIT_MAP = null;  // made at create(), once the page's palette is known
// The points, axes and dots of the last view made, for the next one of the same data, size, palette
// and fonts (a live page's next run): copied in one drawImage each instead of drawn again. A
// canvas's drawing is rasterised when its frame is committed: in a Chromium trace of a neuron
// added on moons, the canvases' rasterising there took 7.3 ms of the new run's first frame, 3.2
// with these copied.
let kept = { key: null, points: null, dots: null };
const level = (t) => 3 * Math.max(0, Math.min(255, Math.round(t * 255)));

export function create(el, rec, ctx) {
  MAP = lut("prob", 256, 0.45);
  UNIT_MAP = lut("prob", 256, 0);
  let model = rec.meta.run.model;
  const data = rec.meta.data;
  const X = decode(data.X), Y = decode(data.y);
  const Xt = data.X_test ? decode(data.X_test) : null, Yt = data.y_test ? decode(data.y_test) : null;
  const K = data.n_classes;
  const px = data.plane.x, py = data.plane.y;
  const W = 420, box = { x: 52, y: 10, w: 0, h: 0 };
  // Equal aspect: both axes are input features (often standardised to one unit).
  const spanX = px[1] - px[0], spanY = py[1] - py[0];
  const avail = { w: W - 62, h: 360 - 56 };
  const k0 = Math.min(avail.w / spanX, avail.h / spanY);
  const equal = Math.max(spanX, spanY) / Math.min(spanX, spanY) < 4;
  box.w = equal ? spanX * k0 : avail.w;
  box.h = equal ? spanY * k0 : avail.h;
  const H = Math.ceil(box.y + box.h + 46);  // the canvas ends under the x axis: no blank band
  // Three layers: the probability map (N x N pixels, scaled into the plot box by the browser, which
  // smooths it as drawImage did), the 0.5 contour, and the points with the axes, drawn once. A step
  // then puts N x N pixels and strokes one line: stamping the map and the points on one canvas
  // (two full-size drawImage calls) took 4-5 ms a step and twice that on a new run's fresh canvases.
  const stack = document.createElement("div");
  stack.className = "bpv-boundary-stack";
  stack.style.cssText = `position:relative;width:${W}px;height:${H}px;`;
  el.append(stack);
  const img = document.createElement("canvas");
  img.width = N; img.height = N;
  img.className = "bpv-boundary-map";
  img.style.cssText = `position:absolute;left:${box.x}px;top:${box.y}px;width:${box.w}px;height:${box.h}px;`;
  stack.append(img);
  const ig = img.getContext("2d");
  const pixels = ig.createImageData(N, N);
  const line = makeCanvas(stack, W, H, "bpv-boundary-line");
  const lg = line.g;
  const made = makeCanvas(stack, W, H, "bpv-boundary");
  const canvas = made.canvas;
  const g = made.g;
  for (const c of [line.canvas, canvas]) c.style.cssText += ";position:absolute;left:0;top:0;";
  const sx = scale(px[0], px[1], box.x, box.x + box.w);
  const sy = scale(py[0], py[1], box.y + box.h, box.y);
  const pts = gridPoints(px, py, N, N);
  const note = document.createElement("p");
  note.className = "bpv-note";
  const legend = document.createElement("div");
  legend.className = "bpv-legend";
  el.append(note, legend);
  legend.innerHTML = "";
  const regressionRun = model.output === "identity";
  const keys = (regressionRun ? [] : [[ctx.t("boundary_contour"), "#111"]]).concat([[ctx.t("boundary_train"), "#555"]]);
  for (const [text, c] of keys.concat(Xt ? [[ctx.t("boundary_test"), "#999"]] : [])) {
    const s = document.createElement("span"); s.style.setProperty("--c", c); s.textContent = text; legend.append(s);
  }
  // Hidden units: one tile each on one canvas (the unit's N x N map drawn into it every step)
  // under a canvas of the class dots and the captions, drawn once. A canvas and a caption of
  // their own each (17 for a moons mlp:9,8) cost ~11 ms of main-thread time on a new run's first
  // frame, measured in a Chromium trace.
  let grid = null, hidden = null;  // hidden: {key, els}: the units' title and tiles shown
  function makeHidden() {
    const isNet = model.kind !== "perceptron" && model.layers.length > 1;
    const units = isNet ? model.layers.slice(0, -1).reduce((s, L) => s + L.weight.length, 0) : 0;
    const heading = !isNet ? "" : ctx.t(regressionRun ? "hidden_title_value" : "hidden_title", { act: model.activation })
      + (units > MAX_THUMBS ? " " + ctx.t("hidden_more", { shown: MAX_THUMBS, total: units }) : "");
    const shown = [];
    if (isNet) {
      model.layers.slice(0, -1).forEach((L, li) => {
        for (let u = 0; u < L.weight.length && shown.length < MAX_THUMBS; u++) {
          shown.push({ layer: li, unit: u, label: ctx.t("hidden_unit", { layer: li + 1, unit: u + 1 }) });
        }
      });
    }
    const key = JSON.stringify([heading, shown]);
    if (hidden && hidden.key === key) return;  // (the same units: their tiles stay)
    if (hidden) for (const e of hidden.els) e.remove();
    grid = null;
    hidden = { key, els: [] };
    if (!isNet) return;
    const title = document.createElement("p");
    title.className = "bpv-note";
    title.textContent = heading;
    const thumbs = document.createElement("div");
    thumbs.className = "bpv-thumbs";
    el.append(title, thumbs);
    hidden.els.push(title, thumbs);
    grid = thumbGrid(thumbs, shown, ctx.width || W);
  }

  // Regression: the predicted value, coloured over the targets' range (no 0.5 contour).
  const regression = model.output === "identity";
  let yLo = Infinity, yHi = -Infinity;
  for (const v of Y) { if (v < yLo) yLo = v; if (v > yHi) yHi = v; }
  if (!(yHi > yLo)) { yLo -= 1; yHi += 1; }
  let probs = null, current = 0;
  const scratch = {};
  makeHidden();
  /** The tiles of `units` ({layer, unit, label}) on a canvas `width` wide at most: their maps'
   * canvas under one of the dots and captions. */
  function thumbGrid(parent, units, width) {
    const CAPTION = 14, GAP = 4;
    const measure = document.createElement("canvas").getContext("2d");
    measure.font = font(10);
    const cell = Math.max(THUMB, ...units.map((u) => Math.ceil(measure.measureText(u.label).width)));
    const cols = Math.max(1, Math.min(units.length, Math.floor((width + GAP) / (cell + GAP))));
    const rows = Math.ceil(units.length / cols);
    const w = cols * (cell + GAP) - GAP, gh = rows * (THUMB + CAPTION + GAP) - GAP;
    const stack = document.createElement("div");
    stack.style.cssText = `position:relative;width:${w}px;height:${gh}px;`;
    parent.append(stack);
    // The maps' canvas has one pixel per CSS pixel (a map's N x N values are put in its tile as they
    // are; a HiDPI screen scales them up as the main map's); the dots and captions are sharp.
    const maps = document.createElement("canvas");
    maps.width = w; maps.height = gh;
    maps.className = "bpv-thumbs-maps";
    stack.append(maps);
    const over = makeCanvas(stack, w, gh, "bpv-thumbs-over");
    maps.style.cssText = `position:absolute;left:0;top:0;width:${w}px;height:${gh}px;`;
    over.canvas.style.cssText += ";position:absolute;left:0;top:0;";
    over.canvas.setAttribute("role", "img");
    over.canvas.setAttribute("aria-label", units.map((u) => u.label).join(", "));
    const tiles = units.map((u, i) => ({ ...u, x: (i % cols) * (cell + GAP) + Math.round((cell - THUMB) / 2),
                                         y: Math.floor(i / cols) * (THUMB + CAPTION + GAP), mid: (i % cols) * (cell + GAP) + cell / 2 }));
    const g = maps.getContext("2d");
    const pixels = g.createImageData(N, N);
    function drawOver() {
      const og = over.g, dots = thumbDots();
      og.clearRect(0, 0, w, gh);
      og.font = font(10);
      og.fillStyle = "#666";
      og.textAlign = "center";
      og.textBaseline = "alphabetic";
      for (const t of tiles) {
        og.drawImage(dots, t.x, t.y, THUMB, THUMB);
        og.fillText(t.label, t.mid, t.y + THUMB + 11);
      }
    }
    drawOver();
    return { tiles, g, pixels, drawOver };
  }

  // Class points in black and white, so they never vanish into a unit's map: one layer for all.
  function thumbDots() {
    if (kept.key === keptKey() && kept.dots) return kept.dots;
    const dpr = window.devicePixelRatio || 1;
    const dots = document.createElement("canvas");
    dots.width = Math.round(THUMB * dpr); dots.height = Math.round(THUMB * dpr);
    const dg = dots.getContext("2d");
    dg.setTransform(dpr, 0, 0, dpr, 0, 0);
    const width = Y.shape ? Y.shape[1] : 1;
    for (let i = 0; i < Y.length / width; i++) {
      const x = ((X[2 * i] - px[0]) / (px[1] - px[0])) * THUMB, y = (1 - (X[2 * i + 1] - py[0]) / (py[1] - py[0])) * THUMB;
      const one = Y[i * width] > 0.5;
      dg.fillStyle = one ? "#000" : "#fff";
      dg.strokeStyle = one ? "#fff" : "#000";
      dg.lineWidth = 0.6;
      dg.beginPath(); dg.arc(x, y, 1.6, 0, 2 * Math.PI); dg.fill(); dg.stroke();
    }
    keep("dots", dots);
    return dots;
  }

  function classColour(v) { return CLASS_COLOURS[Math.round(v) % CLASS_COLOURS.length]; }

  // The data points and the axes do not move: drawn once on the top layer, when the view is made.
  function drawStatic() {
    g.clearRect(0, 0, W, H);
    if (kept.key === keptKey() && kept.points) {
      g.save(); g.setTransform(1, 0, 0, 1, 0, 0); g.drawImage(kept.points, 0, 0); g.restore();
      return;
    }
    g.save();
    g.beginPath(); g.rect(box.x - 5, box.y - 5, box.w + 10, box.h + 10); g.clip();
    drawPoints(X, Y, false);
    if (Xt) drawPoints(Xt, Yt, true);
    g.restore();
    axes(g, box, sx, sy, { xlabel: data.feature_names[0], ylabel: data.feature_names[1] });  // (over the points)
    keep("points", canvas);
  }

  function keptKey() {
    return JSON.stringify([data.X, data.y, data.X_test || null, data.y_test || null, px, py, data.feature_names,
      canvas.width, canvas.height, window.devicePixelRatio || 1, palette(), model.output, document.fonts ? document.fonts.status : ""]);
  }
  function keep(what, source) {
    const key = keptKey();
    if (kept.key !== key) kept = { key, points: null, dots: null };
    kept[what] = source;  // (a view's own canvas, drawn once: it stays as it is)
  }

  function drawPoints(Xa, Ya, square) {
    const n = Ya.length / Math.max(1, Ya.shape ? Ya.shape[1] : 1);
    const width = Ya.shape ? Ya.shape[1] : 1;
    for (let i = 0; i < n; i++) {
      const cls = width > 1 ? Ya.subarray(i * width, (i + 1) * width).indexOf(Math.max(...Ya.subarray(i * width, (i + 1) * width))) : Ya[i];
      const x = sx(Xa[2 * i]), y = sy(Xa[2 * i + 1]);
      if (regression) {
        const j = level((Ya[i] - yLo) / (yHi - yLo));
        g.fillStyle = `rgb(${UNIT_MAP[j]},${UNIT_MAP[j + 1]},${UNIT_MAP[j + 2]})`;
      } else g.fillStyle = classColour(cls);
      g.strokeStyle = "#fff";
      g.lineWidth = 1.5;
      g.beginPath();
      if (square) g.rect(x - 4, y - 4, 8, 8); else g.arc(x, y, 4.5, 0, 2 * Math.PI);
      g.fill(); g.stroke();
      g.strokeStyle = "#111"; g.lineWidth = 0.8; g.stroke();
    }
  }

  function update(k) {
    current = k;
    const p = rec.params(k);
    const res = forward(model, p, pts, N * N, scratch);
    probs = res;
    let lo = Infinity, hi = -Infinity;
    const d = pixels.data;
    for (let i = 0; i < N * N; i++) {
      if (res.K === 1) {
        const v = res.out[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        const j = level(regression ? (v - yLo) / (yHi - yLo) : v);
        d[4 * i] = MAP[j]; d[4 * i + 1] = MAP[j + 1]; d[4 * i + 2] = MAP[j + 2]; d[4 * i + 3] = 255;
        continue;
      }
      let c;
      {
        let best = 0, m = -1;
        for (let o = 0; o < res.K; o++) if (res.out[i * res.K + o] > m) { m = res.out[i * res.K + o]; best = o; }
        lo = Math.min(lo, m); hi = Math.max(hi, m);
        const base = CLASS_COLOURS[best % CLASS_COLOURS.length];
        const r = parseInt(base.slice(1, 3), 16), gg = parseInt(base.slice(3, 5), 16), b = parseInt(base.slice(5, 7), 16);
        const a = 0.25 + 0.6 * (m - 1 / res.K) / (1 - 1 / res.K);
        c = [255 + (r - 255) * a, 255 + (gg - 255) * a, 255 + (b - 255) * a].map(Math.round);
      }
      d[4 * i] = c[0]; d[4 * i + 1] = c[1]; d[4 * i + 2] = c[2]; d[4 * i + 3] = 255;
    }
    ig.putImageData(pixels, 0, 0);
    lg.clearRect(0, 0, W, H);
    const flat = hi - lo < FLAT * (regression ? yHi - yLo : 1);
    canvas.dataset.flat = String(flat);
    lg.save();
    lg.beginPath(); lg.rect(box.x, box.y, box.w, box.h); lg.clip();
    if (!flat && res.K === 1 && !regression) {
      lg.strokeStyle = "#111"; lg.lineWidth = 2;
      if (model.kind === "perceptron") {
        // the exact line w1 x1 + w2 x2 + b = 0
        const [w1, w2, b] = [p[0], p[1], p[2]];
        lg.beginPath();
        if (Math.abs(w2) > Math.abs(w1)) {
          lg.moveTo(sx(px[0]), sy(-(b + w1 * px[0]) / w2)); lg.lineTo(sx(px[1]), sy(-(b + w1 * px[1]) / w2));
        } else {
          lg.moveTo(sx(-(b + w2 * py[0]) / w1), sy(py[0])); lg.lineTo(sx(-(b + w2 * py[1]) / w1), sy(py[1]));
        }
        lg.stroke();
      } else {
        const cw = box.w / (N - 1), ch = box.h / (N - 1);
        lg.beginPath();
        for (const [x0, y0, x1, y1] of isoline(res.out, N, N, 0.5)) {
          lg.moveTo(box.x + x0 * cw, box.y + y0 * ch); lg.lineTo(box.x + x1 * cw, box.y + y1 * ch);
        }
        lg.stroke();
      }
    }
    lg.restore();
    note.textContent = regression ? ctx.t(flat ? "boundary_flat_value" : "boundary_note_value",
                                          { p: fmt((lo + hi) / 2, 3), lo: fmt(lo, 3), hi: fmt(hi, 3) })
      : flat ? ctx.t("boundary_flat", { p: fmt((lo + hi) / 2, 2) })
      : (res.K === 1 ? ctx.t("boundary_note", { lo: fmt(lo, 2), hi: fmt(hi, 2) }) : ctx.t("boundary_note_multi"));
    note.dataset.flat = String(flat);
    // hidden units: each map put in its tile
    if (grid) {
      const [a0, a1] = UNIT_RANGE[model.activation] || [0, null];
      const id = grid.pixels.data;
      for (const th of grid.tiles) {
        const hv = res.hidden[th.layer];
        let top = a1;
        if (top === null) { top = 0; for (let i = 0; i < N * N; i++) top = Math.max(top, hv.values[i * hv.units + th.unit]); if (!(top > 0)) top = 1; }
        for (let i = 0; i < N * N; i++) {
          const j = level((hv.values[i * hv.units + th.unit] - a0) / (top - a0));
          id[4 * i] = UNIT_MAP[j]; id[4 * i + 1] = UNIT_MAP[j + 1]; id[4 * i + 2] = UNIT_MAP[j + 2];
          id[4 * i + 3] = 255;
        }
        grid.g.putImageData(grid.pixels, th.x, th.y);
      }
    }
  }

  drawStatic();
  // The axes' texts and the captions drawn before the page's fonts were ready: drawn again once they are.
  afterFonts(() => { drawStatic(); if (grid) grid.drawOver(); });

  tip.attach(canvas, (e) => {
    const r = canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (x < box.x || x > box.x + box.w || y < box.y || y > box.y + box.h) return "";
    const u = sx.invert(x), v = sy.invert(y);
    const res = forward(model, rec.params(current), Float64Array.from([u, v]), 1);
    const p = res.K === 1 ? fmt(res.out[0], 3) : Array.from(res.out).map((q) => fmt(q, 2)).join(", ");
    return ctx.t(regression ? "tip_plane_value" : "tip_plane", { x: fmt(u, 3), y: fmt(v, 3), p });
  });

  // Another run on the same data (a live page's next run, another model or seed): the map, the
  // points and the axes stay; the hidden units' tiles are made again if the units are not the same.
  const dataKey = (r) => JSON.stringify([r.meta.data, r.meta.run.model.output, r.meta.palette || null]);
  const fits = (next) => dataKey(next) === dataKey(rec);
  function rebind(next) {
    if (!fits(next)) return false;
    rec = next;
    model = next.meta.run.model;
    makeHidden();
    return true;
  }

  return { update, fits, rebind };
}
