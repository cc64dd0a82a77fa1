// The update of a step, in numbers: per parameter its value before the step, the gradient,
// −lr × gradient (what plain SGD would add), the value after and the change the optimiser made.
// Many parameters: the 12 largest changes of the step, or all of them / one layer (a select).
// Rows are built when the selection changes; a step only rewrites their texts.

import { fmt } from "bpv/format.js";
import { attach } from "bpv/tooltip.js";
import { h } from "bpv/dom.js";

const TOP = 12;
const COLS = ["before", "grad", "sgd", "after", "change"];


/** The catalogue key of the note on how this run's optimiser turns the gradient into a change. */
export function optimiserNote(config) {
  const name = String(config.optimizer || "sgd").toLowerCase();
  const momentum = Number(config.momentum || 0), decay = Number(config.weight_decay || 0);
  if (name === "sgd" && !momentum && !decay) return "upd_opt_sgd";
  if (name === "sgd" && !momentum) return "upd_opt_decay";
  if (name === "sgd" || name === "momentum" || name === "nesterov") return "upd_opt_momentum";
  if (["adam", "adamw", "rmsprop", "adagrad"].includes(name)) return `upd_opt_${name}`;
  return "upd_opt_other";
}

export function create(el, rec, ctx) {
  const t = ctx.t;
  const head = h("p", { class: "bpv-note bpv-update-head" });
  el.append(head);
  const select = h("select", { class: "bpv-select bpv-update-select" });
  el.append(select);

  // What follows the run: its parameters, and the selections (the largest changes when there are
  // many, all, one layer each). A live page's next run takes this view (rebind): the table stays.
  let names, P, config, choices, choice, order, size;
  function bind(next) {
    rec = next;
    names = rec.names;
    P = names.length;
    config = rec.run.config;
    const layers = rec.run.model.layers || [];
    choices = [];
    if (P > TOP) choices.push({ key: "top", label: t("upd_top", { n: TOP }) });
    choices.push({ key: "all", label: t("upd_all", { n: P }), cols: Array.from({ length: P }, (_, j) => j) });
    if (P > TOP && layers.length > 1) {
      layers.forEach((L, l) => {
        const cols = [...L.weight.flat(), ...(L.bias || [])];
        choices.push({ key: `layer${l}`, label: t("upd_layer", { i: l + 1, n: cols.length }), cols });
      });
    }
    choice = choices.find((c) => choice && c.key === choice.key) || choices[0];
    const labels = choices.map((c) => c.label);
    if ([...select.options].map((o) => o.textContent).join("\n") !== labels.join("\n")) {
      select.textContent = "";
      for (const c of choices) select.append(h("option", { value: c.key }, c.label));
    }
    if (select.value !== choice.key) select.value = choice.key;
    select.hidden = choices.length < 2;
    order = new Int32Array(P);
    size = new Float64Array(P);
  }
  bind(rec);
  const note = h("p", { class: "bpv-note bpv-update-shown" });
  el.append(note);

  const table = h("table", { class: "bpv-update-table" });
  const hr = h("tr");
  hr.append(h("th", { "data-col": "name", style: "text-align:left" }, t("upd_col_name")));
  const labels = { before: t("upd_col_before"), grad: t("upd_col_grad"), sgd: t("upd_col_sgd"), after: t("upd_col_after"),
    change: t("upd_col_change") };
  for (const c of COLS) hr.append(h("th", { "data-col": c, class: c === "grad" ? "bpv-grad" : "" }, labels[c]));
  const thead = h("thead");
  thead.append(hr);
  const tbody = h("tbody");
  table.append(thead, tbody);
  const opt = h("p", { class: "bpv-note bpv-update-optimiser" });
  el.append(table, opt);

  let rows = [];  // {tr, name, cells: {before, ...}}
  function build(count) {
    tbody.textContent = "";
    rows = [];
    for (let r = 0; r < count; r++) {
      const tr = h("tr");
      const name = h("td", { "data-col": "name", style: "text-align:left" });
      tr.append(name);
      const cells = {};
      for (const c of COLS) {
        cells[c] = h("td", { "data-col": c, class: c === "grad" ? "bpv-grad" : "" });
        tr.append(cells[c]);
      }
      tbody.append(tr);
      rows.push({ tr, name, cells });
    }
  }

  attach(table, (e) => {
    const td = e.target.closest && e.target.closest("td[data-value]");
    if (!td) return "";
    const tr = td.parentElement;
    return `${tr.dataset.name} · ${labels[td.dataset.col]} = ${td.dataset.value}`;
  });

  let current = 0;
  select.addEventListener("change", () => {
    choice = choices.find((c) => c.key === select.value) || choices[0];
    draw(current);
  });

  function shown(k) {
    if (choice.cols) return choice.cols;
    const before = rec.params(k), after = rec.after(k);
    for (let j = 0; j < P; j++) { order[j] = j; size[j] = Math.abs(after[j] - before[j]); }
    const idx = Array.from(order).sort((a, b) => size[b] - size[a] || a - b);
    return idx.slice(0, TOP);
  }

  function put(td, v) {
    td.textContent = fmt(v, 5);
    td.setAttribute("data-value", String(v));
  }

  function draw(k) {
    current = k;
    const cols = shown(k);
    if (rows.length !== cols.length) build(cols.length);
    const before = rec.params(k), grad = rec.grad(k), after = rec.after(k), lr = rec.lr(k);
    let worst = 0;
    for (let j = 0; j < P; j++) worst = Math.max(worst, Math.abs(after[j] - before[j] + lr * grad[j]));
    for (let r = 0; r < cols.length; r++) {
      const j = cols[r], row = rows[r];
      if (row.j !== j) {
        row.j = j;
        row.name.textContent = names[j];
        row.tr.setAttribute("data-param", String(j));
        row.tr.setAttribute("data-name", names[j]);
      }
      put(row.cells.before, before[j]);
      put(row.cells.grad, grad[j]);
      put(row.cells.sgd, -lr * grad[j]);
      put(row.cells.after, after[j]);
      put(row.cells.change, after[j] - before[j]);
    }
    head.textContent = t("upd_head", { step: rec.stepNumber(k), lr: fmt(lr) });
    note.textContent = choice.key === "top" ? t("upd_top_note", { n: TOP, total: P }) : "";
    note.style.display = choice.key === "top" ? "" : "none";
    const key = optimiserNote(config);
    opt.textContent = t(key, { optimizer: rec.run.optimizer, diff: fmt(worst, 2),
      decay: fmt(Number(config.weight_decay || 0)), momentum: fmt(Number(config.momentum || 0.9)) });
    opt.setAttribute("data-optimiser", key);
  }

  return {
    update: draw,
    fits: () => true,
    rebind(next) {
      bind(next);
      for (const row of rows) row.j = -1;  // (the same column of another model may be another parameter)
      return true;
    },
  };
}
