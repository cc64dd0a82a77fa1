// The live playground: controls beside the viewer of `backpropviz html`, fed step by step by the
// server, which runs the project's one training loop (web/server.py).
//
// One state object S; every control changes it and sends one command, in order (a queue), so
// that a burst of clicks is answered in the order made. Settings live in the URL's query string
// (the hash stays the viewer's: step, views, lang), written and read from one table, FIELDS.
// Steps come as server-sent events and are appended to the Recording; the viewer follows the
// newest step unless the scrubber was moved back.

import { Recording, decode } from "bpv/recording.js";
import { mount } from "bpv/app.js";
import { h } from "bpv/dom.js";

/** The settings of a run that the page offers, as RunConfig fields (what `run --config` reads). */
export const FIELDS = [
  { name: "data", kind: "choice", label: "data set", group: "data" },
  { name: "n_samples", kind: "int", label: "samples", group: "data" },
  { name: "noise", kind: "float", optional: true, label: "noise", hint: "default", group: "data" },
  { name: "test_fraction", kind: "float", label: "test fraction", group: "data" },
  { name: "model", kind: "model", label: "hidden layers", group: "model" },
  { name: "activation", kind: "choice", label: "activation", group: "model" },
  { name: "loss", kind: "choice", label: "loss", group: "training" },
  { name: "optimizer", kind: "choice", label: "optimizer", group: "training" },
  { name: "lr", kind: "float", label: "learning rate", group: "training" },
  { name: "batch_size", kind: "int", optional: true, label: "batch size", hint: "full batch", group: "training" },
  { name: "epochs", kind: "int", label: "epochs", group: "training" },
  { name: "seed", kind: "int", label: "seed", group: "training" },
];
const SPEEDS = [10, 30, 60, 120, 300, 1000, 0];  // steps per second; 0: as fast as training goes
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A field's value from its text: a number where the text is one, else the text (the server says
 * what is wrong with it), null for an optional field left empty. */
export function parseField(field, text) {
  const s = String(text ?? "").trim();
  if (field.kind === "int" || field.kind === "float") {
    if (s === "" && field.optional) return null;
    if (field.kind === "int" && /^[+-]?\d+$/.test(s)) return Number(s);
    if (field.kind === "float" && NUMBER.test(s)) return Number(s);
    return s;
  }
  return s;
}

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
    if (v === defaults[f.name]) continue;
    q.set(f.name, v === null ? "" : String(v));
  }
  return "?" + q.toString().replace(/%2C/g, ",").replace(/%3A/g, ":");
}

const layersOf = (model) => {
  const m = /^mlp:(.*)$/i.exec(String(model));
  return m ? m[1].split(",").map(Number) : [];
};
const modelOf = (layers) => (layers.length ? "mlp:" + layers.join(",") : "perceptron");

export function start(root, choices) {
  const defaults = choices.defaults;
  const limits = choices.limits;
  const query = new URLSearchParams(location.search);
  const S = {
    settings: readSettings(location.search, defaults),
    speed: query.has("speed") && SPEEDS.includes(Number(query.get("speed"))) ? Number(query.get("speed")) : 60,
    runId: null, rec: null, viewer: null, config: null, state: "none", steps: 0, total: 0, message: "",
  };
  const client = Math.random().toString(36).slice(2) + Date.now().toString(36);
  let queue = Promise.resolve();
  const enqueue = (fn) => (queue = queue.then(fn, fn).catch((err) => showError(err)));

  // -- the controls --------------------------------------------------------------------------
  root.textContent = "";
  const side = h("aside", { class: "bpv-live-controls" });
  const viewRoot = h("div", { class: "bpv-live-view" });
  root.append(side, viewRoot);
  const inputs = {};
  const groups = {};
  side.append(h("h1", { class: "bpv-title" }, "backpropviz playground"),
    h("p", { class: "bpv-note" }, "Real PyTorch training, every step recorded. Changing a setting starts a new run."));
  const buttons = {
    play: h("button", { type: "button", class: "bpv-live-play", title: "train (play)", onclick: () => api.play() }, "► train"),
    pause: h("button", { type: "button", class: "bpv-live-pause", title: "pause training", onclick: () => api.pause() }, "❚❚ pause"),
    step: h("button", { type: "button", class: "bpv-live-step", title: "one training step", onclick: () => api.step() }, "one step"),
    reset: h("button", { type: "button", class: "bpv-live-reset", title: "start again from step 0", onclick: () => api.reset() }, "reset"),
  };
  const speed = h("select", { name: "speed", class: "bpv-live-speed" });
  for (const s of SPEEDS) speed.append(h("option", { value: String(s) }, s ? `${s} steps/s` : "as fast as it goes"));
  speed.value = String(S.speed);
  speed.addEventListener("change", () => {
    S.speed = Number(speed.value);
    writeUrl();
    enqueue(async () => { if (S.runId) await send({ action: "speed", speed: S.speed }); });
  });
  side.append(h("div", { class: "bpv-live-buttons" }, buttons.play, buttons.pause, buttons.step, buttons.reset),
    h("label", { class: "bpv-live-field" }, h("span", {}, "speed"), speed));
  const status = h("p", { class: "bpv-live-status", "aria-live": "polite" });
  const error = h("p", { class: "bpv-live-error", role: "alert" });
  side.append(status, error);

  for (const name of ["data", "model", "training"]) {
    groups[name] = h("fieldset", { class: `bpv-live-group bpv-live-${name}` }, h("legend", {}, name));
    side.append(groups[name]);
  }
  const layerBox = h("div", { class: "bpv-live-layers" });
  for (const f of FIELDS) {
    if (f.kind === "model") { groups[f.group].append(h("div", { class: "bpv-live-field" }, h("span", {}, f.label)), layerBox); continue; }
    let input;
    if (f.kind === "choice") {
      input = h("select", { name: f.name });
      for (const c of choices[f.name] || []) input.append(h("option", { value: c }, c));
    } else {
      input = h("input", { name: f.name, type: "text", inputmode: f.kind === "int" ? "numeric" : "decimal", size: "8",
        placeholder: f.hint || "" });
    }
    input.addEventListener("change", () => change({ [f.name]: parseField(f, input.value) }));
    inputs[f.name] = input;
    groups[f.group].append(h("label", { class: "bpv-live-field" }, h("span", {}, f.label), input));
  }

  function renderLayers() {
    const layers = layersOf(S.settings.model);
    layerBox.textContent = "";
    if (!layers.length) layerBox.append(h("p", { class: "bpv-note" }, "none: a perceptron (one linear unit)"));
    layers.forEach((n, i) => {
      const set = (v) => { const next = layers.slice(); next[i] = Math.max(1, Math.min(limits.neurons, v)); change({ model: modelOf(next) }); };
      layerBox.append(h("div", { class: "bpv-live-layer", "data-layer": String(i) },
        h("span", {}, `layer ${i + 1}`),
        h("button", { type: "button", class: "bpv-live-fewer", title: "one neuron less", onclick: () => set(n - 1) }, "−"),
        h("span", { class: "bpv-live-neurons" }, `${n} neurons`),
        h("button", { type: "button", class: "bpv-live-more", title: "one neuron more", onclick: () => set(n + 1) }, "+")));
    });
    const add = h("button", { type: "button", class: "bpv-live-add-layer", onclick: () => {
      if (layers.length < limits.layers) change({ model: modelOf([...layers, layers.length ? layers[layers.length - 1] : 4]) });
    } }, "+ layer");
    const remove = h("button", { type: "button", class: "bpv-live-remove-layer", onclick: () => {
      if (layers.length) change({ model: modelOf(layers.slice(0, -1)) });
    } }, "− layer");
    add.disabled = layers.length >= limits.layers;
    remove.disabled = !layers.length;
    layerBox.append(h("div", { class: "bpv-live-buttons" }, add, remove));
  }

  function renderControls(layers = true) {
    for (const f of FIELDS) {
      const input = inputs[f.name];
      if (!input) continue;
      const v = S.settings[f.name];
      if (f.kind === "choice" && ![...input.options].some((o) => o.value === String(v))) input.append(h("option", { value: String(v) }, String(v)));
      input.value = v === null || v === undefined ? "" : String(v);
    }
    if (layers) renderLayers();  // rebuilt only when they change: a click must find its button
  }

  function renderStatus() {
    const where = S.rec ? `step ${S.steps} of ${S.total}` : "";
    const text = {
      none: "", ready: `ready: ${S.total} steps to train; press ► train or one step`,
      running: `training · ${where}`, paused: `paused · ${where}`, done: `done · ${where}`,
      diverged: `diverged · ${where}`, stopped: "stopped", error: "stopped by an error",
    }[S.state] ?? S.state;
    status.textContent = text;
    buttons.play.disabled = S.state === "running";
    buttons.pause.disabled = S.state !== "running";
    root.dataset.state = S.state;
  }
  const showError = (err) => {
    S.message = err ? String(err.message || err) : "";
    error.textContent = S.message;
    root.dataset.error = S.message ? "1" : "";
  };

  function writeUrl() {
    const search = writeSettings(S.settings, defaults, { token: query.get("token"), speed: S.speed === 60 ? null : S.speed });
    history.replaceState(null, "", search + location.hash);
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

  function clearViewer() {
    S.rec = null;
    incoming = [];
    pendingSteps = 0;
    S.viewer = null;
    S.steps = 0;
    viewRoot.textContent = "";
    viewRoot.append(h("p", { class: "bpv-live-empty" }, "Press ► train (or one step) to train this model; every step appears here as it is made."));
  }

  async function newRun() {
    clearViewer();
    S.runId = null;
    S.config = null;
    try {
      const a = await send({ action: "new", config: S.settings, speed: S.speed });
      S.runId = a.run;
      S.config = a.config;
      S.total = a.steps;
      S.rec = new Recording(a.meta, a.meta.run.param_names.length);
      S.state = "ready";
      showError(null);
    } catch (err) {
      S.state = "none";
      showError(err);
      viewRoot.textContent = "";
      viewRoot.append(h("p", { class: "bpv-live-empty" }, "These settings cannot be trained: the message on the left says why."));
    }
    renderStatus();
    return S.runId !== null;
  }

  async function command(action) {
    if (S.runId === null || ["done", "diverged", "stopped", "error"].includes(S.state)) {
      if (!(await newRun())) return;
    }
    const a = await send({ action, speed: S.speed });
    if (a.run === S.runId) { S.state = a.state; renderStatus(); }
  }

  function change(changes) {
    if (Object.entries(changes).every(([k, v]) => S.settings[k] === v)) return;  // (a blur after a change)
    const modelChanged = changes.model !== undefined && changes.model !== S.settings.model;
    Object.assign(S.settings, changes);
    writeUrl();
    renderControls(modelChanged);
    const wasRunning = S.state === "running";
    enqueue(async () => {
      if (await newRun() && wasRunning) await command("play");
    });
  }

  // Steps arrive faster than a page draws: they are appended once per frame, all together.
  let incoming = [], pendingSteps = 0, flushing = false;
  function receive(d) {
    if (!S.rec || d.run !== S.runId) return;
    const n = d.loss.shape[0];
    const skip = S.rec.length + pendingSteps - d.from;  // a reconnected stream starts again from step 0
    if (skip < 0 || skip >= n) return;
    incoming.push({ d, skip, run: d.run });
    pendingSteps += n - skip;
    if (!flushing) { flushing = true; requestAnimationFrame(flush); }
  }

  const concat = (arrays) => {
    if (arrays.length === 1) return arrays[0];
    const out = new arrays[0].constructor(arrays.reduce((a, b) => a + b.length, 0));
    let at = 0;
    for (const a of arrays) { out.set(a, at); at += a.length; }
    return out;
  };

  function flush() {
    flushing = false;
    const rec = S.rec, parts = incoming.filter((p) => p.run === S.runId);
    incoming = [];
    pendingSteps = 0;
    if (!rec || !parts.length) return;
    const P = rec.P;
    const rows = (key, width) => concat(parts.map((p) => decode(p.d[key]).subarray(p.skip * width)));
    const first = parts[0];
    const atEnd = !S.viewer || S.viewer.current().index >= rec.length - 1;
    rec.append({
      initial: first.d.from === 0 && first.skip === 0 ? decode(first.d.initial) : undefined,
      initial_whole_loss: first.d.initial_whole_loss ?? NaN,
      params: rows("params", P), grads: rows("grads", P), loss: rows("loss", 1), epoch: rows("epoch", 1),
      whole_loss: rows("whole_loss", 1), lr: rows("lr", 1),
    });
    S.steps = rec.length;
    if (!S.viewer) {
      viewRoot.textContent = "";
      const el = h("div", { class: "bpv" });
      viewRoot.append(el);
      S.viewer = mount(el, rec, { lang: "en", hash: true });
      S.viewer.go(rec.length - 1);
    } else if (atEnd) {
      S.viewer.go(rec.length - 1);
    }
    renderStatus();
  }

  const events = new EventSource(`/api/events?client=${client}`);
  events.addEventListener("steps", (ev) => {
    try { receive(JSON.parse(ev.data)); } catch (err) { showError(err); console.error(err); }
  });
  events.addEventListener("status", (ev) => {
    const d = JSON.parse(ev.data);
    if (d.run !== S.runId) return;
    S.state = d.state;
    if (d.message) showError(d.message);
    renderStatus();
  });

  // -- the API (window.backpropviz), as for `backpropviz html`, plus the training's controls ----
  const api = {
    steps: () => (S.rec ? S.rec.length : 0),
    go: (k) => (S.viewer ? S.viewer.go(k) : 0),
    current: () => (S.viewer ? S.viewer.current() : null),
    lang: (code) => (S.viewer ? S.viewer.lang(code) : "en"),
    views: (list) => (S.viewer ? S.viewer.views(list) : []),
    /** The current settings as the JSON object `backpropviz run --config` reads. */
    config: () => JSON.parse(JSON.stringify(S.config || S.settings)),
    /** The page's settings (FIELDS); given an object, change them (a new run). */
    settings: (changes) => { if (changes) change(changes); return { ...S.settings }; },
    play: (on = true) => (on === false ? api.pause() : enqueue(() => command("play"))),
    pause: () => enqueue(async () => { if (S.runId !== null && S.state === "running") await command("pause"); }),
    step: () => enqueue(() => command("step")),
    reset: () => enqueue(() => newRun()),
    state: () => ({ state: S.state, steps: S.steps, total: S.total, run: S.runId, error: S.message }),
    /** Resolves once every command sent so far is answered. */
    idle: () => queue.then(() => api.state()),
  };

  renderControls();
  clearViewer();
  renderStatus();
  enqueue(() => newRun());
  document.documentElement.dataset.ready = "1";
  window.backpropviz = api;
  return api;
}
