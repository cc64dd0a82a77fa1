// Loss curves with a cursor at the current step: each step's loss (the batch it trained on),
// the whole training set's loss at every step (mini-batch runs), and per epoch the train/test
// loss and accuracy. The legend says which loss is which: a mini-batch loss is noisy by nature.

import { decode } from "bpv/recording.js";
import { fmt } from "bpv/format.js";
import { lineChart, rows } from "bpv/views/chartbase.js";

/** Row of the first step of each epoch 0..E (E+1 values; the last is the final row). */
function epochRows(rec, count) {
  const out = new Int32Array(count);
  let e = 0;
  for (let k = 0; k < rec.length && e < count; k++) {
    while (e < count && rec.epoch(k) >= e) out[e++] = k;
  }
  while (e < count) out[e++] = rec.length;
  return out;
}

export function create(el, rec, ctx) {
  const holder = document.createElement("div");
  const note = document.createElement("p");
  note.className = "bpv-note";
  const noteText = (r) => r.meta.recording ? ctx.t("rec_loss_note")  // a recording of the user's own loop
    : r.meta.run.full_batch ? ctx.t("loss_note_full") : ctx.t("loss_note_batch", { n: r.meta.run.config.batch_size });
  note.textContent = noteText(rec);
  el.append(holder, note);

  function make(r) {
    const full = r.meta.run.full_batch;
    const epochs = r.meta.epochs || {};
    const x = rows(r);
    const n = x.length;
    const stepLoss = new Array(n).fill(null);
    for (let k = 0; k < r.length; k++) stepLoss[k] = r.loss(k);
    const series = [{ label: ctx.t("axis_step") },
      { label: r.meta.recording ? ctx.t("rec_loss_step") : full ? ctx.t("loss_step_full") : ctx.t("loss_step_batch"), stroke: full ? "#222" : "rgba(120,120,120,.8)",
        width: full ? 1.5 : 1, value: (u, v) => fmt(v), scale: "loss" }];
    const data = [x, stepLoss];
    let minLoss = Infinity, maxLoss = -Infinity;
    const seen = (v) => { if (v > 0 && Number.isFinite(v)) { minLoss = Math.min(minLoss, v); maxLoss = Math.max(maxLoss, v); } };
    stepLoss.forEach(seen);
    if (!full) {
      const whole = new Array(n);
      for (let i = 0; i < n; i++) { whole[i] = r.wholeLoss(i); seen(whole[i]); }
      series.push({ label: ctx.t("loss_whole"), stroke: "#222", width: 2, value: (u, v) => fmt(v), scale: "loss" });
      data.push(whole);
    }
    // Regression runs record R² where classification runs record the accuracy.
    const r2 = r.meta.run.model.output === "identity";
    const perEpoch = [["test_loss", "loss_test", "#E69F00", "loss"], ["train_acc", r2 ? "r2_train" : "acc_train", "#0072B2", "acc"],
      ["test_acc", r2 ? "r2_test" : "acc_test", "#CC79A7", "acc"]];
    const coming = r.meta.epochs_to_come || [];  // (a live run's: curves without values yet)
    for (const [key, label, colour, scaleKey] of perEpoch) {
      if (!epochs[key] && !coming.includes(key)) continue;
      const values = epochs[key] ? decode(epochs[key]) : [];
      const at = epochRows(r, values.length);
      const col = new Array(n).fill(null);
      for (let e = 0; e < values.length; e++) col[Math.min(at[e], n - 1)] = values[e];
      if (scaleKey === "loss") col.forEach(seen);
      series.push({ label: ctx.t(label), stroke: colour, width: 1.5, spanGaps: true, scale: scaleKey,
        dash: scaleKey === "acc" ? [4, 3] : undefined, value: (u, v) => fmt(v) });
      data.push(col);
    }
    const log = minLoss > 0 && maxLoss / minLoss > 20;
    const hasAcc = series.some((s) => s.scale === "acc");
    const axes = [{ label: ctx.t("axis_step") },
      { scale: "loss", label: log ? ctx.t("axis_loss_log") : ctx.t("axis_loss"), size: 60,
        values: (u, vals) => vals.map((v) => fmt(v, 2)) }];
    if (hasAcc) axes.push({ scale: "acc", side: 1, label: ctx.t(r2 ? "axis_r2" : "axis_accuracy"), grid: { show: false }, size: 48 });
    return { data, opts: { series, axes, scales: { x: { time: false }, loss: { distr: log ? 3 : 1 },
      acc: { range: r2 ? (u, lo, hi) => [Math.min(0, lo), 1] : [0, 1] } } } };
  }

  const chart = lineChart(holder, rec, ctx, make, { height: 240 });
  return {
    update(k) { chart.place(k); },
    destroy() { chart.destroy(); },
    // another run of the same curves (a live page's next run): the chart is kept
    fits: (next) => chart.fits(next),
    rebind(next) {
      if (!chart.rebind(next)) return false;
      if (note.textContent !== noteText(next)) note.textContent = noteText(next);
      return true;
    },
  };
}
