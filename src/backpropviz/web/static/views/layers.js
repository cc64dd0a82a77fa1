// A recording's per-layer scalars over the steps (page data's `recording.layers`): the gradient
// norm and the update/weight ratio of each layer, log scales, the ratio's 1e-3 guide in red, a
// cursor at the page's step, and under them what the recording's analysis found.

import { decode } from "bpv/recording.js";
import { fmt } from "bpv/format.js";
import { CLASS_COLOURS } from "bpv/canvas.js";
import { lineChart, rows } from "bpv/views/chartbase.js";

const MAX_LEGEND = 12;

/** Column j of a (T, L) typed array as log10 chart values (null where not positive), one more for
 * row T. The charts draw log10 on a linear scale: uPlot's own log scale has no ticks below 1e-16,
 * and a vanishing gradient goes far lower. */
function column(a, j, L, n) {
  const out = new Array(n).fill(null);
  for (let k = 0; k < n - 1; k++) {
    const v = a[k * L + j];
    out[k] = v > 0 && Number.isFinite(v) ? Math.log10(v) : null;
  }
  return out;
}
const pow10 = (v) => (v === null || v === undefined ? "" : fmt(Math.pow(10, v)));

export function create(el, rec, ctx) {
  const sec = rec.meta.recording.layers;
  const names = sec.names.map((n) => n || "(model)");
  const L = names.length;
  const grad = decode(sec.grad_norm), ratio = decode(sec.update_ratio);
  const charts = [];
  for (const [arr, key, guide] of [[grad, "rec_grad_norm", false], [ratio, "rec_update_ratio", true]]) {
    const holder = document.createElement("div");
    holder.className = `bpv-rec-${key}`;
    el.append(holder);
    const make = () => {
      const x = rows(rec);
      const series = [{ label: ctx.t("axis_step") }];
      const data = [x];
      names.forEach((name, j) => {
        series.push({ label: name, stroke: CLASS_COLOURS[j % CLASS_COLOURS.length], width: 1.5, value: (u, v) => pow10(v) });
        data.push(column(arr, j, L, x.length));
      });
      if (guide) {
        series.push({ label: "1e-3", stroke: "#d62728", dash: [5, 4], width: 1.2, value: (u, v) => pow10(v) });
        data.push(new Array(x.length).fill(Math.log10(sec.guide)));
      }
      return { data, opts: { series, legend: { show: L <= MAX_LEGEND }, scales: { x: { time: false } },
        axes: [{ label: ctx.t("axis_step") }, { label: ctx.t(key), size: 64,
          incrs: [1, 2, 3, 5, 10, 20, 50], values: (u, vals) => vals.map((v) => `1e${Math.round(v)}`) }] } };
    };
    charts.push(lineChart(holder, rec, ctx, make, { height: 200 }));
  }
  const note = document.createElement("p");
  note.className = "bpv-note";
  note.textContent = ctx.t("rec_guide_note");
  el.append(note);
  const findings = document.createElement("ul");
  findings.className = "bpv-note bpv-rec-findings";
  for (const f of sec.findings) findings.append(Object.assign(document.createElement("li"), { textContent: f[ctx.lang] || f.en }));
  el.append(findings);
  return { update(k) { for (const c of charts) c.place(k); }, destroy() { for (const c of charts) c.destroy(); } };
}
