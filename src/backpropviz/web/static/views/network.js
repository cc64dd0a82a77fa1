// The network diagram with a step's weights: units in columns (inputs, hidden layers, output),
// one line per weight (colour: its sign, blue positive, orange negative; width: |w| on one scale
// for the whole run, so widths compare across steps), each unit filled by its bias. Built once;
// a step only sets the lines' and units' attributes.

import { fmt } from "bpv/format.js";
import { attach } from "bpv/tooltip.js";
import { font } from "bpv/canvas.js";

const SVG = "http://www.w3.org/2000/svg";
const POS = [33, 102, 172];    // blue: positive
const NEG = [230, 97, 1];      // orange: negative
const MAX_WIDTH = 6;           // px of the largest |w| of the run
const MIN_WIDTH = 0.4;
// ŷ: the page's Japanese font has no precomposed ŷ and draws y + ̂ apart; Latin fonts first
const LATIN = '"DejaVu Sans", Arial, Helvetica, var(--bpv-font)';

function s(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const POS_CSS = rgb(POS), NEG_CSS = rgb(NEG), ZERO_CSS = "#999";

/** Blue (positive) through white to orange (negative), for t in [-1, 1]. */
export function biasColour(t) {
  if (!(t === t)) return "#ddd";
  const a = Math.min(1, Math.abs(t));
  const c = t >= 0 ? POS : NEG;
  return rgb(c.map((v) => Math.round(255 + (v - 255) * a)));
}

export function create(el, rec, ctx) {
  const t = ctx.t;
  const model = rec.run.model;
  const note = document.createElement("p");
  note.className = "bpv-note bpv-network-head";
  el.append(note);
  const layers = model.layers;
  if (!layers || !layers.length) {
    note.textContent = t("omit_network");
    return { update() {} };
  }
  const names = rec.names;
  // What the diagram is drawn for: another run with the same (a live page's next run from another
  // seed, rate or optimiser) takes it in place (rebind).
  const shapeOf = (r) => JSON.stringify([r.run.model.layers, r.names, r.meta.data.feature_names || [],
    r.meta.data.class_names || [], r.run.model.output, r.run.model.activation]);
  const shape = shapeOf(rec);
  const featureNames = rec.meta.data.feature_names || [];
  const classNames = rec.meta.data.class_names || [];

  // Fixed scales over every recorded row: the widest |w| and the largest |b| of the run (a
  // recording that grows live widens them as its rows come; the legend says the scale in use).
  const weightCols = [], biasCols = [];
  for (const L of layers) {
    for (const row of L.weight) weightCols.push(...row);
    if (L.bias) biasCols.push(...L.bias);
  }
  let wTop = 0, bTop = 0, scanned = 0;
  function scan() {
    const rows = rec.length + 1;
    if (scanned >= rows) return false;
    for (let r = scanned; r < rows; r++) {
      const p = rec.params(r);
      for (const j of weightCols) { const a = Math.abs(p[j]); if (a > wTop) wTop = a; }
      for (const j of biasCols) { const a = Math.abs(p[j]); if (a > bTop) bTop = a; }
    }
    scanned = rows;
    return true;
  }
  scan();
  const scaleOf = (top) => (top > 0 && Number.isFinite(top) ? top : 1);
  let wMax = scaleOf(wTop), bMax = scaleOf(bTop);

  // -- layout: one column per layer of units -------------------------------------------------
  const sizes = [layers[0].weight[0].length, ...layers.map((L) => L.weight.length)];
  const most = Math.max(...sizes);
  // (ctx.width: the card's width, measured once for every view: reading it here would force a layout)
  const avail = Math.max(380, Math.min(900, (ctx.width || el.clientWidth || 520) - 8));
  const unitGap = Math.max(7, Math.min(44, 360 / most));
  const radius = Math.max(3, Math.min(12, unitGap * 0.34));
  // unit labels: every one when there is room, else the first and the last of a column
  const labelEvery = unitGap >= 12;
  const inLabels = Array.from({ length: sizes[0] }, (_, i) => featureNames[i] || `x${i + 1}`);
  const K = sizes[sizes.length - 1];
  const outLabels = Array.from({ length: K }, (_, o) => (K === 1 ? "ŷ" : String(classNames[o] ?? o)));
  const pen = document.createElement("canvas").getContext("2d");
  pen.font = font(11);  // the page's font, read once (a computed style read here would force a style pass)
  const widest = (labels) => Math.max(0, ...labels.map((l) => pen.measureText(l).width));
  const leftW = Math.max(30, Math.min(160, widest(inLabels) + radius + 12));
  const rightW = Math.max(30, Math.min(160, widest(outLabels) + radius + 12));
  const captionW = 40;  // half a caption under the first and last column
  const labelW = Math.max(leftW, captionW);
  const colGap = (avail - labelW - Math.max(rightW, captionW)) / Math.max(1, sizes.length - 1);
  const top = 12, bottomPad = 44;
  const H = Math.ceil(top + (most - 1) * unitGap + 2 * radius + bottomPad);
  const W = Math.ceil(avail);
  const centre = top + radius + ((most - 1) * unitGap) / 2;
  const unitPos = sizes.map((n, c) => Array.from({ length: n }, (_, u) => ({
    x: labelW + c * colGap, y: centre + (u - (n - 1) / 2) * unitGap })));

  const svg = s("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "bpv-network-svg", role: "img" });
  const nEdges = layers.reduce((sum, L) => sum + L.weight.length * L.weight[0].length, 0);
  // a dense diagram: lines see-through, so that the crossings stay readable
  const edgeLayer = s("g", { class: "bpv-network-edges", "stroke-opacity": nEdges > 300 ? 0.45 : nEdges > 60 ? 0.8 : 1 }, svg);
  const unitLayer = s("g", { class: "bpv-network-units" }, svg);
  const edges = [];   // {el, j}
  const units = [];   // {el, j}
  layers.forEach((L, l) => {
    L.weight.forEach((row, o) => {
      row.forEach((j, i) => {
        const a = unitPos[l][i], b = unitPos[l + 1][o];
        const line = s("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, "stroke-linecap": "round", class: "bpv-network-edge",
          "data-param": String(j), "data-name": names[j] }, edgeLayer);
        edges.push({ el: line, j, a, b });
      });
    });
  });
  unitPos[0].forEach((p, i) => {
    s("circle", { cx: p.x, cy: p.y, r: radius, fill: "#f2f2f2", stroke: "#555", "stroke-width": 1 }, unitLayer);
    if (labelEvery || i === 0 || i === sizes[0] - 1) {
      const lab = s("text", { x: p.x - radius - 5, y: p.y + 4, "text-anchor": "end", "font-size": 11, fill: "#333" }, unitLayer);
      lab.textContent = inLabels[i];
    }
  });
  layers.forEach((L, l) => {
    const last = l === layers.length - 1;
    unitPos[l + 1].forEach((p, o) => {
      const j = L.bias ? L.bias[o] : -1;
      const c = s("circle", { cx: p.x, cy: p.y, r: radius, fill: "#fff", stroke: "#333", "stroke-width": 1.2,
        class: "bpv-network-unit", "data-param": String(j), "data-name": j >= 0 ? names[j] : "" }, unitLayer);
      if (j >= 0) units.push({ el: c, j });
      if (last && (labelEvery || o === 0 || o === K - 1)) {
        const lab = s("text", { x: p.x + radius + 5, y: p.y + 4, "font-size": 11, fill: "#333", style: `font-family: ${LATIN}` },
          unitLayer);
        lab.textContent = outLabels[o];
      }
    });
  });
  // column captions under the units: what the column is, then its size (and function)
  sizes.forEach((n, c) => {
    const cap = s("text", { x: labelW + c * colGap, y: H - 20, "text-anchor": "middle", "font-size": 11, fill: "#555",
      class: "bpv-network-caption" }, svg);
    const first = c === 0 ? t("net_inputs") : c === sizes.length - 1 ? t("net_output") : t("net_hidden", { i: c });
    const second = c === 0 ? String(n) : `${n} × ${c === sizes.length - 1 ? model.output : model.activation}`;
    s("tspan", { x: labelW + c * colGap }, cap).textContent = first;
    s("tspan", { x: labelW + c * colGap, dy: 13 }, cap).textContent = second;
  });
  el.append(svg);

  const legend = document.createElement("div");
  legend.className = "bpv-legend bpv-network-legend";
  const item = (colour, text) => {
    const span = document.createElement("span");
    span.style.setProperty("--c", colour);
    span.textContent = text;
    legend.append(span);
  };
  item(POS_CSS, t("net_positive"));
  item(NEG_CSS, t("net_negative"));
  item("#555", t("net_width", { px: MAX_WIDTH, max: fmt(wMax, 3) }));
  const widthKey = legend.lastChild;
  const biasKey = document.createElement("em");  // not a span: no line swatch before it
  biasKey.className = "bpv-network-bias-key";
  biasKey.style.fontStyle = "normal";
  const swatch = document.createElement("i");
  swatch.style.cssText = "display:inline-block;width:40px;height:9px;margin-right:4px;vertical-align:middle;" +
    `border:1px solid #999;background:linear-gradient(90deg, ${NEG_CSS}, #fff, ${POS_CSS})`;
  const biasText = document.createTextNode(t("net_bias", { max: fmt(bMax, 3) }));
  biasKey.append(swatch, biasText);
  legend.append(biasKey);
  el.append(legend);

  let current = 0;
  // The weight under the pointer: a unit's bias, else the line nearest the pointer within a few
  // pixels (thin lines are hard to hit; a second, wide and transparent line per weight for the
  // pointer doubled the diagram's elements, made again with every new model on a live page).
  const NEAR = 4;
  function nearest(e) {
    const r = svg.getBoundingClientRect();  // (the drawing's own units: the page may scale it)
    const x = ((e.clientX - r.left) * W) / (r.width || W), y = ((e.clientY - r.top) * H) / (r.height || H);
    let best = -1, bestD = NEAR * NEAR;
    for (const { a, b, j } of edges) {
      const dx = b.x - a.x, dy = b.y - a.y;
      const f = Math.max(0, Math.min(1, ((x - a.x) * dx + (y - a.y) * dy) / (dx * dx + dy * dy || 1)));
      const ex = a.x + f * dx - x, ey = a.y + f * dy - y;
      if (ex * ex + ey * ey <= bestD) { bestD = ex * ex + ey * ey; best = j; }
    }
    return best;
  }
  attach(svg, (e) => {
    const unit = e.target && e.target.tagName === "circle" ? e.target : null;  // (an input has no parameter)
    const j = unit ? Number(unit.getAttribute("data-param")) : nearest(e);
    if (!(j >= 0)) return "";
    const p = rec.params(current);
    return t("net_hover", { name: names[j], value: fmt(p[j], 6), step: rec.stepNumber(current) });
  });

  return {
    fits: (next) => shapeOf(next) === shape,
    rebind(next) {
      if (shapeOf(next) !== shape) return false;
      rec = next;
      wTop = bTop = scanned = 0;  // (the scales are the new run's: update() scans its rows)
      return true;
    },
    update(k) {
      current = k;
      if (scan()) {  // new rows since the last step shown
        wMax = scaleOf(wTop); bMax = scaleOf(bTop);
        widthKey.textContent = t("net_width", { px: MAX_WIDTH, max: fmt(wMax, 3) });
        biasText.textContent = t("net_bias", { max: fmt(bMax, 3) });
      }
      const p = rec.params(k);
      note.textContent = t("net_head", { step: rec.stepNumber(k) });
      for (let e = 0; e < edges.length; e++) {
        const { el: line, j } = edges[e];
        const w = p[j];
        line.setAttribute("stroke", w > 0 ? POS_CSS : w < 0 ? NEG_CSS : ZERO_CSS);
        line.setAttribute("stroke-width", (MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * Math.min(1, Math.abs(w) / wMax)).toFixed(2));
        line.setAttribute("data-value", String(w));
      }
      for (let u = 0; u < units.length; u++) {
        const { el: c, j } = units[u];
        c.setAttribute("fill", biasColour(p[j] / bMax));
        c.setAttribute("data-value", String(p[j]));
      }
    },
  };
}
