// The computation graph of a step, read from the real autograd trace (page data `trace`): one box
// per node at Python's layered layout, forward edges as arrows, the gradient's way back as dashed
// red arcs; each box shows its forward value (black) and dL/d(node) (red). The SVG is built once;
// a step change only rewrites the boxes' texts (and their data attributes, which tests read).

import { fmt } from "bpv/format.js";
import { attach } from "bpv/tooltip.js";
import { traceOf } from "bpv/trace.js";

const SVG = "http://www.w3.org/2000/svg";
// render/graph.py's KIND_STYLE: the same colours as the figures
const KIND_STYLE = {
  input: ["#e8f1fb", "#2c6fbb"], target: ["#f2f2f2", "#777777"], param: ["#fff4dc", "#c98a00"],
  const: ["#f2f2f2", "#777777"], op: ["#ffffff", "#333333"], layer: ["#eef7ee", "#2f7d32"],
};
const GRAD = "#c62828";
const LINE = 14;        // px per text line
const FONT = 10.5;      // px, the numbers in the boxes
let uid = 0;

function s(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

/**
 * `values` (a row of r x c numbers) as at most `lines` short lines, each narrower than `room`
 * (px, measured by `width(text)`): a number, the leading numbers of a vector or a matrix (rows
 * split by ";"), or a summary's mean and norm.
 */
export function compact(values, [r, c], summary, room, lines, width, t) {
  if (!values) return [""];
  if (summary) {
    for (const d of [4, 3, 2]) {
      const mean = t("graph_mean", { mean: fmt(values[0], d) }), norm = t("graph_norm", { norm: fmt(values[3], d) });
      const one = mean + ", " + norm;
      if (width(one) <= room) return [one];
      if (lines > 1 && width(mean) <= room && width(norm) <= room) return [mean, norm];
      if (d === 2) return lines > 1 ? [mean, norm] : [norm];
    }
  }
  if (values.length === 1) {
    for (const d of [5, 4, 3]) { const text = fmt(values[0], d); if (width(text) <= room || d === 3) return [text]; }
  }
  // as many leading numbers as fit: 4 significant digits unless 3 show more of them
  const matrix = r > 1 && c > 1;
  let best = null, bestCount = 0;
  for (const d of [4, 3, 2]) {
    const out = [];
    let line = "[", count = 0;
    for (let i = 0; i < values.length; i++) {
      const sep = i === 0 || line === "" ? "" : (matrix && i % c === 0 ? "; " : ", ");
      const last = i + 1 === values.length;
      const piece = fmt(values[i], d) + (last ? "]" : "");
      const tail = last ? "" : ", …]";
      if (width(line + sep + piece + tail) <= room) {
        line += sep + piece;
        count = i + 1;
        continue;
      }
      if (out.length + 1 < lines && line !== "" && line !== "[") {  // wrap after this line's separator
        out.push(line + sep.trimEnd());
        line = "";
        if (width(piece + tail) <= room) { line = piece; count = i + 1; continue; }
      }
      break;
    }
    if (count === values.length) return [...out, line];
    const closing = line === "" ? "…]" : line + ", …]";
    const result = [...out, closing];
    if (count > bestCount) { best = result; bestCount = count; }
    if (bestCount >= 2 * lines) break;
  }
  return best || ["[…]"];
}

/** Every number of a row, rows of the tensor on their own lines (tooltips). */
function full(values, [r, c], summary, t) {
  if (!values) return t("graph_no_grad");
  if (summary) {
    return t("graph_summary_full", { mean: fmt(values[0], 6), min: fmt(values[1], 6), max: fmt(values[2], 6),
      norm: fmt(values[3], 6), n: r * c });
  }
  const lines = [];
  const shown = Math.min(r, 32);
  for (let i = 0; i < shown; i++) {
    const row = [];
    for (let j = 0; j < c; j++) row.push(fmt(values[i * c + j], 7));
    lines.push("  " + row.join("  "));
  }
  if (r > shown) lines.push("  " + t("graph_more_rows", { n: r - shown }));
  return lines.join("\n");
}

function numbers(a) {
  if (!a) return "";
  const out = new Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = String(a[i]);
  return out.join(",");
}

export function create(el, rec, ctx) {
  const t = ctx.t;
  const tr = traceOf(rec);
  const note = document.createElement("p");
  note.className = "bpv-note bpv-graph-note";
  el.append(note);
  if (!tr) {
    note.textContent = t("omit_graph");
    return { update() {} };
  }
  const nearestNote = document.createElement("p");
  nearestNote.className = "bpv-warn bpv-graph-nearest";
  el.append(nearestNote);

  // -- layout: Python's (layer, row) positions, columns sized to the card ----------------------
  const cols = Math.max(...tr.nodes.map((n) => n.pos[0])) + 1;
  const rowTop = Math.max(...tr.nodes.map((n) => n.pos[1]));
  const rowBottom = Math.min(...tr.nodes.map((n) => n.pos[1]));
  const avail = Math.max(600, (el.clientWidth || 1300) - 8);
  const colW = Math.max(150, Math.min(215, avail / cols));
  const boxW = Math.round(colW - Math.max(30, 0.2 * colW));
  // two lines each for value and gradient when a box summarises (mean, norm), else one
  const lines = tr.nodes.some((n) => n.summary) ? 2 : 1;
  const boxH = (1 + 2 * lines) * LINE + 10;
  const rowH = boxH + 30;
  const margin = { x: 6, y: 8 };
  const W = Math.ceil(margin.x * 2 + cols * colW - (colW - boxW));
  const H = Math.ceil(margin.y * 2 + (rowTop - rowBottom) * rowH + boxH);
  const room = boxW - 12;
  const family = getComputedStyle(el).fontFamily || "sans-serif";
  const pen = document.createElement("canvas").getContext("2d");
  // text widths from cached per-character widths (no shaping per call: update(k) stays cheap)
  const charWidth = new Map();
  pen.font = `${FONT}px ${family}`;
  const width = (text) => {
    let w = 0;
    for (const ch of text) {
      let cw = charWidth.get(ch);
      if (cw === undefined) { cw = pen.measureText(ch).width; charWidth.set(ch, cw); }
      w += cw;
    }
    return w;
  };
  const box = {};
  for (const n of tr.nodes) {
    const x = margin.x + n.pos[0] * colW;
    const y = margin.y + (rowTop - n.pos[1]) * rowH;
    box[n.id] = { x, y, w: boxW, h: boxH, cx: x + boxW / 2, cy: y + boxH / 2 };
  }

  const svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "bpv-graph-svg", role: "img" });
  const id = `bpv-graph-${++uid}`;
  const defs = s("defs", {}, svg);
  const head = (name, colour) => {
    const m = s("marker", { id: `${id}-${name}`, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7",
      markerHeight: "7", orient: "auto-start-reverse" }, defs);
    s("path", { d: "M0,0 L10,5 L0,10 z", fill: colour }, m);
  };
  head("fwd", "#222");
  head("bwd", GRAD);

  // -- edges: forward arrows, backward arcs (drawn once; duplicates such as w * w drawn once) ----
  const edgeLayer = s("g", { class: "bpv-graph-edges" }, svg);
  const seen = new Set();
  for (const e of tr.edges) {
    const key = e.src + ">" + e.dst;
    if (seen.has(key) || !box[e.src] || !box[e.dst]) continue;
    seen.add(key);
    const a = box[e.src], b = box[e.dst];
    const sameCol = Math.abs(a.x - b.x) < 1;
    let x0, y0, x1, y1;
    if (sameCol) { x0 = a.cx; y0 = a.y + (a.y < b.y ? a.h : 0); x1 = b.cx; y1 = b.y + (a.y < b.y ? 0 : b.h); }
    else { x0 = a.x + a.w; y0 = a.cy - 6; x1 = b.x; y1 = b.cy - 6; }
    s("line", { x1: x0, y1: y0, x2: x1 - 1, y2: y1, stroke: "#222", "stroke-width": 1.3,
      "marker-end": `url(#${id}-fwd)`, class: "bpv-graph-fwd", "data-src": e.src, "data-dst": e.dst }, edgeLayer);
    if (e.label) {
      const lab = s("text", { x: (x0 + x1) / 2, y: (y0 + y1) / 2 - 4, "font-size": 11, "text-anchor": "middle",
        fill: "#444" }, edgeLayer);
      lab.textContent = e.label;
    }
    const src = tr.byId[e.src];
    if (!src._grad) continue;
    // the gradient flows back dst -> src: an arc bowed off the forward arrow; from a box on
    // another row (a parameter above its operation) it leaves the top and reaches the bottom
    const above = !sameCol && a.y + a.h < b.y, below = !sameCol && a.y > b.y + b.h;
    let bx0, by0, bx1, by1;
    if (sameCol) { bx0 = b.cx + 12; by0 = y1; bx1 = a.cx + 12; by1 = y0; }
    else if (above) { bx0 = b.x + 16; by0 = b.y; bx1 = a.x + a.w - 22; by1 = a.y + a.h; }
    else if (below) { bx0 = b.x + 16; by0 = b.y + b.h; bx1 = a.x + a.w - 22; by1 = a.y; }
    else { bx0 = b.x; by0 = b.cy + 9; bx1 = a.x + a.w; by1 = a.cy + 9; }
    const dx = bx1 - bx0, dy = by1 - by0, len = Math.hypot(dx, dy) || 1;
    const bow = Math.min(16, 0.18 * len);
    let mx = (bx0 + bx1) / 2 - (dy / len) * bow * (sameCol ? -1 : 1), my = (by0 + by1) / 2 + (Math.abs(dx) / len) * bow;
    if (above || below) { mx = bx1; my = by0; }  // leave the box level, arrive upright
    s("path", { d: `M${bx0},${by0} Q${mx},${my} ${bx1 + (sameCol || above || below ? 0 : 1)},${by1}`, fill: "none", stroke: GRAD,
      "stroke-width": 1.2, "stroke-dasharray": "4 3", opacity: 0.85, "marker-end": `url(#${id}-bwd)`,
      class: "bpv-graph-bwd", "data-src": e.dst, "data-dst": e.src }, edgeLayer);
  }

  // -- boxes: name, shape, value, gradient; the texts are kept to be rewritten per step ---------
  const boxLayer = s("g", { class: "bpv-graph-boxes" }, svg);
  const items = [];
  for (const n of tr.nodes) {
    const b = box[n.id];
    const [fill, stroke] = KIND_STYLE[n.kind] || KIND_STYLE.op;
    const g = s("g", { class: "bpv-graph-node", "data-node": n.id, "data-name": n.name, "data-kind": n.kind,
      "data-summary": n.summary ? "1" : "0" }, boxLayer);
    s("rect", { x: b.x, y: b.y, width: b.w, height: b.h, rx: 5, fill, stroke, "stroke-width": 1.3 }, g);
    const title = s("text", { x: b.x + 6, y: b.y + 4 + LINE - 3, "font-size": 11.5, "font-weight": ctx.lang === "ja" ? 400 : 600,
      fill: "#111" }, g);
    let name = n.name;
    while (name.length > 2 && width(name) * (11.5 / FONT) > room - 40) name = name.slice(0, -2) + "…";
    title.textContent = name;
    const shapeText = s("text", { x: b.x + b.w - 6, y: b.y + 4 + LINE - 3, "font-size": 9.5, "text-anchor": "end",
      fill: "#777" }, g);
    const value = [], grad = [];
    for (let i = 0; i < lines; i++) {
      value.push(s("text", { x: b.x + 6, y: b.y + 4 + (2 + i) * LINE - 2, "font-size": FONT, fill: "#111",
        class: "bpv-graph-value" }, g));
    }
    for (let i = 0; i < lines; i++) {
      grad.push(s("text", { x: b.x + 6, y: b.y + 4 + (2 + lines + i) * LINE - 2, "font-size": FONT,
        fill: n._grad ? GRAD : "#888", class: "bpv-graph-grad" }, g));
    }
    if (!n._grad) grad[0].textContent = t("graph_no_grad");
    const item = { n, g, shapeText, value, grad, shape: null };
    items.push(item);
    attach(g, () => hoverText(item));
  }

  const legend = document.createElement("div");
  legend.className = "bpv-legend";
  for (const [key, colour] of [["graph_legend_value", "#111"], ["graph_legend_grad", GRAD], ["graph_legend_fwd", "#222"],
    ["graph_legend_bwd", `repeating-linear-gradient(90deg, ${GRAD} 0 4px, transparent 4px 7px)`]]) {
    const span = document.createElement("span");
    span.style.setProperty("--c", colour);
    span.textContent = t(key);
    legend.append(span);
  }
  el.append(svg, legend);
  if (tr.collapsed) {
    const p = document.createElement("p");
    p.className = "bpv-note";
    p.textContent = t("graph_collapsed");
    el.append(p);
  }

  let shownJ = -1;

  function hoverText({ n }) {
    const j = shownJ;
    const shape = tr.shape(n, j);
    const head = `${n.name} (${n.op || n.kind}) · ${t("graph_shape", { r: shape[0], c: shape[1] })}`;
    const params = n.param_names && n.param_names.length ? "\n" + n.param_names.join(", ") : "";
    return `${head}${params}\n${t("graph_value")}\n${full(tr.value(n, j), shape, n.summary, t)}\n` +
      `${t("graph_grad", { name: n.name })}\n${full(tr.grad(n, j), shape, n.summary, t)}`;
  }

  function fillLines(texts, content) {
    for (let i = 0; i < texts.length; i++) {
      const text = content[i] || "";
      if (texts[i].textContent !== text) texts[i].textContent = text;
    }
  }

  function show(j) {
    shownJ = j;
    for (const item of items) {
      const { n } = item;
      const shape = tr.shape(n, j);
      const key = shape[0] + "×" + shape[1];
      if (key !== item.shape) {
        item.shape = key;
        item.shapeText.textContent = n.summary ? key : (shape[0] * shape[1] === 1 ? "" : key);
        item.g.setAttribute("data-shape", shape.join(","));
      }
      const v = tr.value(n, j);
      fillLines(item.value, compact(v, shape, n.summary, room, lines, width, t));
      item.g.setAttribute("data-value", numbers(v));
      if (n._grad) {
        const gr = tr.grad(n, j);
        fillLines(item.grad, compact(gr, shape, n.summary, room, lines, width, t));
        item.g.setAttribute("data-grad", numbers(gr));
      }
    }
  }

  return {
    update(k) {
      const j = tr.nearest(k);
      const step = tr.steps[j];
      const fields = { step: rec.stepNumber(step), n: tr.nSamples[j], loss: fmt(tr.loss[j], 5) };
      note.textContent = t(rec.run.full_batch ? "graph_head_full" : "graph_head_batch", fields);
      nearestNote.textContent = step === k ? "" : t("graph_nearest", { step: rec.stepNumber(step), traced: tr.count,
        steps: rec.length });
      nearestNote.style.display = step === k ? "none" : "";
      svg.setAttribute("data-step", String(step));
      if (j !== shownJ) show(j);
    },
  };
}
