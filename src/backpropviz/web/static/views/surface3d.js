// The loss surface in 3D, rotated by dragging: an orthographic projection and the painter's
// algorithm over the grid's quads, coloured like the 2D map. The path is drawn twice, as the
// static figures draw it: the loss on the plane under the path (dashed red) and the loss
// training saw, the whole training set's loss at each step (solid black); where the two part,
// the plane does not show the ground training walked on.
//
// The surface, box and both curves are rendered once per rotation into the base canvas;
// update(k) only redraws the overlay (this step's two points and the gap between them).
// The root carries data-rotation="azimuth,elevation" (degrees), data-step and this step's two
// heights: data-plane-loss and data-whole-loss.

import { makeCanvas, ticks } from "bpv/canvas.js";
import { fmt } from "bpv/format.js";
import { attach, hide } from "bpv/tooltip.js";
import { surfaceOf, finiteRange, lossScale, planeShape, fontOf, afterFonts, stepOnPlane } from "bpv/views/surfacelib.js";

const PLANE_COLOUR = "#d32f2f";
const WHOLE_COLOUR = "#111";
const DEFAULT_VIEW = { az: -35, el: 32 };
const DEG = Math.PI / 180;
const LIGHT = [-0.35, -0.25, 0.9].map((v, i, a) => v / Math.hypot(...a));

function h(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Text with a white halo, readable over the surface and the box's lines. */
function haloText(g, text, x, y) {
  g.save();
  g.lineWidth = 3; g.lineJoin = "round"; g.strokeStyle = "rgba(255,255,255,0.9)";
  g.strokeText(text, x, y);
  g.restore();
  g.fillText(text, x, y);
}

function key(style, text) {
  const span = h("span", "bpv-surface3d-key");
  span.style.whiteSpace = "nowrap";
  const s = h("i");
  s.style.cssText = "display:inline-block;vertical-align:middle;margin-right:4px;" + style;
  span.append(s, document.createTextNode(text));
  return span;
}

export function create(el, rec, ctx) {
  const { t } = ctx;
  const surf = surfaceOf(rec);
  const root = h("div", "bpv-surface3d");
  el.append(root);
  if (!surf) {
    root.append(h("p", "bpv-note", t("surface_none")));
    return { update() {} };
  }
  const { alpha, beta, loss, n, m, path, rows } = surf;
  const [xName, yName] = surf.axisNames;

  // -- model space: the floor spans [-hx, hx] x [-hy, hy], the loss rises from 0 to ZH ----------
  const x0 = alpha[0], x1 = alpha[n - 1], y0 = beta[0], y1 = beta[m - 1];
  const fp = planeShape(x1 - x0, y1 - y0, 2, { equal: true, maxRatio: 1, minRatio: 1 / 3 });
  const hx = fp.w / 2, hy = fp.h / 2, ZH = 0.95;
  const [lo, hi] = finiteRange(loss, surf.pathLoss, surf.wholeLoss);
  const cs = lossScale(lo, hi);
  const [slo, shi] = finiteRange(loss);
  const colours = lossScale(slo, shi);  // the 2D map's colours: the grid's own range
  const X = (a) => -hx + (2 * hx * (a - x0)) / (x1 - x0);
  const Y = (b) => -hy + (2 * hy * (b - y0)) / (y1 - y0);
  const Z = (v) => (Number.isFinite(v) ? cs.t(v) * ZH : NaN);

  const vx = new Float32Array(n * m), vy = new Float32Array(n * m), vz = new Float32Array(n * m);
  for (let j = 0; j < m; j++) for (let i = 0; i < n; i++) {
    const q = j * n + i;
    vx[q] = X(alpha[i]); vy[q] = Y(beta[j]); vz[q] = Z(loss[q]);
  }
  const nq = (n - 1) * (m - 1);
  const quadFill = new Array(nq), quadOK = new Uint8Array(nq);
  for (let j = 0; j < m - 1; j++) for (let i = 0; i < n - 1; i++) {
    const q = j * (n - 1) + i, a = j * n + i, b = a + 1, c = a + n + 1, d = a + n;
    const vals = [loss[a], loss[b], loss[c], loss[d]];
    quadOK[q] = vals.every(Number.isFinite) ? 1 : 0;
    const [r, g, bb] = colours.rgb((vals[0] + vals[1] + vals[2] + vals[3]) / 4);
    // the quad's normal from its diagonals
    const ux = vx[c] - vx[a], uy = vy[c] - vy[a], uz = vz[c] - vz[a];
    const wx = vx[d] - vx[b], wy = vy[d] - vy[b], wz = vz[d] - vz[b];
    let nx = uy * wz - uz * wy, ny = uz * wx - ux * wz, nz = ux * wy - uy * wx;
    const len = Math.hypot(nx, ny, nz) || 1;
    if (nz < 0) { nx = -nx; ny = -ny; nz = -nz; }
    // shaded by a fixed light from above and one side (the same on every rotation), so each
    // quad's colour is computed once
    const shade = 0.78 + 0.22 * Math.max(0, (nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2]) / len);
    quadFill[q] = `rgb(${Math.round(r * shade)},${Math.round(g * shade)},${Math.round(bb * shade)})`;
  }
  const pz = new Float32Array(rows), wz = new Float32Array(rows), pxm = new Float32Array(rows), pym = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    pxm[r] = X(path[2 * r]); pym[r] = Y(path[2 * r + 1]);
    pz[r] = Z(surf.pathLoss[r]); wz[r] = Z(surf.wholeLoss[r]);
  }

  // -- the canvas ---------------------------------------------------------------------------------
  const W = Math.max(300, Math.min(620, el.clientWidth || 440));
  const H = Math.round(W * 0.82);
  const stack = h("div", "bpv-surface3d-stack");
  stack.style.cssText = `position:relative;width:${W}px;height:${H}px;touch-action:none;user-select:none;`;
  root.append(stack);
  const base = makeCanvas(stack, W, H, "bpv-surface3d-base");
  const over = makeCanvas(stack, W, H, "bpv-surface3d-overlay");
  base.canvas.style.position = "absolute";
  over.canvas.style.cssText += ";position:absolute;left:0;top:0;cursor:grab;";
  over.canvas.setAttribute("role", "img");
  over.canvas.setAttribute("aria-label", t("view_surface3d"));
  // one zoom for every rotation: the box's widest possible extent fits (labels outside it)
  const S = Math.min((W - 2 * 62) / (2 * Math.hypot(hx, hy)), (H - 2 * 34) / (2 * Math.hypot(hx, hy, ZH / 2)));
  const CX = W / 2, CY = H / 2 + 6;

  const view = { ...DEFAULT_VIEW };
  let ca, sa, ce, se;
  function setTrig() { ca = Math.cos(view.az * DEG); sa = Math.sin(view.az * DEG); ce = Math.cos(view.el * DEG); se = Math.sin(view.el * DEG); }
  // screen position and depth (larger = nearer the viewer)
  const sxOf = (x, y) => CX + S * (x * ca - y * sa);
  const upOf = (x, y, z) => (z - ZH / 2) * ce + (x * sa + y * ca) * se;
  const syOf = (x, y, z) => CY - S * upOf(x, y, z);
  const depthOf = (x, y, z) => (z - ZH / 2) * se - (x * sa + y * ca) * ce;

  const gsx = new Float32Array(n * m), gsy = new Float32Array(n * m), gd = new Float32Array(n * m);
  const psx = new Float32Array(rows), psy = new Float32Array(rows), wsx = new Float32Array(rows), wsy = new Float32Array(rows);
  const order = new Uint32Array(nq), qdepth = new Float32Array(nq);
  for (let q = 0; q < nq; q++) order[q] = q;

  function line(g, a, b) { g.beginPath(); g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.stroke(); }
  const P3 = (x, y, z) => [sxOf(x, y), syOf(x, y, z)];

  function renderBase() {
    setTrig();
    const g = base.g;
    g.clearRect(0, 0, W, H);
    for (let q = 0; q < n * m; q++) {
      gsx[q] = sxOf(vx[q], vy[q]);
      gsy[q] = syOf(vx[q], vy[q], vz[q]);
      gd[q] = depthOf(vx[q], vy[q], vz[q]);
    }
    for (let j = 0; j < m - 1; j++) for (let i = 0; i < n - 1; i++) {
      const q = j * (n - 1) + i, a = j * n + i;
      qdepth[q] = (gd[a] + gd[a + 1] + gd[a + n] + gd[a + n + 1]) / 4;
    }
    order.sort((p, q) => qdepth[p] - qdepth[q]);
    // the floor and the back walls' edges first, so the surface covers what it hides
    const corners = [[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]];
    const cd = corners.map(([x, y]) => depthOf(x, y, 0));
    const far = cd.indexOf(Math.min(...cd));
    g.strokeStyle = "#bbb"; g.lineWidth = 1;
    g.beginPath();
    corners.forEach(([x, y], c) => { const [u, v] = P3(x, y, 0); if (c === 0) g.moveTo(u, v); else g.lineTo(u, v); });
    g.closePath(); g.stroke();
    const [fxc, fyc] = corners[far];
    line(g, P3(fxc, fyc, 0), P3(fxc, fyc, ZH));

    g.lineJoin = "round";
    for (let o = 0; o < nq; o++) {
      const q = order[o];
      if (!quadOK[q]) continue;
      const j = Math.floor(q / (n - 1)), i = q - j * (n - 1), a = j * n + i;
      g.fillStyle = quadFill[q];
      // each corner pushed half a pixel out from the quad's centre: neighbours overlap, so no
      // seam shows between them (stroking every edge would cost four times as much)
      const v = [a, a + 1, a + n + 1, a + n];
      const cx = (gsx[v[0]] + gsx[v[1]] + gsx[v[2]] + gsx[v[3]]) / 4, cy = (gsy[v[0]] + gsy[v[1]] + gsy[v[2]] + gsy[v[3]]) / 4;
      g.beginPath();
      for (let c = 0; c < 4; c++) {
        const dx = gsx[v[c]] - cx, dy = gsy[v[c]] - cy, d = Math.hypot(dx, dy) || 1;
        const x = gsx[v[c]] + (0.5 * dx) / d, y = gsy[v[c]] + (0.5 * dy) / d;
        if (c === 0) g.moveTo(x, y); else g.lineTo(x, y);
      }
      g.closePath(); g.fill();
    }

    // the two curves over the surface
    for (let r = 0; r < rows; r++) {
      psx[r] = sxOf(pxm[r], pym[r]); psy[r] = syOf(pxm[r], pym[r], pz[r]);
      wsx[r] = psx[r]; wsy[r] = syOf(pxm[r], pym[r], wz[r]);
    }
    const curve = (xs, ys, colour, dash, width) => {
      for (const [stroke, w] of [["rgba(255,255,255,0.8)", width + 2], [colour, width]]) {
        g.strokeStyle = stroke; g.lineWidth = w; g.setLineDash(dash);
        g.beginPath();
        let on = false;
        for (let r = 0; r < rows; r++) {
          if (!Number.isFinite(ys[r])) { on = false; continue; }
          if (!on) g.moveTo(xs[r], ys[r]); else g.lineTo(xs[r], ys[r]);
          on = true;
        }
        g.stroke();
      }
      g.setLineDash([]);
    };
    curve(psx, psy, PLANE_COLOUR, [6, 4], 1.6);
    curve(wsx, wsy, WHOLE_COLOUR, [], 1.4);
    // start (ring) and end (square) of the training curve
    g.fillStyle = "#fff"; g.strokeStyle = WHOLE_COLOUR; g.lineWidth = 2;
    g.beginPath(); g.arc(wsx[0], wsy[0], 4.5, 0, 2 * Math.PI); g.fill(); g.stroke();
    g.fillStyle = WHOLE_COLOUR;
    g.fillRect(wsx[rows - 1] - 4, wsy[rows - 1] - 4, 8, 8);

    drawAxes(g, corners, cd);
    root.dataset.rotation = `${Math.round(view.az * 10) / 10},${Math.round(view.el * 10) / 10}`;
  }

  // tick labels on the floor's two front edges and on the leftmost vertical edge
  function drawAxes(g, corners, cd) {
    g.save();
    g.fillStyle = "#333"; g.strokeStyle = "#777"; g.lineWidth = 1;
    const centre = [CX, syOf(0, 0, 0)];
    const edgeLabels = (axis) => {
      // the front edge along `axis`: of its two parallels, the one nearer the viewer
      const cands = axis === "x" ? [[-hy], [hy]] : [[-hx], [hx]];
      const depth = cands.map(([c]) => (axis === "x" ? depthOf(0, c, 0) : depthOf(c, 0, 0)));
      const c = cands[depth[0] >= depth[1] ? 0 : 1][0];
      const at = (v) => (axis === "x" ? [X(v), c] : [c, Y(v)]);
      const [d0, d1] = axis === "x" ? [x0, x1] : [y0, y1];
      const a = P3(...at(d0), 0), b = P3(...at(d1), 0);
      const pixels = Math.hypot(b[0] - a[0], b[1] - a[1]);
      if (pixels < 50) return;  // the edge points at the viewer: its labels would pile up
      const count = Math.max(2, Math.min(4, Math.round(pixels / 70)));
      const mid = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      let ox = mid[0] - centre[0], oy = mid[1] - centre[1];
      const ol = Math.hypot(ox, oy) || 1;
      ox /= ol; oy /= ol;
      g.font = fontOf(root, 11);
      g.textAlign = "center"; g.textBaseline = "middle";
      let last = null;
      for (const v of ticks(d0, d1, count)) {
        const p = P3(...at(v), 0);
        if (last && Math.hypot(p[0] - last[0], p[1] - last[1]) < 34) continue;
        last = p;
        g.beginPath(); g.moveTo(p[0], p[1]); g.lineTo(p[0] + 4 * ox, p[1] + 4 * oy); g.stroke();
        haloText(g, fmt(v, 3), p[0] + 15 * ox, p[1] + 13 * oy);
      }
      g.font = fontOf(root, 12);
      haloText(g, axis === "x" ? xName : yName, mid[0] + 34 * ox, mid[1] + 30 * oy);
    };
    edgeLabels("x");
    edgeLabels("y");
    // the vertical axis at the leftmost corner
    const sxs = corners.map(([x, y]) => sxOf(x, y));
    const left = sxs.indexOf(Math.min(...sxs));
    const [lx, ly] = corners[left];
    const bottom = P3(lx, ly, 0), top = P3(lx, ly, ZH);
    line(g, bottom, top);
    if (Math.hypot(top[0] - bottom[0], top[1] - bottom[1]) < 50) { g.restore(); return; }  // seen from above
    g.font = fontOf(root, 11);
    g.textAlign = "right"; g.textBaseline = "middle";
    let lastY = Infinity;
    for (const v of cs.ticks(3)) {
      const p = P3(lx, ly, Z(v));
      if (Math.abs(p[1] - lastY) < 20) continue;
      lastY = p[1];
      g.beginPath(); g.moveTo(p[0], p[1]); g.lineTo(p[0] - 4, p[1]); g.stroke();
      haloText(g, fmt(v, 2), p[0] - 7, p[1]);
    }
    g.font = fontOf(root, 12);
    g.textAlign = "center"; g.textBaseline = "bottom";
    haloText(g, t(cs.log ? "surface3d_axis_loss_log" : "surface3d_axis_loss"), Math.max(46, Math.min(W - 46, top[0])), Math.max(14, top[1] - 8));
    g.restore();
  }

  // -- legend, notes ------------------------------------------------------------------------------
  const legend = h("div", "bpv-legend bpv-surface3d-legend");
  legend.append(
    key(`width:16px;height:0;border-top:2px solid ${WHOLE_COLOUR};`, t("surface3d_key_whole")),
    key(`width:16px;height:0;border-top:2px dashed ${PLANE_COLOUR};`, t("surface3d_key_plane")),
    key(`width:8px;height:8px;border-radius:50%;background:${PLANE_COLOUR};border:1px solid #fff;box-shadow:0 0 0 1px #333;`, t("surface3d_key_point")),
  );
  const controls = h("div", "bpv-surface3d-controls");
  controls.style.cssText = "display:flex;gap:8px;align-items:center;font-size:12px;color:var(--bpv-muted);";
  const reset = h("button", "bpv-surface3d-reset", t("surface3d_reset"));
  reset.type = "button";
  reset.style.cssText = "font-size:12px;white-space:nowrap;";
  reset.addEventListener("click", () => { Object.assign(view, DEFAULT_VIEW); renderBase(); drawPoint(); });
  controls.append(reset, h("span", "", t("surface3d_hint")));
  const stepNote = h("p", "bpv-note bpv-surface3d-step");
  const notes = [h("p", "bpv-note", t(cs.log ? "surface3d_height_log" : "surface3d_height_linear"))];
  if (fp.stretch !== 1) notes.push(h("p", "bpv-note", t("surface_stretched", { x: xName, y: yName, n: fmt(fp.stretch, 2) })));
  root.append(legend, controls, stepNote, ...notes);

  // -- per step: the overlay -----------------------------------------------------------------------
  let current = 0;
  const og = over.g;
  function drawPoint() {
    const at = stepOnPlane(surf, rec, current);
    og.clearRect(0, 0, W, H);
    const mx = X(at.x), my = Y(at.y);
    const x = sxOf(mx, my), yp = syOf(mx, my, Z(at.planeLoss)), yw = syOf(mx, my, Z(at.wholeLoss));
    if (Number.isFinite(yp) && Number.isFinite(yw)) {
      og.strokeStyle = "rgba(0,0,0,0.55)"; og.lineWidth = 1; og.setLineDash([2, 2]);
      og.beginPath(); og.moveTo(x, yp); og.lineTo(x, yw); og.stroke();
      og.setLineDash([]);
    }
    og.lineWidth = 2; og.strokeStyle = "#fff";
    if (Number.isFinite(yw)) { og.fillStyle = WHOLE_COLOUR; og.beginPath(); og.arc(x, yw, 5, 0, 2 * Math.PI); og.fill(); og.stroke(); }
    if (Number.isFinite(yp)) { og.fillStyle = PLANE_COLOUR; og.beginPath(); og.arc(x, yp, 5.5, 0, 2 * Math.PI); og.fill(); og.stroke(); }
    return at;
  }
  function update(k) {
    current = k;
    const at = drawPoint();
    root.dataset.step = String(k);
    root.dataset.planeLoss = String(at.planeLoss);
    root.dataset.wholeLoss = String(at.wholeLoss);
    const text = at.onPath ? t("surface3d_step", { plane: fmt(at.planeLoss), whole: fmt(at.wholeLoss) })
                           : t("surface_beyond", { n: rows - 1, whole: fmt(at.wholeLoss) });
    if (stepNote.textContent !== text) stepNote.textContent = text;
  }

  // -- rotation by pointer drag; hover values; click on the path jumps -----------------------------
  let drag = null, pending = false;
  over.canvas.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY, az: view.az, el: view.el, moved: 0 };
    over.canvas.setPointerCapture(e.pointerId);
    over.canvas.style.cursor = "grabbing";
    hide();
  });
  over.canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    drag.moved = Math.max(drag.moved, Math.hypot(dx, dy));
    view.az = drag.az - dx * 0.5;
    view.az = ((view.az + 180) % 360 + 360) % 360 - 180;
    view.el = Math.max(5, Math.min(89, drag.el + dy * 0.4));
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; renderBase(); drawPoint(); });
    }
  });
  const end = (e) => {
    if (!drag) return;
    const wasClick = drag.moved < 3;
    drag = null;
    over.canvas.style.cursor = "grab";
    if (wasClick) {
      const r = nearestRow(e.offsetX, e.offsetY);
      if (r[0] >= 0 && r[1] < 9) ctx.go(Math.min(r[0], rec.length - 1));
    }
  };
  over.canvas.addEventListener("pointerup", end);
  over.canvas.addEventListener("pointercancel", () => { drag = null; over.canvas.style.cursor = "grab"; });

  function nearestRow(x, y) {
    let best = -1, bd = Infinity;
    for (let r = 0; r < rows; r++) {
      for (const yy of [psy[r], wsy[r]]) {
        const d = (psx[r] - x) ** 2 + (yy - y) ** 2;
        if (d < bd) { bd = d; best = r; }
      }
    }
    return [best, Math.sqrt(bd)];
  }
  attach(over.canvas, (e) => {
    if (drag) return "";
    const x = e.offsetX, y = e.offsetY;
    const [r, d] = nearestRow(x, y);
    if (r >= 0 && d < 9) {
      return t("surface3d_tip_path", { step: rec.stepNumber(Math.min(r, rec.length - 1)),
        plane: fmt(surf.pathLoss[r]), whole: fmt(surf.wholeLoss[r]) });
    }
    // the nearest grid point in front
    let best = -1, bestDepth = -Infinity;
    for (let q = 0; q < n * m; q++) {
      if ((gsx[q] - x) ** 2 + (gsy[q] - y) ** 2 < 36 && gd[q] > bestDepth) { bestDepth = gd[q]; best = q; }
    }
    if (best < 0) return "";
    const j = Math.floor(best / n), i = best - j * n;
    return t("surface_tip_grid", { x: xName, y: yName, a: fmt(alpha[i], 3), b: fmt(beta[j], 3), loss: fmt(loss[best]) });
  });

  renderBase();
  afterFonts(() => { renderBase(); drawPoint(); });
  return { update };
}
