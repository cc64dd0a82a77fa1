// The perceptron's chain rule of a step, sample by sample, read from the autograd trace:
// z = w·x + b, ŷ = sigmoid(z), dL/dz = dL/dŷ · ŷ(1 − ŷ), and each sample's share of the gradient
// (x_i · dL/dz, dL/dz). The shares' sum row sits over the recorded gradient, then the update:
// −lr × gradient beside the recorded change. The table is built once; a step rewrites its cells.

import { decode } from "bpv/recording.js";
import { fmt } from "bpv/format.js";
import { attach } from "bpv/tooltip.js";
import { traceOf } from "bpv/trace.js";
import { h } from "bpv/dom.js";

const MAX_ROWS = 16;


/** The trace's nodes the table reads: x, z (into the sigmoid), ŷ, y and the per-sample loss. */
function findNodes(tr) {
  const x = tr.nodes.find((n) => n.kind === "input");
  const yhat = tr.nodes.find((n) => n.op === "sigmoid");
  const y = tr.nodes.find((n) => n.kind === "target");
  if (!x || !yhat || !y) return null;
  const z = tr.inputsOf(yhat)[0];
  const loss = tr.consumersOf(yhat).find((n) => n.per_sample && tr.inputsOf(n).includes(y));
  if (!z || !loss || !z._grad || !yhat._grad) return null;
  return { x, z, yhat, y, loss };
}

/** Per-sample loss and dl/dŷ as torch computes them (BCE: logs clamped at −100). */
function lossAndDerivative(name, p, target) {
  if (name === "mse") return [(p - target) ** 2, 2 * (p - target)];
  const logP = Math.max(Math.log(Math.max(p, 0)), -100), logQ = Math.max(Math.log(Math.max(1 - p, 0)), -100);
  return [-(target * logP + (1 - target) * logQ), (p - target) / Math.max(p * (1 - p), 1e-12)];
}

export function create(el, rec, ctx) {
  const t = ctx.t;
  const names = rec.names;
  const P = names.length, D = P - 1;
  const config = rec.run.config;
  const tr = traceOf(rec);
  const nodes = tr && findNodes(tr);
  const head = h("p", { class: "bpv-note bpv-chain-head bpv-yhat" });
  el.append(head);
  if (rec.run.model.kind !== "perceptron" || names[P - 1] !== "b") {
    head.textContent = t("omit_chain");
    return { update() {} };
  }
  const X = decode(rec.meta.data.X), Y = decode(rec.meta.data.y);
  const lossName = String(config.loss || "bce").toLowerCase() === "mse" ? "mse" : "bce";
  const l1 = Number(config.l1 || 0), l2 = Number(config.l2 || 0);
  const penalised = l1 !== 0 || l2 !== 0;

  const columns = [["sample", t("chain_sample")]];
  for (let i = 0; i < D; i++) columns.push([`x${i + 1}`, `x${i + 1}`]);
  columns.push(["z", "z"], ["y_hat", "ŷ"], ["y", "y"], ["loss", t("chain_loss")], ["dL_dyhat", "∂L/∂ŷ"],
    ["dyhat_dz", "∂ŷ/∂z"], ["dL_dz", "∂L/∂z"]);
  const shareStart = columns.length;
  for (const name of names) columns.push([`dL_d${name}`, `∂L/∂${name}`]);
  const gradCols = new Set(["dL_dyhat", "dL_dz", ...names.map((n) => `dL_d${n}`)]);

  const table = h("table", { class: "bpv-chain-table" });
  const thead = h("thead");
  const hr = h("tr");
  for (const [key, label] of columns) {
    const cls = (gradCols.has(key) ? "bpv-grad " : "") + (label.includes("ŷ") ? "bpv-yhat" : "");
    hr.append(h("th", { class: cls.trim(), "data-col": key }, label));
  }
  thead.append(hr);
  const tbody = h("tbody");
  table.append(thead, tbody);

  function makeRow(kind, label) {
    const tr_ = h("tr", { "data-row": kind, class: kind === "sample" ? "" : "bpv-chain-" + kind });
    const cells = [];
    columns.forEach(([key], c) => {
      const td = h("td", { "data-col": key, class: gradCols.has(key) ? "bpv-grad" : "" });
      if (c === 0 && label) { td.textContent = label; td.style.textAlign = "left"; }
      tr_.append(td);
      cells.push(td);
    });
    tbody.append(tr_);
    return { tr: tr_, cells };
  }

  const sampleRows = [];
  for (let r = 0; r < MAX_ROWS; r++) sampleRows.push(makeRow("sample", ""));
  const sumRow = makeRow("sum", t("chain_sum_row"));
  sumRow.tr.classList.add("bpv-sum");
  const penaltyRow = penalised ? makeRow("penalty", t("chain_penalty_row", { l1: fmt(l1), l2: fmt(l2) })) : null;
  const recordedRow = makeRow("recorded", t("chain_recorded_row"));
  const updateRow = makeRow("update", t("chain_update_row"));
  const changeRow = makeRow("change", t("chain_change_row"));
  for (const row of [sumRow, penaltyRow, recordedRow, updateRow, changeRow]) {
    if (!row) continue;
    row.cells[0].colSpan = shareStart;
    for (let c = 1; c < shareStart; c++) row.cells[c].remove();
    row.cells.splice(1, shareStart - 1, ...new Array(shareStart - 1).fill(null));
  }

  const left = h("p", { class: "bpv-note bpv-chain-left" });
  const check = h("p", { class: "bpv-note bpv-chain-check" });
  const updateNote = h("p", { class: "bpv-note bpv-chain-update" });
  el.append(table, left, check, updateNote);

  // what each column is, shown over its header
  const formula = { z: "z = w·x + b", y_hat: "ŷ = sigmoid(z)", y: t("chain_tip_y"),
    loss: t(lossName === "mse" ? "chain_tip_loss_mse" : "chain_tip_loss_bce"), dL_dyhat: "∂L/∂ŷ = (1/N) ∂ℓ/∂ŷ",
    dyhat_dz: "∂ŷ/∂z = ŷ(1 − ŷ)", dL_dz: "∂L/∂z = ∂L/∂ŷ · ∂ŷ/∂z", [`dL_d${names[D]}`]: `∂L/∂${names[D]} = ∂L/∂z` };
  for (let i = 0; i < D; i++) formula[`dL_d${names[i]}`] = `∂L/∂${names[i]} = x${i + 1} · ∂L/∂z`;
  attach(table, (e) => {
    const th = e.target.closest && e.target.closest("th[data-col]");
    if (th) return formula[th.dataset.col] || "";
    const td = e.target.closest && e.target.closest("td[data-value]");
    if (!td) return "";
    const col = columns.find(([key]) => key === td.dataset.col);
    return `${col ? col[1] : td.dataset.col} = ${td.dataset.value}`;
  });

  function put(td, v) {
    if (!td) return;
    td.textContent = fmt(v, 5);
    td.setAttribute("data-value", String(v));
  }

  /** Step k's per-sample columns: from the trace when k was traced, else from params(k) (float64). */
  function columnsOf(k) {
    let j = nodes ? tr.exact(k) : -1;
    // a node of many numbers travels as a summary (mean, min, max, norm): no per-sample rows then
    const summarised = j >= 0 && Object.values(nodes).some((n) => n.summary);
    if (summarised) j = -1;
    const batch = rec.batch(k);
    const N = batch ? batch.length : Y.length;
    const rows = batch || Array.from({ length: N }, (_, i) => i);
    const out = { N, rows, x: new Float64Array(N * D), z: new Float64Array(N), yhat: new Float64Array(N),
      y: new Float64Array(N), loss: new Float64Array(N), dL_dyhat: new Float64Array(N), dL_dz: new Float64Array(N),
      traced: j >= 0, summarised };
    if (j >= 0) {
      out.x.set(tr.value(nodes.x, j));
      out.z.set(tr.value(nodes.z, j));
      out.yhat.set(tr.value(nodes.yhat, j));
      out.y.set(tr.value(nodes.y, j));
      out.loss.set(tr.value(nodes.loss, j));
      out.dL_dyhat.set(tr.grad(nodes.yhat, j));
      out.dL_dz.set(tr.grad(nodes.z, j));
      return out;
    }
    const p = rec.params(k);
    for (let s = 0; s < N; s++) {
      const row = rows[s];
      let z = p[D];
      for (let i = 0; i < D; i++) { out.x[s * D + i] = X[row * D + i]; z += p[i] * X[row * D + i]; }
      const yhat = 1 / (1 + Math.exp(-z));
      const [l, dl] = lossAndDerivative(lossName, yhat, Y[row]);
      out.z[s] = z; out.yhat[s] = yhat; out.y[s] = Y[row]; out.loss[s] = l;
      out.dL_dyhat[s] = dl / N;
      out.dL_dz[s] = (dl / N) * yhat * (1 - yhat);
    }
    return out;
  }

  return {
    update(k) {
      const c = columnsOf(k);
      const { N } = c;
      const sums = new Float64Array(P);
      for (let s = 0; s < N; s++) {
        for (let i = 0; i < D; i++) sums[i] += c.x[s * D + i] * c.dL_dz[s];
        sums[D] += c.dL_dz[s];
      }
      for (let r = 0; r < MAX_ROWS; r++) {
        const row = sampleRows[r];
        if (r >= N) { row.tr.style.display = "none"; continue; }
        row.tr.style.display = "";
        const cells = row.cells;
        cells[0].textContent = String(c.rows[r]);
        cells[0].setAttribute("data-value", String(c.rows[r]));
        row.tr.setAttribute("data-sample", String(c.rows[r]));
        let col = 1;
        for (let i = 0; i < D; i++) put(cells[col++], c.x[r * D + i]);
        const yhat = c.yhat[r];
        put(cells[col++], c.z[r]); put(cells[col++], yhat); put(cells[col++], c.y[r]); put(cells[col++], c.loss[r]);
        put(cells[col++], c.dL_dyhat[r]); put(cells[col++], yhat * (1 - yhat)); put(cells[col++], c.dL_dz[r]);
        for (let i = 0; i < D; i++) put(cells[col++], c.x[r * D + i] * c.dL_dz[r]);
        put(cells[col++], c.dL_dz[r]);
      }
      const w = rec.params(k), grad = rec.grad(k), after = rec.after(k), lr = rec.lr(k);
      const total = Float64Array.from(sums);
      for (let i = 0; i < P; i++) {
        put(sumRow.cells[shareStart + i], sums[i]);
        if (penaltyRow) {
          const pen = i < D ? l1 * Math.sign(w[i]) + 2 * l2 * w[i] : 0;
          total[i] += pen;
          put(penaltyRow.cells[shareStart + i], pen);
        }
        put(recordedRow.cells[shareStart + i], grad[i]);
        put(updateRow.cells[shareStart + i], -lr * grad[i]);
        put(changeRow.cells[shareStart + i], after[i] - w[i]);
      }
      let diff = 0, scale = 0, change = 0;
      for (let i = 0; i < P; i++) {
        diff = Math.max(diff, Math.abs(total[i] - grad[i]));
        scale = Math.max(scale, Math.abs(grad[i]));
        change = Math.max(change, Math.abs(after[i] - w[i] + lr * grad[i]));
      }
      sumRow.cells[0].textContent = t("chain_sum_row", { n: N });
      const loss = rec.loss(k);
      head.textContent = t(c.traced ? "chain_head" : c.summarised ? "chain_head_summarised" : "chain_head_untraced", { step: rec.stepNumber(k), n: N,
        loss: fmt(loss, 5), lr: fmt(lr) });
      left.textContent = N > MAX_ROWS ? t("chain_left_out", { shown: MAX_ROWS, n: N, left: N - MAX_ROWS }) : "";
      left.style.display = N > MAX_ROWS ? "" : "none";
      const ok = diff <= 1e-5 * Math.max(1, scale);
      check.textContent = t(ok ? (penalised ? "chain_adds_up_penalty" : "chain_adds_up") : "chain_not_adding_up",
        { diff: fmt(diff, 2) });
      check.className = ok ? "bpv-note bpv-chain-check" : "bpv-warn bpv-chain-check";
      check.setAttribute("data-diff", String(diff));
      const plain = String(rec.run.optimizer).toLowerCase() === "sgd" && !config.momentum && !config.weight_decay;
      updateNote.textContent = plain ? t("chain_update_sgd", { lr: fmt(lr), diff: fmt(change, 2) })
        : t("chain_update_other", { optimizer: rec.run.optimizer });
    },
  };
}
