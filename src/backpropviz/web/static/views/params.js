// Parameters over time, with a cursor at the current step; networks by layer (a select).

import { fmt } from "bpv/format.js";
import { CLASS_COLOURS } from "bpv/canvas.js";
import * as tip from "bpv/tooltip.js";
import { lineChart, rows } from "bpv/views/chartbase.js";

const MAX_LEGEND = 8;

function groups(rec, ctx) {
  const names = rec.names;
  const layers = rec.meta.run.model.layers;
  if (!layers || rec.meta.run.model.kind === "perceptron") return [{ label: "", cols: names.map((_, i) => i) }];
  return layers.map((L, i) => ({
    label: ctx.t("params_layer", { n: i + 1, shape: `${L.weight.length}×${L.weight[0].length}` }),
    cols: [...L.weight.flat(), ...(L.bias || [])],
  }));
}

export function create(el, rec, ctx) {
  let gs = groups(rec, ctx);
  let group = 0;
  const holder = document.createElement("div");
  let sel = null;
  if (gs.length > 1) {
    sel = document.createElement("select");
    sel.className = "bpv-select";
    gs.forEach((g, i) => sel.append(new Option(g.label, String(i))));
    sel.addEventListener("change", () => { group = Number(sel.value); build(); chart.place(last); });
    el.append(sel);
  }
  const note = document.createElement("p");
  note.className = "bpv-note";
  note.textContent = ctx.t("params_note");
  el.append(holder, note);
  let chart = null, last = 0;

  function make(r) {
    const cols = gs[group].cols;
    const series = [{ label: ctx.t("axis_step") }];
    const data = [rows(r)];
    cols.forEach((j, i) => {
      series.push({ label: r.names[j], stroke: CLASS_COLOURS[i % CLASS_COLOURS.length], width: 1.5,
        value: (u, v) => fmt(v) });
      data.push(r.column(j));
    });
    return { data, opts: { series, legend: { show: cols.length <= MAX_LEGEND },
      scales: { x: { time: false } },
      axes: [{ label: ctx.t("axis_step") }, { label: ctx.t("axis_param_value"), size: 56 }] } };
  }

  function build() {
    if (chart) chart.destroy();  // (its growth callback too: a chart per layer chosen would pile up)
    holder.textContent = "";
    chart = lineChart(holder, rec, ctx, make);
    const u = chart.u;
    const cols = gs[group].cols;
    if (cols.length > MAX_LEGEND) {
      // No legend for many series: the tooltip names the parameter nearest the pointer.
      u.over.addEventListener("mousemove", (e) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined) return tip.hide();
        const y = u.posToVal(u.cursor.top, "y");
        let best = 1, bestD = Infinity;
        for (let s = 1; s < u.data.length; s++) {
          const d = Math.abs(u.data[s][i] - y);
          if (d < bestD) { bestD = d; best = s; }
        }
        tip.show(ctx.t("tip_param", { step: fmt(u.data[0][i]), name: u.series[best].label, value: fmt(u.data[best][i]) }), e);
      });
      u.over.addEventListener("mouseleave", tip.hide);
    }
  }
  build();
  return {
    update(k) { last = k; chart.place(k); },
    destroy() { chart.destroy(); },
    // Another run with as many layers (a live page's next run: a neuron more, another seed) keeps
    // the layer menu: a <select> made again has Chromium's autofill parse the page's forms anew,
    // 16-40 ms of the browser's CPU in a new run's first 100 ms. Its chart is kept too, with series
    // added or removed where the layer shown has other parameters (chartbase.js reseries), or else
    // made again.
    fits: (next) => groups(next, ctx).length === gs.length,
    rebind(next) {
      const other = groups(next, ctx);
      if (other.length !== gs.length) return false;
      rec = next;
      gs = other;
      if (!chart.rebind(next, { series: true })) build();
      if (sel) other.forEach((g, i) => { if (sel.options[i].text !== g.label) sel.options[i].text = g.label; });
      return true;
    },
  };
}
