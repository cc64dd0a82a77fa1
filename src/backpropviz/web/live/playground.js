// The live playground: controls beside the viewer of `backpropviz html`, fed step by step by the
// server, which runs the project's one training loop (web/server.py).
//
// One state object S; every control changes it and sends one command, in order (a queue), so
// that a burst of clicks is answered in the order made. Settings live in the URL's query string
// (the hash stays the viewer's: step, views, lang), written and read from one table, FIELDS.
// Steps come as server-sent events and are appended to the Recording; the viewer follows the
// newest step unless the scrubber was moved back.
//
// The learning rate applies now: changed while a run trains, the server applies it from the next
// step and keeps it in the run's lr_changes ([[step, lr], ...]), which the URL and config() carry,
// so the link and `run --config` give the same run. Every other setting starts a new run; a new
// run (after the page's first) starts with the learning rate shown and no changes.
//
// Texts come from the catalogue (choices.labels: page_live_* and the viewer's), in the viewer's
// language (#lang=ja); every element holding one is registered once and retranslated in place.

import { Recording, decode } from "bpv/recording.js";
import { mount } from "bpv/app.js";
import { h } from "bpv/dom.js";
import { fill, fmt } from "bpv/format.js";
import { readHash, writeHash } from "bpv/state.js";
import { DATA_FIELDS, dataPanel } from "bpv-live/datapanel.js";
import { liveViews } from "bpv-live/liveviews.js";
import { exportPanel } from "bpv-live/exportpanel.js";

const isPerceptron = (s) => !/^mlp:/i.test(String(s.model));
const scheduleIs = (name) => (s) => String(s.schedule).toLowerCase() === name;

/** The settings of a run that the page offers, as RunConfig fields (what `run --config` reads).
 * group: where its control sits ("now": applies to the running training); hyper: shown when the
 * chosen optimiser takes it; when: shown only then; toy: shown for the generated (toy) data sets
 * only, the others have rows of their own; custom: a control of its own below. */
export const FIELDS = [
  { name: "data", kind: "choice", group: "data" },
  { name: "n_samples", kind: "int", group: "data", toy: true },
  { name: "noise", kind: "float", optional: true, hint: "hint_default", group: "data", toy: true },
  { name: "test_fraction", kind: "float", group: "data" },
  { name: "model", kind: "model", group: "model", custom: true },
  { name: "activation", kind: "choice", group: "model" },
  { name: "init", kind: "floats", optional: true, group: "model", custom: true },
  { name: "init_scheme", kind: "text", optional: true, group: "model", custom: true },
  { name: "seed", kind: "int", group: "model" },
  { name: "lr", kind: "float", group: "now" },
  { name: "loss", kind: "choice", group: "training" },
  { name: "optimizer", kind: "choice", group: "training" },
  { name: "momentum", kind: "float", optional: true, hyper: true, group: "training" },
  { name: "betas", kind: "floats", optional: true, hyper: true, group: "training", custom: true },
  { name: "eps", kind: "float", optional: true, hyper: true, group: "training" },
  { name: "weight_decay", kind: "float", optional: true, hyper: true, group: "training" },
  { name: "alpha", kind: "float", optional: true, hyper: true, group: "training" },
  { name: "schedule", kind: "choice", group: "training", options: "schedule_" },
  { name: "step_size", kind: "int", group: "training", when: scheduleIs("step") },
  { name: "gamma", kind: "float", group: "training", when: scheduleIs("step") },
  { name: "lr_min", kind: "float", group: "training", when: scheduleIs("cosine") },
  { name: "schedule_epochs", kind: "int", optional: true, hint: "hint_all_epochs", group: "training", when: scheduleIs("cosine") },
  { name: "l1", kind: "float", group: "training" },
  { name: "l2", kind: "float", group: "training" },
  { name: "batch_size", kind: "int", optional: true, hint: "hint_full_batch", group: "training" },
  { name: "epochs", kind: "int", group: "training" },
  { name: "lr_changes", kind: "changes", custom: true },
  ...DATA_FIELDS,  // drawn points, an uploaded CSV file: their controls are datapanel.js's
];
const FIELD = Object.fromEntries(FIELDS.map((f) => [f.name, f]));
const GROUPS = ["now", "data", "model", "training"];
const SPEEDS = [10, 30, 60, 120, 300, 1000, 0];  // steps per second; 0: as fast as training goes
const INIT_MODES = ["values", "random", "xavier", "he", "normal"];
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A field's value from its text: a number where the text is one, else the text (the server says
 * what is wrong with it), null for an optional field left empty. */
export function parseField(field, text) {
  const s = String(text ?? "").trim();
  if (field.parse) return field.parse(s);
  if (field.kind === "int" || field.kind === "float") {
    if (s === "" && field.optional) return null;
    if (field.kind === "int" && /^[+-]?\d+$/.test(s)) return Number(s);
    if (field.kind === "float" && NUMBER.test(s)) return Number(s);
    return s;
  }
  if (field.kind === "floats") {
    if (s === "") return null;
    const parts = s.split(",").map((p) => p.trim());
    return parts.every((p) => NUMBER.test(p)) ? parts.map(Number) : s;
  }
  if (field.kind === "changes") {  // "120:0.9,300:2.5" -> [[120, 0.9], [300, 2.5]]
    if (s === "") return [];
    const pairs = s.split(",").map((p) => p.split(":").map((x) => x.trim()));
    return pairs.every((p) => p.length === 2 && /^\d+$/.test(p[0]) && NUMBER.test(p[1]))
      ? pairs.map(([a, b]) => [Number(a), Number(b)]) : s;
  }
  if (field.kind === "text" && s === "" && field.optional) return null;
  return s;
}

/** A field's value as the URL writes it (the inverse of parseField). */
export function fieldText(field, v) {
  if (v === null || v === undefined) return "";
  if (field.kind === "changes" && Array.isArray(v)) return v.map((p) => p.join(":")).join(",");
  if (Array.isArray(v)) return v.join(",");
  return String(v);
}

const same = (a, b) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** The settings in a query string (fields left out take `defaults`). */
export function readSettings(search, defaults) {
  const q = new URLSearchParams(search);
  const out = {};
  for (const f of FIELDS) out[f.name] = q.has(f.name) ? parseField(f, q.get(f.name)) : defaults[f.name];
  return out;
}

/** The query string for `settings`: the fields that differ from `defaults`, and `keep` (the token). */
export function writeSettings(settings, defaults, keep = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(keep)) if (v !== null && v !== undefined) q.set(k, String(v));
  for (const f of FIELDS) {
    const v = settings[f.name];
    if (same(v, defaults[f.name])) continue;
    q.set(f.name, fieldText(f, v));
  }
  return "?" + q.toString().replace(/%2C/g, ",").replace(/%3A/g, ":");
}

const layersOf = (model) => {
  const m = /^mlp:(.*)$/i.exec(String(model));
  return m ? m[1].split(",").map(Number) : [];
};
const modelOf = (layers) => (layers.length ? "mlp:" + layers.join(",") : "perceptron");

/** The base learning rate in force at step `n` (the last change at or before it). */
export function lrAt(settings, n) {
  let lr = settings.lr;
  for (const [step, value] of settings.lr_changes || []) if (step <= n) lr = value;
  return lr;
}

export function start(root, choices) {
  const defaults = choices.defaults;
  const limits = choices.limits;
  const labels = choices.labels || { en: {} };
  const hyper = choices.optimizer_defaults || {};
  const query = new URLSearchParams(location.search);
  const S = {
    settings: readSettings(location.search, defaults),
    speed: query.has("speed") && SPEEDS.includes(Number(query.get("speed"))) ? Number(query.get("speed")) : 60,
    lang: labels[readHash(location.hash).lang] ? readHash(location.hash).lang : "en",
    runId: null, rec: null, viewer: null, config: null, state: "none", steps: 0, total: 0, message: "",
    pendingLr: null, runs: 0, names: null, seq: 0,  // seq: the numbering of the run's state (server.py)
    spare: null,  // {viewer, el}: the last run's viewer, kept for the next run's (clearViewer)
  };
  const client = Math.random().toString(36).slice(2) + Date.now().toString(36);
  let queue = Promise.resolve();
  const enqueue = (fn) => (queue = queue.then(fn, fn).catch((err) => showError(err)));

  // -- texts: every element showing a catalogue text is registered and retranslated in place --
  const t = (key, fields) => fill(labels[S.lang]?.["live_" + key] ?? labels.en?.["live_" + key] ?? key, fields);
  const texts = [];  // [element, key, attribute or null]
  const tx = (el, key, attr = null) => { texts.push([el, key, attr]); return el; };
  const text = (tag, attrs, key) => tx(h(tag, attrs), key);
  function translate() {
    for (const [el, key, attr] of texts) {
      if (attr) el.setAttribute(attr, t(key));
      else el.textContent = t(key);
    }
    if (document.documentElement.lang !== S.lang) document.documentElement.lang = S.lang;  // (app.js buildFrame)
  }

  // A property written only when it changes: written again, even with the same value, an attribute
  // invalidates the page's style (and a menu's value set again has Chromium's autofill parse the
  // page's forms anew). The controls are rendered at every change, their status at every frame.
  const put = (el, key, value) => { if (el[key] !== value) el[key] = value; };

  // -- the controls --------------------------------------------------------------------------
  root.textContent = "";
  const side = h("aside", { class: "bpv-live-controls" });
  const viewRoot = h("div", { class: "bpv-live-view" });
  root.append(side, viewRoot);
  const inputs = {};
  const rows = {};  // field name -> its row (hidden where it does not apply)
  const groups = {};
  const langBtn = text("button", { type: "button", class: "bpv-live-lang", onclick: () => api.lang(S.lang === "en" ? "ja" : "en") }, "lang");
  side.append(h("div", { class: "bpv-live-head" }, text("h1", { class: "bpv-title" }, "title"), langBtn),
    text("p", { class: "bpv-note" }, "intro"));
  const button = (cls, key, onclick) => tx(text("button", { type: "button", class: cls, onclick }, key), key + "_title", "title");
  const buttons = {
    play: button("bpv-live-play", "train", () => api.play()),
    pause: button("bpv-live-pause", "pause", () => api.pause()),
    step: button("bpv-live-step", "step", () => api.step()),
    reset: button("bpv-live-reset", "reset", () => api.reset()),
  };
  side.append(h("div", { class: "bpv-live-buttons" }, buttons.play, buttons.pause, buttons.step, buttons.reset));
  const status = h("p", { class: "bpv-live-status", "aria-live": "polite" });
  const error = h("p", { class: "bpv-live-error", role: "alert" });
  side.append(status, error);

  for (const name of GROUPS) {
    const now = name === "now";
    const badge = text("span", { class: `bpv-live-badge ${now ? "bpv-live-badge-now" : "bpv-live-badge-new"}` },
      now ? "applies_now" : "new_run");
    groups[name] = h("fieldset", { class: `bpv-live-group bpv-live-${name}`, "data-applies": now ? "now" : "new-run" },
      h("legend", {}, text("span", {}, "group_" + name), " ", badge));
    side.append(groups[name]);
  }
  side.append(text("p", { class: "bpv-note bpv-live-legend" }, "legend"));

  // A control's value is committed once: the change event a blur fires after a change (or after
  // the control was hidden by it, as a new optimiser hides its momentum) changes nothing.
  const onCommit = (el, fn) => el.addEventListener("change", () => {
    if (el.value === el._committed) return;
    el._committed = el.value;
    fn();
  });
  const show = (el, text) => {
    if (document.activeElement === el || el.value === text) return;
    el.value = text;
    el._committed = text;
  };

  const row = (name, key, ...controls) => {
    const r = h("label", { class: "bpv-live-field", "data-field": name }, text("span", {}, key), ...controls);
    rows[name] = r;
    return r;
  };

  // speed: applies now (pacing only; not a setting of the run)
  const speed = h("select", { name: "speed", class: "bpv-live-speed" });
  for (const s of SPEEDS) {
    speed.append(h("option", { value: String(s) }));
  }
  speed.value = String(S.speed);
  speed.addEventListener("change", () => {
    S.speed = Number(speed.value);
    writeUrl();
    enqueue(async () => { if (S.runId) await send({ action: "speed", speed: S.speed }); });
  });

  const lrNote = h("p", { class: "bpv-note bpv-live-lr-note" });
  const fixedRows = text("p", { class: "bpv-note bpv-live-fixed-rows" }, "fixed_rows");
  const isToy = (s) => (choices.generated || []).includes(String(s.data).toLowerCase());
  const layerBox = h("div", { class: "bpv-live-layers" });
  const initMode = h("select", { name: "init_mode" });
  for (const m of INIT_MODES) initMode.append(tx(h("option", { value: m }), "init_" + m));
  const initValues = ["w1", "w2", "b"].map((n) => h("input", { name: "init_" + n, type: "text", inputmode: "decimal", size: "5" }));
  const initScale = h("input", { name: "init_scale", type: "text", inputmode: "decimal", size: "8", placeholder: "0.1" });
  const betas = [0, 1].map((i) => h("input", { name: "beta" + (i + 1), type: "text", inputmode: "decimal", size: "8" }));

  for (const f of FIELDS) {
    if (f.custom || !f.group) continue;
    let input;
    if (f.kind === "choice") {
      input = h("select", { name: f.name });
      for (const c of choices[f.name] || []) {
        const o = h("option", { value: c }, c);
        if (f.options) tx(o, f.options + c);
        input.append(o);
      }
    } else {
      input = h("input", { name: f.name, type: "text", inputmode: f.kind === "int" ? "numeric" : "decimal", size: "8" });
      if (f.hint) tx(input, f.hint, "placeholder");
    }
    if (f.name === "lr") onCommit(input, () => setLr(parseField(f, input.value)));
    else onCommit(input, () => changeField(f.name, parseField(f, input.value)));
    inputs[f.name] = input;
    groups[f.group].append(row(f.name, "field_" + f.name, input));
    if (f.name === "lr") groups.now.append(lrNote, row("speed", "speed", speed));
    if (f.name === "noise") groups.data.append(fixedRows);
    if (f.name === "test_fraction") groups.model.append(h("div", { class: "bpv-live-field", "data-field": "model" },
      text("span", {}, "field_model")), layerBox);
    if (f.name === "activation") {
      groups.model.append(row("init", "field_init", initMode),
        rows.init_values = h("div", { class: "bpv-live-field bpv-live-init-values", "data-field": "init_values" },
          ...initValues.flatMap((el, i) => [h("span", {}, ["w1", "w2", "b"][i]), el])),
        row("init_scale", "field_init_scale", initScale));
    }
    if (f.name === "momentum") {
      groups.training.append(row("beta1", "field_beta1", betas[0]), row("beta2", "field_beta2", betas[1]));
    }
  }
  const dataUi = dataPanel(groups.data, { settings: () => S.settings, change, choices });
  onCommit(initMode, () => setInit(initMode.value));
  onCommit(initScale, () => setInit("normal"));
  for (const el of initValues) onCommit(el, () => setInit("values"));
  for (const el of betas) onCommit(el, () => {
    const [a, b] = betas.map((e) => parseField({ kind: "float", optional: true }, e.value));
    const d = hyper[S.settings.optimizer]?.betas || [0.9, 0.999];
    change({ betas: a === null && b === null ? null : [a ?? d[0], b ?? d[1]] });
  });

  /** Changing one field; a new optimiser drops the hyperparameters it does not take, a new
   * schedule resets the others' settings, a network keeps no perceptron start values. */
  function changeField(name, value) {
    const changes = { [name]: value };
    if (name === "optimizer") {
      const takes = hyper[value] || {};
      for (const f of FIELDS) if (f.hyper && !(f.name in takes)) changes[f.name] = null;
    }
    if (name === "schedule") for (const f of FIELDS) if (f.when) changes[f.name] = defaults[f.name];
    if (name === "data") Object.assign(changes, dataUi.switchData(value));  // drawn points, a file: kept aside
    change(changes);
  }

  // Start values are the perceptron's w1, w2, b (a perceptron on more inputs or classes has more
  // parameters: it starts from torch's default, as run does); the last run's names tell.
  const takesStart = (s) => isPerceptron(s) && (!S.names || S.names.join(",") === "w1,w2,b");
  const initModeOf = (s) => {
    if (s.init_scheme) return String(s.init_scheme).split(":")[0];
    return s.init !== null && takesStart(s) ? "values" : "random";
  };
  function setInit(mode) {
    if (mode === "values") {
      const given = initValues.map((el) => parseField({ kind: "float" }, el.value));
      const start = given.every((v) => v !== "") ? given : (S.settings.init || defaults.init);
      change({ init: start, init_scheme: null });
    } else if (mode === "random") change({ init: null, init_scheme: null });
    else if (mode === "normal") change({ init: null, init_scheme: "normal:" + (initScale.value.trim() || "0.1") });
    else change({ init: null, init_scheme: mode });
  }

  // The layers' rows are made once and kept: a neuron added or removed changes its count's text
  // only. (Rows made again at each change cost the page a restyle of its controls, and Chromium's
  // autofill, which parses a page's forms again when buttons come and go, ~10 ms of the browser's
  // CPU in the change's first 100 ms.) A button reads the model when it is clicked.
  const layerRows = [];
  const noLayers = h("p", { class: "bpv-note" });
  const addLayer = h("button", { type: "button", class: "bpv-live-add-layer", onclick: () => {
    const layers = layersOf(S.settings.model);
    if (layers.length < limits.layers) change({ model: modelOf([...layers, layers.length ? layers[layers.length - 1] : 4]) });
  } });
  const removeLayer = h("button", { type: "button", class: "bpv-live-remove-layer", onclick: () => {
    const layers = layersOf(S.settings.model);
    if (layers.length) change({ model: modelOf(layers.slice(0, -1)) });
  } });
  layerBox.append(noLayers, h("div", { class: "bpv-live-buttons" }, addLayer, removeLayer));
  const resize = (i, delta) => {
    const layers = layersOf(S.settings.model);
    if (i >= layers.length) return;
    layers[i] = Math.max(1, Math.min(limits.neurons, layers[i] + delta));
    change({ model: modelOf(layers) });
  };

  function renderLayers() {
    const layers = layersOf(S.settings.model);
    while (layerRows.length > layers.length) layerRows.pop().el.remove();
    while (layerRows.length < layers.length) {
      const i = layerRows.length;
      const row = { name: h("span", {}), count: h("span", { class: "bpv-live-neurons" }),
        fewer: h("button", { type: "button", class: "bpv-live-fewer", onclick: () => resize(i, -1) }, "−"),
        more: h("button", { type: "button", class: "bpv-live-more", onclick: () => resize(i, +1) }, "+") };
      row.el = h("div", { class: "bpv-live-layer", "data-layer": String(i) }, row.name, row.fewer, row.count, row.more);
      layerBox.insertBefore(row.el, noLayers);
      layerRows.push(row);
    }
    layers.forEach((n, i) => {
      const row = layerRows[i];
      put(row.name, "textContent", t("layer", { i: i + 1 }));
      put(row.count, "textContent", t("neurons", { n }));
      put(row.fewer, "title", t("fewer"));
      put(row.more, "title", t("more"));
    });
    put(noLayers, "hidden", layers.length > 0);
    put(noLayers, "textContent", t("no_layers"));
    put(addLayer, "textContent", t("add_layer"));
    put(removeLayer, "textContent", t("remove_layer"));
    put(addLayer, "disabled", layers.length >= limits.layers);
    put(removeLayer, "disabled", !layers.length);
  }

  const shownLr = () => (S.pendingLr !== null ? S.pendingLr : lrAt(S.settings, S.steps));

  function renderControls(layers = true) {
    const s = S.settings;
    const takes = hyper[s.optimizer] || {};
    for (const f of FIELDS) {
      const input = inputs[f.name];
      if (!input) continue;
      const v = f.name === "lr" ? shownLr() : s[f.name];
      if (f.kind === "choice" && ![...input.options].some((o) => o.value === String(v))) input.append(h("option", { value: String(v) }, String(v)));
      show(input, v === null || v === undefined ? "" : String(v));
      if (f.hyper) put(input, "placeholder", f.name in takes ? String(takes[f.name]) : "");
      const shown = (!f.hyper || f.name in takes) && (!f.when || f.when(s)) && (!f.toy || isToy(s));
      if (rows[f.name]) put(rows[f.name], "hidden", !shown);
    }
    put(fixedRows, "hidden", isToy(s));
    const d = takes.betas || [0.9, 0.999];
    betas.forEach((el, i) => {
      show(el, s.betas ? String(s.betas[i]) : "");
      put(el, "placeholder", String(d[i]));
      put(rows["beta" + (i + 1)], "hidden", !("betas" in takes));
    });
    const mode = initModeOf(s);
    show(initMode, mode);
    [...initMode.options].forEach((o) => put(o, "disabled", o.value === "values" && !takesStart(s)));
    put(rows.init_values, "hidden", mode !== "values");
    put(rows.init_scale, "hidden", mode !== "normal");
    const start = s.init || defaults.init || [];
    initValues.forEach((el, i) => show(el, start[i] !== undefined ? String(start[i]) : ""));
    if (mode === "normal") show(initScale, String(s.init_scheme).split(":")[1] || "");
    renderLrNote();
    if (layers) renderLayers();
    dataUi.render();
  }

  function renderLrNote() {
    const changes = S.settings.lr_changes || [];
    const parts = [];
    if (changes.length) parts.push(t("lr_changes", { changes: changes.map(([step, lr]) => t("lr_change", { step, lr: fmt(lr) })).join(", ") }));
    if (S.pendingLr !== null) parts.push(t("lr_pending", { lr: fmt(S.pendingLr) }));
    const note = parts.join(" · ");
    if (lrNote.textContent !== note) lrNote.textContent = note;
    put(lrNote, "hidden", !parts.length);
    if (inputs.lr) show(inputs.lr, String(shownLr()));
  }

  function renderStatus() {
    const fields = { steps: S.steps, total: S.total, lr: fmt(shownLr()) };
    put(status, "textContent", S.state === "none" ? "" : t("status_" + S.state, fields));
    put(buttons.play, "disabled", S.state === "running");
    put(buttons.pause, "disabled", S.state !== "running");
    put(root.dataset, "state", S.state);
  }
  const showError = (err) => {
    S.message = err ? String(err.message || err) : "";
    put(error, "textContent", S.message);
    put(root.dataset, "error", S.message ? "1" : "");
  };

  // The URL follows the settings a moment later, not at once: history.replaceState waits on the
  // browser's own process (0.3-25 ms in a Chromium trace of a change made while a run trains): it delayed
  // a new run's first frame and a live change's first step. api.idle() writes it at once.
  const URL_DELAY_MS = 150;
  let urlTimer = null;
  function writeUrl() {
    if (urlTimer === null) urlTimer = setTimeout(writeUrlNow, URL_DELAY_MS);
  }
  function writeUrlNow() {
    clearTimeout(urlTimer);
    urlTimer = null;
    const search = writeSettings(S.settings, defaults, { token: query.get("token"), speed: S.speed === 60 ? null : S.speed });
    if (search !== location.search) history.replaceState(null, "", search + location.hash);
  }

  // -- the server ----------------------------------------------------------------------------
  async function send(msg) {
    const r = await fetch("/api/command", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client, ...msg }) });
    let answer = null;
    try { answer = await r.json(); } catch (e) { /* not JSON: said below */ }
    if (!r.ok || !answer || answer.error) throw new Error((answer && answer.error) || `the server answered ${r.status}`);
    return answer;
  }

  // The last run, still shown while the next one's first steps come, is dimmed only if they take
  // a while: marked at once, its opacity's change repainted the whole viewer (~25 ms) in the
  // change's 100 ms, and again when they came.
  let staleTimer = null;
  const STALE_MS = 300;
  function staleSoon() {
    clearTimeout(staleTimer);
    staleTimer = setTimeout(() => { if (!S.viewer && S.spare) viewRoot.dataset.stale = "1"; }, STALE_MS);
  }
  function fresh() {
    clearTimeout(staleTimer);
    if (viewRoot.dataset.stale) delete viewRoot.dataset.stale;
  }
  const placeholder = (key) => {
    fresh();
    viewRoot.textContent = "";
    viewRoot.append(text("p", { class: "bpv-live-empty" }, key));
    translate();
  };

  /** The run shown goes. Its viewer is kept aside (S.spare) and takes the next run's recording
   * when its first steps come (viewer.replace: the frame, the cards and their handlers stay), which
   * is quicker than a new viewer. `keep`: a run that trains at once follows: the last run stays in
   * view until then (dimmed if that takes a while: playground.css), not an empty page between. */
  function clearViewer(keep = false) {
    S.rec = null;
    incoming = [];
    pendingSteps = 0;
    if (S.viewer) S.spare = { viewer: S.viewer, el: viewRoot.querySelector(":scope > .bpv") };
    S.viewer = null;
    S.steps = 0;
    if (keep && S.spare && S.spare.el && S.spare.el.parentNode === viewRoot) staleSoon();
    else placeholder("empty");
  }

  /** A new run of the settings shown; `play`: training at once (one round trip, for a setting
   * changed while a run trained). Its first events may come before the answer: they are held
   * (S.awaiting) and handed on once the run's id is known. */
  async function newRun(play = false) {
    // A new run after the page's first starts with the learning rate shown and no changes.
    if (S.runs++ > 0 && (S.settings.lr_changes || []).length) {
      Object.assign(S.settings, { lr: shownLr(), lr_changes: [] });
      writeUrl();
    }
    S.pendingLr = null;
    clearViewer(play);
    S.runId = null;
    S.config = null;
    try {
      S.awaiting = true;
      let a;
      try { a = await send({ action: "new", config: S.settings, speed: S.speed, ...(play ? { play: true } : {}) }); }
      finally { S.awaiting = false; }
      S.runId = a.run;
      S.config = a.config;
      S.total = a.steps;
      // (the answer leaves the catalogue out: the page's own, from /api/choices, is the same)
      if (!a.meta.labels) a.meta.labels = labels;
      S.rec = new Recording(a.meta, a.meta.run.param_names.length);
      S.names = a.meta.run.param_names;
      S.state = "ready";
      S.seq = 0;
      // A run that trains at once sends its first steps with the answer (server.py): drawn now,
      // before the status changes (the views read their cards' widths from the last layout, which
      // a change would make the page lay out again first). Otherwise the last run's viewer, still
      // shown, makes this run's views before they come (not when they came already: the frame that
      // draws them makes the views as soon).
      const stepsCame = held.some(([, ev]) => ev.type === "steps" && events.ofRun(ev, a.run));
      if (a.first) receive(a.first);
      if (a.status) takeState(a.status);
      showError(null);
      if (!a.first && !stepsCame && S.spare && S.spare.el && S.spare.el.parentNode === viewRoot) S.spare.viewer.prepare(S.rec, { lang: S.lang });
    } catch (err) {
      S.state = "none";
      showError(err);
      placeholder("invalid");
    }
    renderControls(false);
    renderStatus();
    releaseHeld();
    return S.runId !== null;
  }

  async function command(action) {
    if (S.runId === null || ["done", "diverged", "stopped", "error"].includes(S.state)) {
      if (!(await newRun())) return;
    }
    const a = await send({ action, speed: S.speed });
    // A status event may come before this answer (a step made and paused, a short run ended): the
    // newest state wins, by the run's numbering of its changes of state.
    if (a.run === S.runId) takeState(a);
  }

  /** The run's state from a status event or a command's answer, unless a newer one came already. */
  function takeState(d) {
    if (!(d.seq >= S.seq)) return false;
    S.seq = d.seq;
    S.state = d.state;
    renderStatus();
    return true;
  }

  function change(changes) {
    if (Object.entries(changes).every(([k, v]) => same(S.settings[k], v))) return;  // (a blur after a change)
    const modelChanged = changes.model !== undefined && changes.model !== S.settings.model;
    Object.assign(S.settings, changes);
    // A network starts from its seeded initialisation: start values typed for the perceptron go.
    if (modelChanged && !isPerceptron(S.settings) && S.settings.init !== null && !same(S.settings.init, defaults.init)) {
      S.settings.init = defaults.init;
    }
    const wasRunning = S.state === "running";
    enqueue(async () => {
      await newRun(wasRunning);
      writeUrl();
    });
    // The controls follow once the new run's command is on its way (a queue that was idle sends it
    // first): they take a few ms of the change's 100.
    queueMicrotask(() => renderControls(modelChanged));
  }

  /** The learning rate: from the next step of the run that is training (running or paused), kept
   * as a change at that step; otherwise (no step made yet, or the run ended) a new run with it. */
  function setLr(value) {
    const live = S.runId !== null && ["running", "paused"].includes(S.state);
    if (live && same(value, shownLr())) return;  // (a blur after a change)
    if (!live) { change({ lr: value, lr_changes: [] }); return; }
    const run = S.runId;
    enqueue(async () => {
      try {
        const a = await send({ action: "lr", lr: value });
        if (a.run !== run || run !== S.runId) return;
        showError(null);
        takeChanges(a.lr_changes);
        // Not among the changes yet: the server applies it before the run's next step.
        const last = (S.settings.lr_changes || []).at(-1);
        S.pendingLr = last && last[1] === value ? null : value;
      } catch (err) {
        showError(err);
      }
      renderControls(false);
      renderStatus();
    });
  }

  /** The run's lr changes as the server has them; true if they hold a new one. A run's changes
   * only grow, so a list shorter than the page's is an event made before the last change. */
  function takeChanges(changes) {
    if (!Array.isArray(changes) || same(changes, S.settings.lr_changes)) return false;
    if (changes.length < (S.settings.lr_changes || []).length) return false;
    S.settings.lr_changes = changes;
    S.pendingLr = null;
    writeUrl();
    renderLrNote();
    return true;
  }

  // Steps arrive faster than a page draws: they are appended once per frame, all together.
  // `settling`: a new run's first steps were just drawn; those that come meanwhile wait for the
  // frame after the one that shows them (drawn in its requestAnimationFrame, they held back the
  // new run's first paint by a whole redraw, ~15 ms).
  let incoming = [], pendingSteps = 0, flushing = false, settling = false;
  function receive(d) {
    if (!S.rec || d.run !== S.runId) return;
    const n = d.loss.shape[0];
    const skip = S.rec.length + pendingSteps - d.from;  // a reconnected stream starts again from step 0
    if (d.lr_changes) takeChanges(d.lr_changes);
    if (skip < 0 || skip >= n) return;
    incoming.push({ d, skip, run: d.run, at: performance.now() });
    pendingSteps += n - skip;
    // A new run's first steps are drawn at once, not at the next frame (up to 16 ms later): the
    // frame that shows them comes as soon as the browser lays them out.
    if (!S.viewer) flush();
    else if (!flushing && !settling) { flushing = true; requestAnimationFrame(flush); }
  }

  function settle() {
    settling = true;
    requestAnimationFrame(() => setTimeout(() => {  // (after the frame that shows the first steps)
      settling = false;
      if (incoming.length && !flushing) { flushing = true; requestAnimationFrame(flush); }
    }, 0));
  }

  const concat = (arrays) => {
    if (arrays.length === 1) return arrays[0];
    const out = new arrays[0].constructor(arrays.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const a of arrays) { out.set(a, at); at += a.length; }
    return out;
  };

  function flush(frameTime) {  // (frameTime: called as a requestAnimationFrame callback, inside a frame)
    flushing = false;
    const rec = S.rec, parts = incoming.filter((p) => p.run === S.runId);
    incoming = [];
    pendingSteps = 0;
    if (!rec || !parts.length) return;
    const P = rec.P;
    const rows = (key, width) => concat(parts.map((p) => decode(p.d[key]).subarray(p.skip * width)));
    const first = parts[0];
    const atEnd = !S.viewer || S.viewer.current().index >= rec.length - 1;
    const before = rec.length;
    rec.append({
      initial: first.d.from === 0 && first.skip === 0 ? decode(first.d.initial) : undefined,
      initial_whole_loss: first.d.initial_whole_loss ?? NaN,
      params: rows("params", P), grads: rows("grads", P), loss: rows("loss", 1), epoch: rows("epoch", 1),
      whole_loss: rows("whole_loss", 1), lr: rows("lr", 1),
    });
    S.steps = rec.length;
    if (!S.viewer && S.spare && S.spare.el) {  // the last run's viewer, given this run
      const { viewer, el } = S.spare;
      S.spare = null;
      if (el.parentNode !== viewRoot) { viewRoot.textContent = ""; viewRoot.append(el); }
      viewer.replace(rec, { lang: S.lang, step: rec.length - 1 });
      fresh();  // (after: the viewer reads its cards' widths before any change)
      S.viewer = viewer;
      settle();
    } else if (!S.viewer) {
      viewRoot.textContent = "";
      const el = h("div", { class: "bpv" });
      viewRoot.append(el);
      S.viewer = mount(el, rec, { lang: S.lang, hash: true });
      S.viewer.go(rec.length - 1);
      settle();
    } else if (atEnd) {
      S.viewer.go(rec.length - 1);
    }
    renderStatus();
    renderLrNote();
    // A hook for benchmarks and embedding pages: these steps are drawn (bench/bench_serve.py);
    // `arrived`: when the first of them came from the server (performance.now()); `inFrame`: drawn
    // in a frame's requestAnimationFrame callback (that frame shows them), else in a task (the
    // next frame does).
    root.dispatchEvent(new CustomEvent("bpv-live-drawn", { detail: { run: S.runId, steps: rec.length,
      appended: rec.length - before, lr: rec.lr(rec.length - 1), arrived: parts[0].at, inFrame: frameTime !== undefined } }));
  }

  // The server's events; those that come while a new run's answer is awaited are held until then.
  const source = new EventSource(`/api/events?client=${client}`);
  let held = [];
  const events = {
    addEventListener: (name, fn) => source.addEventListener(name, (ev) => {
      if (S.awaiting) held.push([fn, ev]); else fn(ev);
    }),
    // A run's events begin with its id (server.py, livework.py): one of another run (still queued
    // when a control changed) is told without parsing it.
    ofRun: (ev, run) => run !== null && ev.data.startsWith(`{"run": ${run},`),
  };
  function releaseHeld() {
    const now = held;
    held = [];
    for (const [fn, ev] of now) fn(ev);
  }
  // The steps of a run no longer shown are dropped unparsed, leaving the main thread to the new run.
  events.addEventListener("steps", (ev) => {
    if (!events.ofRun(ev, S.runId)) return;
    try { receive(JSON.parse(ev.data)); } catch (err) { showError(err); console.error(err); }
  });
  events.addEventListener("status", (ev) => {
    const d = JSON.parse(ev.data);
    if (d.run !== S.runId) return;
    if (d.lr_changes) takeChanges(d.lr_changes);
    if (d.message) showError(d.message);
    takeState(d);
  });
  // The views that come after the steps (the loss surface, traced steps, per-epoch metrics) and
  // the perceptron's start clicked on its loss surface (liveviews.js).
  liveViews({ S, events, side, viewRoot, enqueue, send,
    start: (init) => { change({ init, init_scheme: null }); api.play(); } });
  // The run as files and as a command line (exportpanel.js, web/exports.py).
  exportPanel({ S, side, client, labels });

  // The viewer's own language button: the controls follow it.
  viewRoot.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest(".bpv-lang")) setTimeout(() => setLang(document.documentElement.lang), 0);
  });
  function setLang(code) {
    if (!labels[code]) return S.lang;
    S.lang = code;
    if (S.viewer && S.viewer.current().lang !== code) S.viewer.lang(code);
    else if (!S.viewer) history.replaceState(null, "", location.search + writeHash({ ...readHash(location.hash), lang: code }));
    translate();
    for (const o of speed.options) o.textContent = Number(o.value) ? t("speed_n", { n: o.value }) : t("speed_max");
    renderControls();
    renderStatus();
    return S.lang;
  }

  // -- the API (window.backpropviz), as for `backpropviz html`, plus the training's controls ----
  const api = {
    steps: () => (S.rec ? S.rec.length : 0),
    go: (k) => (S.viewer ? S.viewer.go(k) : 0),
    current: () => (S.viewer ? S.viewer.current() : null),
    lang: (code) => (code ? setLang(code) : S.lang),
    views: (list) => (S.viewer ? S.viewer.views(list) : []),
    /** The viewer of the run shown (app.js mount's API), null before its first step. */
    viewer: () => S.viewer,
    /** The current settings as the JSON object `backpropviz run --config` reads: `epochs` the epochs
     * begun so far (all of them before the first step; a cosine schedule then keeps its length in
     * `schedule_epochs`), `lr_changes` the learning rates changed. */
    config: () => {
      const c = JSON.parse(JSON.stringify(S.config || S.settings));
      c.lr_changes = JSON.parse(JSON.stringify(S.settings.lr_changes || []));
      if (S.rec && S.rec.length) {
        const begun = S.rec.epoch(S.rec.length - 1) + 1;
        // The cosine schedule spans the run's epochs: a shorter run keeps the longer one's schedule.
        const cosine = String(c.schedule).toLowerCase() === "cosine";
        if (cosine && begun < c.epochs && (c.schedule_epochs === null || c.schedule_epochs === undefined)) c.schedule_epochs = c.epochs;
        c.epochs = begun;
      }
      return c;
    },
    /** The page's settings (FIELDS); given an object, change them (a new run). */
    settings: (changes) => { if (changes) change(changes); return JSON.parse(JSON.stringify(S.settings)); },
    /** The learning rate from the next step of the run (a new run where none is training). */
    lr: (value) => { if (value !== undefined) setLr(value); return shownLr(); },
    play: (on = true) => (on === false ? api.pause() : enqueue(() => command("play"))),
    pause: () => enqueue(async () => { if (S.runId !== null && S.state === "running") await command("pause"); }),
    step: () => enqueue(() => command("step")),
    reset: () => enqueue(() => newRun()),
    state: () => ({ state: S.state, steps: S.steps, total: S.total, run: S.runId, error: S.message, lang: S.lang }),
    /** Resolves once every command sent so far is answered and the URL holds the settings. */
    idle: () => queue.then(() => { if (urlTimer !== null) writeUrlNow(); return api.state(); }),
  };

  setLang(S.lang);
  clearViewer();
  renderStatus();
  enqueue(() => newRun());
  document.documentElement.dataset.ready = "1";
  window.backpropviz = api;
  return api;
}
