// The loss surface as a heat map with contours, the whole projected path, this step's point and
// this step's update as arrows: -lr x gradient and the update the optimiser made, projected onto
// the plane. The map, contours and path are drawn once; update(k) only redraws a small overlay
// (the point and the arrows) and the notes under the plot.
//
// The root element carries what it shows, for tests and for anyone reading the page:
//   data-step, data-point="x,y", data-sgd-arrow="dx,dy", data-update-arrow="dx,dy" (true
//   lengths, in the plane's coordinates), data-arrow-scale (the factor they are drawn at),
//   data-box (the plot's x, y, w, h in CSS pixels of the canvas) and data-window (x0, x1, y0, y1).

import { makeCanvas, scale, ticks } from "bpv/canvas.js";
import { fmt } from "bpv/format.js";
import { attach, hide } from "bpv/tooltip.js";
import { surfaceOf, project, finiteRange, lossScale, planeShape, arrowFactor, pct, fontOf, stepOnPlane } from "bpv/views/surfacelib.js";

const SGD_COLOUR = "#c62828";
const UPDATE_COLOUR = "#1565c0";
const POINT_COLOUR = "#e53935";

function h(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Set an element's text only when it changes (no DOM work on a step that leaves it alone). */
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function swatch(kind, c) {
  const s = h("i");
  s.style.cssText = "display:inline-block;vertical-align:middle;margin-right:4px;";
  if (kind === "line") s.style.cssText += `width:16px;height:0;border-top:2px solid ${c};`;
  else if (kind === "arrow") s.style.cssText += `width:14px;height:0;border-top:2px solid ${c};border-right:0;`;
  else if (kind === "dot") s.style.cssText += `width:9px;height:9px;border-radius:50%;background:${c};border:1px solid #fff;box-shadow:0 0 0 1px #333;`;
  else if (kind === "ring") s.style.cssText += `width:8px;height:8px;border-radius:50%;border:2px solid ${c};background:#fff;`;
  else if (kind === "square") s.style.cssText += `width:8px;height:8px;background:${c};border:1px solid #fff;box-shadow:0 0 0 1px #333;`;
  return s;
}

function legendItem(kind, c, text) {
  const span = h("span", "bpv-surface-key");
  span.style.cssText = "white-space:nowrap;";
  const label = h("b", "", text);
  label.style.fontWeight = "normal";
  span.append(swatch(kind, c), label);
  return { span, label };
}

/** An arrow from (x0, y0) to (x1, y1) in pixels with a white halo. */
function arrow(g, x0, y0, x1, y1, c, dashed = false) {
  const dx = x1 - x0, dy = y1 - y0, len = Math.hypot(dx, dy);
  if (!(len > 0.5)) return;
  const head = Math.min(8, 0.45 * len + 2), ux = dx / len, uy = dy / len;
  const bx = x1 - ux * head, by = y1 - uy * head;
  for (const [stroke, width] of [["rgba(255,255,255,0.9)", 4.5], [c, 2]]) {
    g.strokeStyle = stroke;
    g.lineWidth = width;
    g.setLineDash(dashed && stroke === c ? [5, 3] : []);
    g.beginPath(); g.moveTo(x0, y0); g.lineTo(bx, by); g.stroke();
  }
  g.setLineDash([]);
  g.fillStyle = c;
  g.strokeStyle = "rgba(255,255,255,0.9)";
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(x1, y1);
  g.lineTo(bx - uy * head * 0.5, by + ux * head * 0.5);
  g.lineTo(bx + uy * head * 0.5, by - ux * head * 0.5);
  g.closePath();
  g.fill(); g.stroke();
}

export function create(el, rec, ctx) {
  const { t } = ctx;
  const sep = ctx.lang === "ja" ? "" : " ";  // between sentences
  const surf = surfaceOf(rec);
  const root = h("div", "bpv-surface");
  el.append(root);
  if (!surf) {
    root.append(h("p", "bpv-note", t("surface_none")));
    return { update() {} };
  }
  const names = rec.names;
  const [xName, yName] = surf.axisNames;
  const { alpha, beta, loss, n, m, path } = surf;
  const rows = surf.rows;
  const fullBatch = !!rec.run.full_batch;

  // -- geometry -------------------------------------------------------------------------------
  const avail = Math.max(300, Math.min(620, el.clientWidth || 440));
  const margin = { left: 52, right: 80, top: 10, bottom: 42 };
  const x0 = alpha[0], x1 = alpha[n - 1], y0 = beta[0], y1 = beta[m - 1];
  const equal = surf.method === "params" || surf.method === "pca" || surf.method === "random";
  const shape = planeShape(x1 - x0, y1 - y0, avail - margin.left - margin.right, { equal, minRatio: 0.5 });
  const box = { x: margin.left, y: margin.top, w: shape.w, h: shape.h };
  const W = Math.ceil(margin.left + shape.w + margin.right), H = Math.ceil(margin.top + shape.h + margin.bottom);
  const sx = scale(x0, x1, box.x, box.x + box.w);
  const sy = scale(y0, y1, box.y + box.h, box.y);

  root.dataset.box = `${box.x},${box.y},${box.w},${box.h}`;  // the plot's pixels and the window it shows
  root.dataset.window = `${x0},${x1},${y0},${y1}`;
  const stack = h("div", "bpv-surface-stack");
  stack.style.cssText = `position:relative;width:${W}px;height:${H}px;`;
  root.append(stack);
  const base = makeCanvas(stack, W, H, "bpv-surface-base");
  const over = makeCanvas(stack, W, H, "bpv-surface-overlay");
  over.canvas.style.cssText += ";position:absolute;left:0;top:0;cursor:crosshair;";
  base.canvas.style.position = "absolute";
  over.canvas.setAttribute("role", "img");
  over.canvas.setAttribute("aria-label", t("view_surface"));

  // -- static layer: heat map, contours, path, axes, colour bar ---------------------------------
  const [lo, hi] = finiteRange(loss);
  const cs = lossScale(lo, hi);
  const g = base.g;
  {
    const img = document.createElement("canvas");
    img.width = n; img.height = m;
    const ig = img.getContext("2d");
    const data = ig.createImageData(n, m);
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < n; i++) {
        const [r, gg, b] = cs.rgb(loss[j * n + i]);
        const o = ((m - 1 - j) * n + i) * 4;  // row 0 of the grid is the lowest beta: the image's bottom
        data.data[o] = r; data.data[o + 1] = gg; data.data[o + 2] = b; data.data[o + 3] = 255;
      }
    }
    ig.putImageData(data, 0, 0);
    g.save();
    g.beginPath(); g.rect(box.x, box.y, box.w, box.h); g.clip();
    g.imageSmoothingEnabled = true;
    // pixel i's centre sits on alpha[i]: the image reaches half a cell beyond the box (clipped)
    const cw = box.w / (n - 1), ch = box.h / (m - 1);
    g.drawImage(img, box.x - cw / 2, box.y - ch / 2, box.w + cw, box.h + ch);
    g.lineWidth = 0.8;
    g.strokeStyle = "rgba(255,255,255,0.55)";
    for (const c of surf.contours) {
      g.beginPath();
      for (const line of c.lines) {
        for (let q = 0; q < line.length / 2; q++) {
          const px = sx(line[2 * q]), py = sy(line[2 * q + 1]);
          if (q === 0) g.moveTo(px, py); else g.lineTo(px, py);
        }
      }
      g.stroke();
    }
    // the path: a dark line with a light halo, start ring, end square
    g.lineJoin = "round";
    for (const [stroke, width] of [["rgba(255,255,255,0.85)", 3], ["#111", 1.2]]) {
      g.strokeStyle = stroke; g.lineWidth = width;
      g.beginPath();
      for (let r = 0; r < rows; r++) {
        const px = sx(path[2 * r]), py = sy(path[2 * r + 1]);
        if (r === 0) g.moveTo(px, py); else g.lineTo(px, py);
      }
      g.stroke();
    }
    const sxp = sx(path[0]), syp = sy(path[1]);
    g.fillStyle = "#fff"; g.strokeStyle = "#111"; g.lineWidth = 2;
    g.beginPath(); g.arc(sxp, syp, 5, 0, 2 * Math.PI); g.fill(); g.stroke();
    const ex = sx(path[2 * (rows - 1)]), ey = sy(path[2 * (rows - 1) + 1]);
    g.fillStyle = "#111"; g.strokeStyle = "#fff"; g.lineWidth = 1;
    g.fillRect(ex - 4.5, ey - 4.5, 9, 9); g.strokeRect(ex - 4.5, ey - 4.5, 9, 9);
    g.restore();
  }
  // axes (canvas.axes places the y label at a fixed offset; ours follows the tick labels)
  {
    g.save();
    g.strokeStyle = "#555"; g.fillStyle = "#333"; g.lineWidth = 1;
    g.strokeRect(box.x + 0.5, box.y + 0.5, box.w, box.h);
    g.font = fontOf(root, 11);
    g.textAlign = "center"; g.textBaseline = "top";
    const nx = Math.max(2, Math.min(6, Math.round(box.w / 70)));
    for (const v of ticks(x0, x1, nx)) {
      const px = sx(v);
      g.beginPath(); g.moveTo(px, box.y + box.h); g.lineTo(px, box.y + box.h + 4); g.stroke();
      g.fillText(fmt(v, 3), px, box.y + box.h + 6);
    }
    g.textAlign = "right"; g.textBaseline = "middle";
    const ny = Math.max(2, Math.min(6, Math.round(box.h / 45)));
    let widest = 0;
    for (const v of ticks(y0, y1, ny)) {
      const py = sy(v);
      g.beginPath(); g.moveTo(box.x, py); g.lineTo(box.x - 4, py); g.stroke();
      const label = fmt(v, 3);
      widest = Math.max(widest, g.measureText(label).width);
      g.fillText(label, box.x - 6, py);
    }
    g.font = fontOf(root, 12);
    g.textAlign = "center"; g.textBaseline = "bottom";
    g.fillText(xName, box.x + box.w / 2, box.y + box.h + 36);
    g.translate(Math.max(12, box.x - widest - 12), box.y + box.h / 2);
    g.rotate(-Math.PI / 2);
    g.fillText(yName, 0, 0);
    g.restore();
  }
  // colour bar with its own ticks (log decades when the range is wide)
  {
    const bx = box.x + box.w + 12, bw = 11, by0 = box.y, bh = Math.max(box.h, 60);
    const grad = g.createLinearGradient(0, by0 + bh, 0, by0);
    for (let q = 0; q <= 16; q++) {
      const v = cs.log ? Math.pow(10, Math.log10(cs.lo) + (q / 16) * (Math.log10(cs.hi) - Math.log10(cs.lo)))
                       : cs.lo + (q / 16) * (cs.hi - cs.lo);
      const [r, gg, b] = cs.rgb(v);
      grad.addColorStop(q / 16, `rgb(${r},${gg},${b})`);
    }
    g.fillStyle = grad;
    g.fillRect(bx, by0, bw, bh);
    g.strokeStyle = "#555"; g.lineWidth = 1;
    g.strokeRect(bx + 0.5, by0 + 0.5, bw, bh);
    g.fillStyle = "#333";
    g.font = fontOf(root, 10);
    g.textAlign = "left"; g.textBaseline = "middle";
    let lastY = Infinity, widest = 0;
    const tk = cs.ticks(Math.max(2, Math.min(6, Math.round(bh / 40))));
    for (const v of tk.slice().sort((a, b) => a - b)) {
      const py = by0 + bh - cs.t(v) * bh;
      if (Math.abs(py - lastY) < 12) continue;  // keep labels apart
      lastY = py;
      g.beginPath(); g.moveTo(bx + bw, py); g.lineTo(bx + bw + 3, py); g.stroke();
      const label = fmt(v, 2);
      widest = Math.max(widest, g.measureText(label).width);
      g.fillText(label, bx + bw + 5, py);
    }
    // the bar's title as text of the page (its font, its language), written vertically
    const title = h("span", "bpv-surface-bar-title", t(cs.log ? "surface3d_axis_loss_log" : "surface3d_axis_loss"));
    title.style.cssText = `position:absolute;left:${bx + bw + 8 + widest}px;top:${by0 + bh / 2}px;font-size:11px;`
      + `color:#333;white-space:nowrap;writing-mode:vertical-rl;line-height:1;`
      + `transform:translateY(-50%)${ctx.lang === "ja" ? "" : " rotate(180deg)"};pointer-events:none;`;
    stack.append(title);
  }

  // -- legend and notes -------------------------------------------------------------------------
  const legend = h("div", "bpv-legend bpv-surface-legend");
  const kPath = legendItem("line", "#111", t("surface_key_path"));
  const kStart = legendItem("ring", "#111", t("surface_key_start"));
  const kEnd = legendItem("square", "#111", t("surface_key_end"));
  const kPoint = legendItem("dot", POINT_COLOUR, t("surface_key_point"));
  const kSgd = legendItem("arrow", SGD_COLOUR, "");
  const kUpd = legendItem("arrow", UPDATE_COLOUR, "");
  kSgd.span.firstChild.style.borderTopStyle = "dashed";
  legend.append(kPath.span, kStart.span, kEnd.span, kPoint.span, kSgd.span, kUpd.span);
  root.append(legend);
  const scaleNote = h("p", "bpv-note", t(cs.log ? "surface_colour_log" : "surface_colour_linear"));
  const arrowsNote = h("p", "bpv-note bpv-surface-arrows");
  const fixedNote = h("p", "bpv-note bpv-surface-fixed");
  const lossNote = h("p", "bpv-note bpv-surface-losses");
  const distNote = h("p", "bpv-note bpv-surface-distance");
  const verdictNote = h("p", "bpv-note bpv-surface-verdict");
  const notes = [scaleNote, arrowsNote, fixedNote];
  if (surf.method !== "params") {
    const ev = surf.raw.explained_variance;
    const planeNote = h("p", "bpv-note bpv-surface-plane");
    planeNote.textContent = ev && ev.length >= 2
      ? t("surface_pca_plane", { x: xName, y: yName, pc1: pct(ev[0]), pc2: pct(ev[1]), rest: pct(Math.max(0, 1 - ev[0] - ev[1])) })
      : t("surface_other_plane", { x: xName, y: yName });
    notes.push(planeNote);
  }
  if (shape.stretch !== 1) {
    notes.push(h("p", "bpv-note", t("surface_stretched", { x: xName, y: yName, n: fmt(shape.stretch, 2) })));
  }
  notes.push(lossNote, distNote, verdictNote, h("p", "bpv-note", t("surface_hint")));
  root.append(...notes);

  // the verdict does not change with the step
  {
    const s = surf.raw;
    const v = s.verdict in { faithful: 1, mostly: 1, misleading: 1, construction: 1 } ? s.verdict : "misleading";
    verdictNote.dataset.verdict = v;
    // rows the verdict counted: every row of the run (a thinned page's path keeps fewer), or, on a
    // live page that grew since, the rows the surface covers
    verdictNote.textContent = t(`surface_verdict_${v}`, { off: s.rows_off, rows: rec.thinned ? rec.total + 1 : rows,
      rel: pct(s.relative_residual), gap: pct(s.loss_gap) });
    if (v === "misleading") verdictNote.classList.add("bpv-warn");
  }

  // what the plane holds fixed: names and their final values; this step's values come per step
  const fixedEntries = Object.entries(surf.raw.fixed || {});
  const fixedIdx = fixedEntries.map(([name]) => names.indexOf(name));
  const maxResidual = finiteRange(surf.residual)[1];

  // path in pixels, for hover and click
  const px = new Float32Array(rows), py = new Float32Array(rows);
  for (let r = 0; r < rows; r++) { px[r] = sx(path[2 * r]); py[r] = sy(path[2 * r + 1]); }
  function nearestRow(x, y) {
    let best = -1, bd = Infinity;
    for (let r = 0; r < rows; r++) {
      const d = (px[r] - x) ** 2 + (py[r] - y) ** 2;
      if (d < bd) { bd = d; best = r; }
    }
    return [best, Math.sqrt(bd)];
  }
  const stepOfRow = (r) => Math.min(r, rec.length - 1);

  attach(over.canvas, (e) => {
    const x = e.offsetX, y = e.offsetY;
    if (x < box.x || x > box.x + box.w || y < box.y || y > box.y + box.h) return "";
    const a = sx.invert(x), b = sy.invert(y);
    const i = Math.max(0, Math.min(n - 1, Math.round((a - x0) / ((x1 - x0) / (n - 1)))));
    const j = Math.max(0, Math.min(m - 1, Math.round((b - y0) / ((y1 - y0) / (m - 1)))));
    const [r, d] = nearestRow(x, y);
    const lines = [t("surface_tip_grid", { x: xName, y: yName, a: fmt(alpha[i], 3), b: fmt(beta[j], 3), loss: fmt(loss[j * n + i]) })];
    if (r >= 0) {
      lines.push(t(d < 12 ? "surface_tip_step_click" : "surface_tip_step", { step: rec.stepNumber(stepOfRow(r)),
        plane: fmt(surf.pathLoss[r]), whole: fmt(surf.wholeLoss[r]) }));
    }
    return lines.join("\n");
  });
  over.canvas.addEventListener("click", (e) => {
    const [r, d] = nearestRow(e.offsetX, e.offsetY);
    if (r >= 0 && d < 12) { hide(); ctx.go(stepOfRow(r)); }
  });

  // -- per step -----------------------------------------------------------------------------------
  const og = over.g;
  let drawn = null;  // the overlay's dirty rectangle
  const sgdText = (f) => t("surface_key_sgd", { scale: f === 1 ? "" : t("surface_arrow_scale", { n: fmt(f) }) });
  const updText = (f) => t("surface_key_update", { scale: f === 1 ? "" : t("surface_arrow_scale", { n: fmt(f) }) });

  function update(k) {
    const at = stepOnPlane(surf, rec, k);
    const p = [at.x, at.y];
    const params = rec.params(k), after = rec.after(k), grad = rec.grad(k), lr = rec.lr(k);
    const vs = project(surf, grad, null, -lr);
    const vu = project(surf, after, params);
    // do the two updates coincide (plain SGD)? compared in full parameter space, not projected
    let diff = 0, size = 0;
    for (let j = 0; j < params.length; j++) {
      const u = after[j] - params[j], s = -lr * grad[j];
      diff = Math.max(diff, Math.abs(u - s)); size = Math.max(size, Math.abs(u), Math.abs(s));
    }
    const same = diff <= 1e-3 * size + 1e-12;
    const cx = sx(p[0]), cy = sy(p[1]);
    const pix = (v) => [sx(p[0] + v[0]) - cx, sy(p[1] + v[1]) - cy];
    const ps = pix(vs), pu = pix(vu);
    const longest = Math.max(Math.hypot(ps[0], ps[1]), Math.hypot(pu[0], pu[1]));
    const f = arrowFactor(longest);

    if (drawn) og.clearRect(drawn[0], drawn[1], drawn[2], drawn[3]);
    else og.clearRect(0, 0, W, H);
    og.save();
    og.beginPath(); og.rect(box.x, box.y, box.w, box.h); og.clip();
    if (!same) arrow(og, cx, cy, cx + f * ps[0], cy + f * ps[1], SGD_COLOUR, true);
    arrow(og, cx, cy, cx + f * pu[0], cy + f * pu[1], same ? SGD_COLOUR : UPDATE_COLOUR);
    og.fillStyle = POINT_COLOUR; og.strokeStyle = "#fff"; og.lineWidth = 2;
    og.beginPath(); og.arc(cx, cy, 5.5, 0, 2 * Math.PI); og.fill(); og.stroke();
    og.restore();
    const xs = [cx, cx + f * ps[0], cx + f * pu[0]], ys = [cy, cy + f * ps[1], cy + f * pu[1]];
    const pad = 12;
    const l = Math.max(0, Math.min(...xs) - pad), tp = Math.max(0, Math.min(...ys) - pad);
    drawn = [l, tp, Math.min(W, Math.max(...xs) + pad) - l, Math.min(H, Math.max(...ys) + pad) - tp];

    root.dataset.step = String(k);
    root.dataset.point = `${p[0]},${p[1]}`;
    root.dataset.sgdArrow = `${vs[0]},${vs[1]}`;
    root.dataset.updateArrow = `${vu[0]},${vu[1]}`;
    root.dataset.arrowScale = String(f);
    root.dataset.arrowsCoincide = String(same);

    let arrowsText;
    if (same) {
      setText(kSgd.label, t("surface_key_same", { scale: f === 1 ? "" : t("surface_arrow_scale", { n: fmt(f) }) }));
      kUpd.span.style.display = "none";
      kSgd.span.firstChild.style.borderTopStyle = "solid";
      arrowsText = t(rec.run.optimizer === "sgd" ? "surface_arrows_same_sgd" : "surface_arrows_same");
    } else {
      setText(kSgd.label, sgdText(f));
      setText(kUpd.label, updText(f));
      kUpd.span.style.display = "";
      kSgd.span.firstChild.style.borderTopStyle = "dashed";
      arrowsText = t("surface_arrows_differ", { optimizer: rec.run.optimizer });
    }
    if (!(longest * f > 1)) arrowsText += sep + t("surface_arrows_tiny");
    else if (!same) {
      const ls = Math.hypot(ps[0], ps[1]) * f, lu = Math.hypot(pu[0], pu[1]) * f;
      if (Math.min(ls, lu) < 3) {
        const small = ls < lu ? "sgd" : "update";
        arrowsText += sep + t(`surface_${small}_invisible`, { ratio: fmt(Math.max(ls, lu) / Math.max(Math.min(ls, lu), 1e-300), 2) });
      }
    }
    setText(arrowsNote, arrowsText);

    if (fixedEntries.length === 0) setText(fixedNote, t("surface_fixed_none"));
    else if (fixedEntries.length === 1) {
      const [name, value] = fixedEntries[0];
      setText(fixedNote, t("surface_fixed_one", { name, value: fmt(value), now: fmt(params[fixedIdx[0]]) }));
    } else {
      let moved = 0;
      for (let q = 0; q < fixedEntries.length; q++) {
        const j = fixedIdx[q];
        if (j >= 0) moved = Math.max(moved, Math.abs(params[j] - fixedEntries[q][1]));
      }
      const shown = fixedEntries.slice(0, 3).map(([nm]) => nm).join(", ") + (fixedEntries.length > 3 ? ", …" : "");
      setText(fixedNote, t(moved === 0 ? "surface_fixed_many_same" : "surface_fixed_many",
        { count: fixedEntries.length, names: shown, moved: fmt(moved, 3) }));
    }
    let text = at.onPath ? t("surface_losses", { plane: fmt(at.planeLoss), whole: fmt(at.wholeLoss) })
                         : t("surface_beyond", { n: rows - 1, whole: fmt(at.wholeLoss) });
    if (!fullBatch) text += t("surface_batch_loss", { batch: fmt(rec.loss(k)) });
    setText(lossNote, text);
    setText(distNote, t("surface_distance", { d: fmt(at.residual, 3), max: fmt(maxResidual, 3) }));
  }

  return { update };
}
