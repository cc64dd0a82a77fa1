// A recording's path on a PCA plane (page data's `recording.path`): the snapshots' (or, with few
// snapshots, every state's random projection's) top two principal directions, the states joined
// in order and coloured by step, the state at or before the page's step ringed.

import { decode } from "bpv/recording.js";
import { fmt } from "bpv/format.js";
import { axes, colour, font, makeCanvas, scale } from "bpv/canvas.js";
import { h } from "bpv/dom.js";
import { snapshotAt } from "bpv/views/dists.js";

export function create(el, rec, ctx) {
  const sec = rec.meta.recording.path;
  const steps = decode(sec.steps);
  const xy = decode(sec.coords);
  const n = steps.length;
  const W = Math.max(360, Math.min(el.clientWidth || 480, 560)), H = 360;
  const box = { x: 64, y: 12, w: W - 80, h: H - 64 };
  const xs = [], ys = [];
  for (let i = 0; i < n; i++) { xs.push(xy[2 * i]); ys.push(xy[2 * i + 1]); }
  const pad = (lo, hi) => { const d = (hi - lo) * 0.08 || 1e-9; return [lo - d, hi + d]; };
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const sx = scale(x0, x1, box.x, box.x + box.w), sy = scale(y0, y1, box.y + box.h, box.y);
  const { g } = makeCanvas(el, W, H, "bpv-rec-path");
  const pct = (v) => `${(100 * v).toFixed(0)}%`;
  const info = h("p", { class: "bpv-note bpv-rec-path-at" });
  el.append(info, h("p", { class: "bpv-note" }, ctx.t("rec_path_note", {
    source: ctx.t(`rec_source_${sec.source}`), pc1: pct(sec.explained[0]), pc2: pct(sec.explained[1]) })));
  const last = steps[n - 1] || 1;

  function draw(i) {
    g.clearRect(0, 0, W, H);
    axes(g, box, sx, sy, { xlabel: `PC1 (${pct(sec.explained[0])})`, ylabel: `PC2 (${pct(sec.explained[1])})` });
    g.strokeStyle = "#999";
    g.beginPath();
    for (let j = 0; j < n; j++) (j ? g.lineTo : g.moveTo).call(g, sx(xs[j]), sy(ys[j]));
    g.stroke();
    for (let j = 0; j < n; j++) {
      g.fillStyle = `rgb(${colour("viridis", steps[j] / last).join(",")})`;
      g.beginPath(); g.arc(sx(xs[j]), sy(ys[j]), j <= i ? 4 : 2.5, 0, 2 * Math.PI); g.fill();
    }
    g.strokeStyle = "#d62728"; g.lineWidth = 2.5;
    g.beginPath(); g.arc(sx(xs[i]), sy(ys[i]), 8, 0, 2 * Math.PI); g.stroke();
    g.lineWidth = 1;
    g.fillStyle = "#222"; g.font = font(11); g.textAlign = "left"; g.textBaseline = "bottom";
    g.fillText(String(steps[0]), sx(xs[0]) + 6, sy(ys[0]) - 4);
    g.fillText(String(steps[n - 1]), sx(xs[n - 1]) + 6, sy(ys[n - 1]) - 4);
  }

  let shown = -1;
  return {
    update(k) {
      const step = rec.stepNumber(k);
      const i = snapshotAt(steps, step);
      el.dataset.state = String(steps[i]);
      info.textContent = ctx.t("rec_step_of", { state: steps[i], x: fmt(xs[i]), y: fmt(ys[i]) });
      if (i !== shown) { shown = i; draw(i); }
    },
  };
}
