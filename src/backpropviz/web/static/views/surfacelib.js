// What the two surface views share: the surface's arrays decoded once per recording, the loss
// colour scale (log when the range is wide, as the Python contour levels are), the projection of
// a parameter-space vector onto the plane, and the plane's on-screen shape.

import { decode } from "bpv/recording.js";
import { colour, ticks } from "bpv/canvas.js";

const cache = new WeakMap();

/** The surface of `rec` with its arrays as typed arrays (decoded once, shared by both views; a live
 * page's newer surface replaces `rec.meta.surface`, and is decoded in its turn). */
export function surfaceOf(rec) {
  const s = rec.meta.surface;
  if (!s) return null;
  if (cache.has(s)) return cache.get(s);
  const alpha = Float64Array.from(decode(s.alpha));
  const beta = Float64Array.from(decode(s.beta));
  const loss = decode(s.loss);
  const directions = Float64Array.from(decode(s.directions));
  const origin = Float64Array.from(decode(s.origin));
  const P = origin.length;
  // The plane's 2x2 Gram system: coefficients c of v on the directions solve G c = D v.
  let g00 = 0, g01 = 0, g11 = 0;
  for (let j = 0; j < P; j++) {
    const a = directions[j], b = directions[P + j];
    g00 += a * a; g01 += a * b; g11 += b * b;
  }
  const det = g00 * g11 - g01 * g01;
  const out = {
    raw: s, method: s.method, axisNames: s.axis_names, alpha, beta, loss, n: alpha.length, m: beta.length,
    path: decode(s.path), pathLoss: decode(s.path_loss), residual: decode(s.path_residual),
    wholeLoss: decode(s.whole_loss), directions, origin, P,
    inv: [g11 / det, -g01 / det, g00 / det],
    contours: (s.contours || []).map((c) => ({ level: c.level, lines: c.lines.map(decode) })),
  };
  out.rows = out.path.length / 2;
  cache.set(s, out);
  return out;
}

/** Least-squares coefficients of the parameter-space vector `v` (length P) on the plane's two
 * directions (for the params plane: the two chosen components). `minus` is subtracted first. */
export function project(surf, v, minus = null, factor = 1) {
  const D = surf.directions, P = surf.P;
  let r0 = 0, r1 = 0;
  for (let j = 0; j < P; j++) {
    const x = factor * (minus ? v[j] - minus[j] : v[j]);
    r0 += D[j] * x; r1 += D[P + j] * x;
  }
  const [i00, i01, i11] = surf.inv;
  return [i00 * r0 + i01 * r1, i01 * r0 + i11 * r1];
}

/** Finite min and max of typed arrays. */
export function finiteRange(...arrays) {
  let lo = Infinity, hi = -Infinity;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
  }
  return [lo, hi];
}

/** The loss colour scale over [lo, hi]: log when lo > 0 and hi / lo > 30 (as pack._levels). */
export function lossScale(lo, hi) {
  if (!(hi > lo)) hi = lo + (Math.abs(lo) || 1);
  const log = lo > 0 && hi / lo > 30;
  const f = log ? (v) => Math.log10(Math.max(v, lo)) : (v) => v;
  const a = f(lo), b = f(hi);
  const t = (v) => (Number.isFinite(v) ? Math.min(1, Math.max(0, (f(v) - a) / (b - a))) : NaN);
  return { log, lo, hi, t, rgb: (v) => (Number.isFinite(v) ? colour("viridis", t(v)) : [200, 200, 200]),
           ticks: (count) => (log ? logTicks(lo, hi, count) : ticks(lo, hi, count)) };
}


function logTicks(lo, hi, count) {
  const d0 = Math.ceil(Math.log10(lo) - 1e-9), d1 = Math.floor(Math.log10(hi) + 1e-9);
  let out = [];
  const every = Math.max(1, Math.ceil((d1 - d0 + 1) / count));
  for (let d = d0; d <= d1; d += every) out.push(Math.pow(10, d));
  if (d1 - d0 + 1 < 3) {  // fewer than three decades: 2 and 5 between them too
    const more = [];
    for (let d = d0 - 1; d <= d1; d++) for (const m of [1, 2, 5]) {
      const v = m * Math.pow(10, d);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) more.push(v);
    }
    out = more;
    while (out.length > count + 1) out = out.filter((v, i) => i % 2 === 0);
  }
  return out;
}

/**
 * The on-screen size of a plane whose axes span `xr` and `yr` in a box `width` wide: equal
 * aspect (both axes share a unit), unless the picture would be thinner than a third of its
 * width or taller than `maxRatio` of it. Returns {w, h, stretch}: stretch > 1 when the y axis
 * is drawn that many times larger than the x axis (said in a note), < 1 when squeezed.
 */
export function planeShape(xr, yr, width, { equal = true, maxRatio = 1.0, minRatio = 1 / 3 } = {}) {
  const ratio = equal ? yr / xr : 0.8;
  if (!(ratio > 0) || !Number.isFinite(ratio)) return { w: width, h: width * 0.8, stretch: 1 };
  if (ratio > maxRatio) {
    const h = width * maxRatio, w = h / ratio;
    if (w >= width * minRatio) return { w, h, stretch: 1 };
    return { w: width * minRatio, h, stretch: (h / yr) / ((width * minRatio) / xr) };
  }
  if (ratio < minRatio) return { w: width, h: width * minRatio, stretch: (width * minRatio / yr) / (width / xr) };
  return { w: width, h: width * ratio, stretch: 1 };
}

/** A round factor (1, 2, 5 x 10^k) that makes `len` at least about `target` pixels. */
export function arrowFactor(len, target = 36, minimum = 14) {
  if (!(len > 0) || len >= minimum) return 1;
  const raw = target / len;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

/** A percentage with sensible digits ("0.4%", "12%"). */
export function pct(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "?";
  const p = 100 * v;
  if (p === 0) return "0%";
  return (p < 1 ? String(Number(p.toPrecision(1))) : p < 10 ? String(Number(p.toFixed(1))) : String(Math.round(p))) + "%";
}

/** A canvas font string in the page's font (a canvas cannot read CSS variables itself). */
export function fontOf(el, px) {
  const family = (el && getComputedStyle(el).fontFamily) || "sans-serif";
  return `${px}px ${family}`;
}

/** Call `fn` once the page's fonts (the embedded Japanese subset) are ready, if they were not. */
export function afterFonts(fn) {
  if (document.fonts && document.fonts.status !== "loaded") document.fonts.ready.then(fn);
}

/**
 * Step k on the plane: {x, y, planeLoss, wholeLoss, residual, onPath}. Rows the surface was
 * computed for come from its arrays; a step recorded after it (a recording that grew) is
 * projected here, with its distance from the plane, and no loss on the plane (never computed).
 */
export function stepOnPlane(surf, rec, k) {
  if (k < surf.rows) {
    return { x: surf.path[2 * k], y: surf.path[2 * k + 1], planeLoss: surf.pathLoss[k], wholeLoss: surf.wholeLoss[k],
             residual: surf.residual[k], onPath: true };
  }
  const params = rec.params(k), D = surf.directions, P = surf.P;
  const [x, y] = project(surf, params, surf.origin);
  let d2 = 0;
  for (let j = 0; j < P; j++) {
    const off = params[j] - surf.origin[j] - x * D[j] - y * D[P + j];
    d2 += off * off;
  }
  return { x, y, planeLoss: NaN, wholeLoss: rec.wholeLoss(k), residual: Math.sqrt(d2), onPath: false };
}
