// Small drawing helpers shared by the canvas views: a crisp HiDPI canvas, linear scales, nice
// ticks, colour maps, and a plot box with axes.

import { fmt } from "bpv/format.js";

/** A canvas font string in the page's font (canvas text cannot read CSS variables). The family is
 * read once: reading a computed style after the page changed forces a style pass, and a live page
 * draws many labels a frame. */
let family = null;
export function font(size = 11, weight = "") {
  if (family === null) family = getComputedStyle(document.documentElement).getPropertyValue("--bpv-font").trim() || "sans-serif";
  return `${weight ? weight + " " : ""}${size}px ${family}`;
}

/** A canvas of `w` x `h` CSS pixels, sharp on HiDPI screens; returns {canvas, g, w, h}. */
export function makeCanvas(parent, w, h, cls = "") {
  const canvas = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  if (cls) canvas.className = cls;
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  parent.appendChild(canvas);
  return { canvas, g, w, h, dpr };
}

/** A linear map from [d0, d1] to [r0, r1], with .invert. */
export function scale(d0, d1, r0, r1) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const f = (v) => r0 + (v - d0) * k;
  f.invert = (p) => (k === 0 ? d0 : d0 + (p - r0) / k);
  f.domain = [d0, d1];
  return f;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

// Colour maps as a few anchors, interpolated: viridis (loss), cividis-like (colour-blind safe),
// and a blue-white-orange diverging map for probabilities (no red against green).
const MAPS = {
  viridis: [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
  cividis: [[0, 34, 78], [62, 77, 108], [124, 123, 120], [188, 175, 111], [254, 232, 56]],
  prob: [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]],
  diverging: [[33, 102, 172], [247, 247, 247], [178, 24, 43]],
};

// The page's palette (`--palette`): "cvd" draws every continuous map in cividis, readable with
// any colour-vision deficiency, as the static figures do. Set once by the app from the page data.
let currentPalette = "default";
export function usePalette(name) { currentPalette = name === "cvd" ? "cvd" : "default"; }
export function palette() { return currentPalette; }

/** The colour [r, g, b] of map `name` at t in [0, 1]. */
export function colour(name, t) {
  const a = (currentPalette === "cvd" ? MAPS.cividis : MAPS[name]) || MAPS.viridis;
  if (!(t >= 0)) t = 0;
  if (t > 1) t = 1;
  const x = t * (a.length - 1);
  const i = Math.min(a.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((c) => Math.round(a[i][c] + (a[i + 1][c] - a[i][c]) * f));
}

/** Map `name` as a lookup table of `n` RGB triples (optionally mixed with white by `pale`):
 * per-pixel loops index it instead of calling colour(), which allocates. */
export function lut(name, n = 256, pale = 0) {
  const out = new Uint8ClampedArray(3 * n);
  for (let i = 0; i < n; i++) {
    const c = colour(name, i / (n - 1));
    for (let j = 0; j < 3; j++) out[3 * i + j] = c[j] + (255 - c[j]) * pale;
  }
  return out;
}

export const CLASS_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999", "#882255"];

/** Draw axes around `box` ({x, y, w, h} in CSS pixels) for scales sx, sy. */
export function axes(g, box, sx, sy, { xlabel = "", ylabel = "", nx = 5, ny = 5 } = {}) {
  g.save();
  g.strokeStyle = "#555";
  g.fillStyle = "#333";
  g.lineWidth = 1;
  g.strokeRect(box.x + 0.5, box.y + 0.5, box.w, box.h);
  g.font = font(11);
  g.textAlign = "center";
  g.textBaseline = "top";
  for (const v of ticks(Math.min(...sx.domain), Math.max(...sx.domain), nx)) {
    const px = sx(v);
    g.beginPath(); g.moveTo(px, box.y + box.h); g.lineTo(px, box.y + box.h + 4); g.stroke();
    g.fillText(fmt(v, 3), px, box.y + box.h + 6);
  }
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const v of ticks(Math.min(...sy.domain), Math.max(...sy.domain), ny)) {
    const py = sy(v);
    g.beginPath(); g.moveTo(box.x, py); g.lineTo(box.x - 4, py); g.stroke();
    g.fillText(fmt(v, 3), box.x - 6, py);
  }
  g.textAlign = "center";
  g.textBaseline = "bottom";
  if (xlabel) g.fillText(xlabel, box.x + box.w / 2, box.y + box.h + 34);
  if (ylabel) {
    g.translate(box.x - 38, box.y + box.h / 2);
    g.rotate(-Math.PI / 2);
    g.fillText(ylabel, 0, 0);
  }
  g.restore();
}

/** Marching squares: segments [[x0, y0, x1, y1], ...] in grid units where `values` (nx*ny, row-major) cross `level`. */
export function isoline(values, nx, ny, level) {
  const segs = [];
  const at = (i, j) => values[j * nx + i] - level;
  const lerp = (a, b) => a / (a - b);
  for (let j = 0; j < ny - 1; j++) {
    for (let i = 0; i < nx - 1; i++) {
      const a = at(i, j), b = at(i + 1, j), c = at(i + 1, j + 1), d = at(i, j + 1);
      const pts = [];
      if ((a > 0) !== (b > 0)) pts.push([i + lerp(a, b), j]);
      if ((b > 0) !== (c > 0)) pts.push([i + 1, j + lerp(b, c)]);
      if ((c > 0) !== (d > 0)) pts.push([i + 1 - lerp(c, d), j + 1]);
      if ((d > 0) !== (a > 0)) pts.push([i, j + 1 - lerp(d, a)]);
      if (pts.length === 2) segs.push([pts[0][0], pts[0][1], pts[1][0], pts[1][1]]);
      else if (pts.length === 4) { segs.push([...pts[0], ...pts[1]]); segs.push([...pts[2], ...pts[3]]); }
    }
  }
  return segs;
}
