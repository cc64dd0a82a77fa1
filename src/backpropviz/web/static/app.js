// The viewer's wiring: one state object ({step, views, lang, playing, speed}), one render(state).
// Every control, key and click changes the state and calls render; the views only draw the step
// they are given (each view module: create(el, recording, ctx) -> {update(k)}).

import { fill, fmt } from "bpv/format.js";
import { readHash, writeHash } from "bpv/state.js";
import { h } from "bpv/dom.js";
import { usePalette } from "bpv/canvas.js";
import * as boundary from "bpv/views/boundary.js";
import * as params from "bpv/views/params.js";
import * as losses from "bpv/views/loss.js";
import * as surface from "bpv/views/surface.js";
import * as surface3d from "bpv/views/surface3d.js";
import * as network from "bpv/views/network.js";
import * as graph from "bpv/views/graph.js";
import * as chain from "bpv/views/chain.js";
import * as update from "bpv/views/update.js";
import * as layers from "bpv/views/layers.js";
import * as dists from "bpv/views/dists.js";
import * as snappath from "bpv/views/snappath.js";

const VIEW_MODULES = { boundary, params, loss: losses, surface, surface3d, network, graph, chain, update, layers, dists, snappath };
const SPEEDS = [1, 2, 5, 10, 25, 50];

/**
 * Mount the viewer in `root` for `rec` (a Recording). Returns the API that window.backpropviz
 * exposes: steps(), go(k), current(), lang(code), views(list); and for a live host replace(rec)
 * (another run in the same viewer) and refresh(views) (data that came after mounting).
 */
export function mount(root, rec, { lang = "en", hash = true } = {}) {
  let page = rec.meta;
  usePalette(page.palette);
  let available = page.views.filter((v) => VIEW_MODULES[v]);
  const fromHash = hash ? readHash(location.hash) : {};
  const state = {
    step: 0, views: available.slice(), lang: page.labels[lang] ? lang : "en", playing: false, speed: 5,
    ...fromHash,
  };
  state.views = state.views.filter((v) => available.includes(v));
  if (!state.views.length) state.views = available.slice();
  state.step = clampStep(state.step);

  let views = {};       // name -> {el, title, body, view}: the cards shown, in the page's order
  let timer = null;
  let lastFrame = 0;
  const lastRender = { ms: 0 };
  const lastBuild = { ms: 0, views: {} };  // how long the last (re)build of views took, each

  function clampStep(k) {
    const n = rec.length;
    k = Math.round(Number(k));
    if (!Number.isFinite(k)) k = 0;
    return Math.max(0, Math.min(n - 1, k));
  }
  const L = () => page.labels[state.lang];
  // A regression run has no decision boundary: its first view is the prediction over the plane.
  const viewTitle = (name) => t(name === "boundary" && page.run.model.output === "identity" ? "view_prediction" : `view_${name}`);
  const t = (key, fields) => fill(L()[key] ?? page.labels.en[key] ?? key, fields);

  // -- the frame: title, controls, views ------------------------------------------------------
  root.textContent = "";
  root.classList.add("bpv");
  const title = h("h1", { class: "bpv-title" });
  const subtitle = h("p", { class: "bpv-subtitle" });
  const langBtn = h("button", { class: "bpv-lang", type: "button", onclick: () => set({ lang: state.lang === "en" ? "ja" : "en" }) });
  const header = h("header", { class: "bpv-header" }, h("div", {}, title, subtitle), langBtn);

  const back = h("button", { type: "button", class: "bpv-back", onclick: () => set({ step: state.step - 1, playing: false }) }, "◀");
  const play = h("button", { type: "button", class: "bpv-play", onclick: () => set({ playing: !state.playing }) });
  const fwd = h("button", { type: "button", class: "bpv-fwd", onclick: () => set({ step: state.step + 1, playing: false }) }, "▶");
  const slider = h("input", { type: "range", class: "bpv-slider", min: "0", max: String(rec.length - 1), step: "1" });
  slider.addEventListener("input", () => set({ step: Number(slider.value), playing: false }));
  const speed = h("select", { class: "bpv-speed" });
  for (const s of SPEEDS) speed.append(h("option", { value: String(s) }, `${s}×`));
  speed.addEventListener("change", () => set({ speed: Number(speed.value) }));
  const speedLabel = h("label", { class: "bpv-speed-label" });
  const readout = h("div", { class: "bpv-readout", "aria-live": "polite" });
  const controls = h("div", { class: "bpv-controls" }, back, play, fwd, slider, speedLabel, speed, readout);

  const picker = h("div", { class: "bpv-picker" });
  const notes = h("div", { class: "bpv-notes" });
  const grid = h("main", { class: "bpv-grid" });
  root.append(header, controls, picker, notes, grid);

  /**
   * The chosen views' cards, each view made in its card. A card already there is kept (its place
   * and size: no reflow of the page around it); its view is made again when `only` names it, or
   * always when `only` is null (another language, another run). The cards' widths are read once,
   * before anything changes (the last frame's layout, no layout forced) and before any view draws:
   * a view that read its own would force a layout of the page each. `made`: views made beforehand
   * (prepare()), each {body, view}, put in their cards instead of being made here. `next`: another
   * recording (replace()), which a view that can takes in place (view.rebind(next): its canvases,
   * charts and tables stay) instead of being made again.
   */
  function buildViews(only = null, made = {}, next = null) {
    const t0 = performance.now();
    const wanted = available.filter((v) => state.views.includes(v));
    const width = cardWidths();
    for (const [name, entry] of Object.entries(views)) {
      if (wanted.includes(name)) continue;
      dispose(entry);
      entry.el.remove();
      delete views[name];
    }
    const fresh = [];
    let before = null;
    for (const name of wanted) {
      let entry = views[name];
      const ready = made[name];
      delete made[name];
      if (!entry) {
        const title = h("h2", {});
        const body = ready ? ready.body : h("div", { class: "bpv-body" });
        const card = h("section", { class: `bpv-card bpv-view-${name}`, "data-view": name }, title, body);
        grid.insertBefore(card, before ? before.nextSibling : grid.firstChild);
        views[name] = entry = { el: card, title, body, view: ready ? ready.view : null };
        if (!ready) fresh.push(name);
      } else if (ready) {
        dispose(entry);
        entry.body.replaceWith(ready.body);
        entry.body = ready.body;
        entry.view = ready.view;
      } else if (next && rebound(entry, next)) {
        // (kept: drawn at the step shown, as the others)
      } else if (only === null || only.includes(name)) {
        dispose(entry);
        entry.body.textContent = "";
        fresh.push(name);
      }
      const heading = viewTitle(name);
      if (entry.title.textContent !== heading) entry.title.textContent = heading;
      before = entry.el;
    }
    for (const ready of Object.values(made)) dispose(ready);  // (made for a view no longer chosen)
    // (cards new to the page: one layout for all of them)
    const widths = fresh.map((name) => width[name] || views[name].body.clientWidth);
    const each = {};
    fresh.forEach((name, i) => {
      const v0 = performance.now();
      views[name].view = makeView(name, views[name].body, widths[i]);
      each[name] = performance.now() - v0;
    });
    lastBuild.ms = performance.now() - t0;
    lastBuild.views = each;
  }

  /** The cards' content widths, from the last layout (read before the page changes: none forced). */
  function cardWidths() {
    const width = {};
    for (const [name, entry] of Object.entries(views)) width[name] = entry.body.clientWidth;
    return width;
  }

  /** View `name` made in `body` for the recording in use; null if it failed (its body says so). */
  function makeView(name, body, width) {
    const ctx = { t, lang: state.lang, labels: L(), go: (k) => set({ step: k, playing: false }), fmt, width };
    try {
      return VIEW_MODULES[name].create(body, rec, ctx);
    } catch (err) {
      body.textContent = t("view_failed", { error: String(err && err.message || err) });
      console.error(`view ${name}:`, err);
      return null;
    }
  }

  /** Whether the view of `entry` now shows `next` in place (views that can: view.rebind). */
  function rebound(entry, next) {
    if (!entry.view || !entry.view.rebind) return false;
    try {
      return entry.view.rebind(next) === true;
    } catch (err) {
      console.error("view rebind:", err);
      return false;
    }
  }
  /** Whether the view of `name` could take `next` in place (prepare() then makes no view for it). */
  function fits(name, next) {
    const view = views[name] && views[name].view;
    try {
      return !!(view && view.fits && view.rebind && view.fits(next));
    } catch (err) {
      return false;
    }
  }

  /** A view's end: what it keeps listening to (a chart's growth) is let go. */
  function dispose(entry) {
    const view = entry.view;
    entry.view = null;
    if (view && view.destroy) {
      try { view.destroy(); } catch (err) { console.error("view destroy:", err); }
    }
  }

  function buildFrame() {
    // (set only when it changes: even the same language set again restyles the whole page, at once)
    if (document.documentElement.lang !== state.lang) document.documentElement.lang = state.lang;
    title.textContent = page.title || t("page_title");
    subtitle.textContent = describeRun();
    langBtn.textContent = state.lang === "en" ? "日本語" : "English";
    play.title = t("play");
    back.title = t("step_back");
    fwd.title = t("step_forward");
    speedLabel.textContent = t("speed");
    // The picker is made again only when its views or its language change (not for every run).
    const pickerKey = `${state.lang}:${available.join(",")}:${state.views.join(",")}`;
    if (picker.dataset.key !== pickerKey) buildPicker(pickerKey);
    notes.textContent = "";
    const lines = [];
    for (const o of page.omitted || []) lines.push(o.reason[state.lang] || o.reason.en);
    if (rec.thinned) lines.push(t("thinned", { kept: rec.length, total: rec.total }));
    // "diverged", "interrupted at step N", ...: the first word names the catalogue's text
    const status = String(page.run.status || "completed").split(" ")[0];
    if (status !== "completed" && L()["status_" + status]) lines.push(t("status_" + status, { n: rec.total, last: rec.total - 1 }));
    for (const line of lines) notes.append(h("p", {}, line));
  }

  function buildPicker(key) {
    picker.dataset.key = key;
    picker.textContent = "";
    for (const name of available) {
      const box = h("input", { type: "checkbox", value: name });
      box.checked = state.views.includes(name);
      box.addEventListener("change", () => {
        const chosen = available.filter((v) => (v === name ? box.checked : state.views.includes(v)));
        set({ views: chosen.length ? chosen : [name] });
      });
      picker.append(h("label", {}, box, " " + viewTitle(name)));
    }
  }

  function describeRun() {
    const c = page.run.config;
    if (page.recording) {  // a recording of the user's own loop (web/packrec.py)
      return t("rec_run_line", { params: page.recording.n_params.toLocaleString("en"), layers: page.recording.layers.names.length,
        optimizer: c.optimizer, steps: rec.total, status: page.recording.status_text[state.lang] || page.run.status });
    }
    const batch = page.run.full_batch ? t("full_batch") : t("batch_of", { n: c.batch_size });
    // The lr the last step took, where it is not the starting one (a schedule, a change on a live page).
    const now = rec.length ? rec.lr(rec.length - 1) : c.lr;
    const lr = Number.isFinite(now) && now !== Math.fround(c.lr) ? `${fmt(c.lr)} → ${fmt(now)}` : fmt(c.lr);  // (rates are float32)
    return t("run_line", { data: c.data === "csv" ? (c.csv || "csv") : c.data, model: c.model, loss: c.loss,
      optimizer: c.optimizer, lr, epochs: c.epochs, batch,
      // (a live run: the steps made so far of those planned)
      steps: page.run.planned_steps > rec.total ? `${rec.total} / ${page.run.planned_steps}` : rec.total });
  }

  // -- render(state) ----------------------------------------------------------------------------
  let growDraw = false;  // the views' redraw for steps appended, due in a microtask (grown)
  function renderStep() {
    growDraw = false;
    const k = state.step;
    const t0 = performance.now();
    slider.value = String(k);
    const ep = rec.epoch(k);
    readout.textContent = t(page.recording ? "rec_readout" : "readout", { step: rec.stepNumber(k), last: rec.total - 1, epoch: ep,
      loss: fmt(rec.loss(k)) });
    const each = {};
    for (const [name, entry] of Object.entries(views)) {
      if (!entry.view) continue;  // (a view that failed to be made says so in its card)
      const v0 = performance.now();
      try {
        entry.view.update(k);
      } catch (err) {  // one broken view must not stop the others: it says so in its card
        console.error(`view ${name}:`, err);
        dispose(entry);
        entry.body.textContent = t("view_failed", { error: String(err && err.message || err) });
      }
      each[name] = performance.now() - v0;
    }
    lastRender.ms = performance.now() - t0;
    lastRender.views = each;
  }

  function set(changes) {
    const before = { ...state };
    Object.assign(state, changes);
    state.step = clampStep(state.step);
    if (state.step >= rec.length - 1 && changes.playing === true && before.step >= rec.length - 1) state.step = 0;
    if (changes.lang !== undefined && changes.lang !== before.lang) {
      buildFrame();
      buildViews();        // every view: their texts are in the language
    } else if (changes.views !== undefined) {
      buildFrame();
      buildViews([]);      // only the cards added: the others stay as they are
    }
    // (each written only when it changes: set() runs every frame of a play. A <select>'s value set
    // again, even to the same choice, has Chromium's autofill parse the page's forms anew: half a
    // core of the browser's process at 60 frames a second, taken from the page and the server)
    const glyph = state.playing ? "❚❚" : "►";
    if (play.textContent !== glyph) play.textContent = glyph;
    play.setAttribute("aria-pressed", String(state.playing));
    if (speed.value !== String(state.speed)) speed.value = String(state.speed);
    renderStep();
    if (hash) writeHashSoon();
    if (state.playing && !timer) {
      lastFrame = performance.now();
      timer = requestAnimationFrame(tick);
    }
  }

  // The URL follows the state, written once the scrubbing pauses: replaceState costs as much as
  // a view's redraw, and a link needs only where it stopped.
  let hashTimer = null;
  function writeHashSoon() {
    clearTimeout(hashTimer);
    hashTimer = setTimeout(() => history.replaceState(null, "", writeHash({ step: state.step, views: state.views, lang: state.lang })), 120);
  }

  function tick(now) {
    timer = null;
    if (!state.playing) return;
    const stepsPerSecond = 10 * state.speed;
    const advance = Math.floor(((now - lastFrame) / 1000) * stepsPerSecond);
    if (advance >= 1) {
      lastFrame = now;
      const next = state.step + advance;
      if (next >= rec.length - 1) set({ step: rec.length - 1, playing: false });
      else set({ step: next });
    }
    if (state.playing) timer = requestAnimationFrame(tick);
  }

  root.addEventListener("keydown", (e) => {
    if (e.target && e.target.tagName === "SELECT") return;
    if (e.key === "ArrowRight") { set({ step: state.step + 1, playing: false }); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { set({ step: state.step - 1, playing: false }); e.preventDefault(); }
    else if (e.key === " " && e.target.tagName !== "BUTTON") { set({ playing: !state.playing }); e.preventDefault(); }
    else if (e.key === "Home") { set({ step: 0, playing: false }); e.preventDefault(); }
    else if (e.key === "End") { set({ step: rec.length - 1, playing: false }); e.preventDefault(); }
  });
  root.tabIndex = 0;
  window.addEventListener("hashchange", () => {
    const hs = readHash(location.hash);
    if (hs.step !== undefined && hs.step !== state.step) set({ step: hs.step });
  });
  // (a live host: once a frame) only the step count in the subtitle changes, and the views are drawn
  // again in a microtask, unless the host shows a step at once (then it draws them): the playground
  // appends and goes to the last step, and every view was drawn twice a frame.
  const grown = () => {
    slider.max = String(rec.length - 1);
    subtitle.textContent = describeRun();
    if (!growDraw) {
      growDraw = true;
      queueMicrotask(() => { if (growDraw) renderStep(); });
    }
  };
  let stopGrowing = rec.onGrow(grown);

  // The views the page data offers now; those not offered before are shown.
  function takeViews() {
    const before = available;
    available = page.views.filter((v) => VIEW_MODULES[v]);
    state.views = available.filter((v) => state.views.includes(v) || !before.includes(v));
    if (!state.views.length) state.views = available.slice();
  }

  // A live host's data that came after mounting (its loss surface, traced steps, per-epoch
  // metrics: web/live/liveviews.js): the views that use it (`names`; all when not given) are made
  // again, views offered now are added, the others stay as they are.
  function refresh(names = null) {
    takeViews();
    buildFrame();
    buildViews(names);
    renderStep();
  }

  // Another run in this viewer (a live host's new run), in `lang` if given, shown at `step`: the
  // frame, its controls and the cards stay; every view is made again for `next` (a view's shape
  // follows the model: the network's layers, the parameters' list).
  function replace(next, { lang = null, step = 0 } = {}) {
    const ready = prepared && prepared.rec === next && (!lang || prepared.lang === lang) ? prepared.made : {};
    if (ready !== (prepared && prepared.made)) discardPrepared();
    prepared = null;
    stopGrowing();
    const before = { lang: state.lang };
    rec = next;
    page = next.meta;
    if (lang && page.labels[lang]) state.lang = lang;
    const sameLang = state.lang === before.lang;
    usePalette(page.palette);
    takeViews();
    stopGrowing = rec.onGrow(grown);
    // (first: it reads the cards' widths from the last frame's layout; views in another language
    // are made again)
    buildViews(null, ready, sameLang ? next : null);
    buildFrame();
    slider.max = String(Math.max(0, rec.length - 1));
    set({ step, playing: false });  // the views' first draw of this run, at `step`
  }

  buildFrame();
  buildViews();
  set({});

  // A live host that knows the next run's page data before its first steps (the command's answer
  // comes first) has its views made off the page meanwhile: replace(next) then only puts them in
  // their cards and draws them. The page shown is not changed.
  let prepared = null;  // {rec, lang, made: {name: {body, view}}}
  const lastPrepare = { ms: 0, views: {} };  // how long the last prepare() took, each view
  function prepare(next, { lang = null } = {}) {
    discardPrepared();
    const width = cardWidths();
    const saved = { rec, page, available, views: state.views, lang: state.lang };
    const made = {};
    const t0 = performance.now(), each = {};
    try {
      rec = next;
      page = next.meta;
      if (lang && page.labels[lang]) state.lang = lang;
      takeViews();
      const sameLang = state.lang === saved.lang;
      for (const name of available) {
        // (a view without a card yet is made in its card by replace(): its width is known there;
        // one that can take the next run in place takes it there)
        if (!state.views.includes(name) || !(name in width) || (sameLang && fits(name, next))) continue;
        const body = h("div", { class: "bpv-body" });
        const v0 = performance.now();
        made[name] = { body, view: makeView(name, body, width[name]) };
        each[name] = performance.now() - v0;
      }
      prepared = { rec: next, lang: state.lang, made };
      lastPrepare.ms = performance.now() - t0;
      lastPrepare.views = each;
    } finally {
      ({ rec, page, available } = saved);
      state.views = saved.views;
      state.lang = saved.lang;
    }
  }
  function discardPrepared() {
    if (prepared) for (const ready of Object.values(prepared.made)) dispose(ready);
    prepared = null;
  }

  return {
    refresh,
    replace,
    prepare,
    steps: () => rec.length,
    go: (k) => { set({ step: k, playing: false }); return state.step; },
    current: () => {
      const k = state.step;
      return { step: rec.stepNumber(k), index: k, epoch: rec.epoch(k), params: Array.from(rec.params(k)),
        grad: Array.from(rec.grad(k)), loss: rec.loss(k), names: rec.names.slice(), lang: state.lang,
        views: state.views.slice() };
    },
    lang: (code) => { set({ lang: code }); return state.lang; },
    views: (list) => { if (list) set({ views: list.filter((v) => available.includes(v)) }); return state.views.slice(); },
    play: (on = true) => set({ playing: !!on }),
    lastRenderMs: () => lastRender.ms,
    lastRenderViews: () => ({ ...lastRender.views }),
    lastBuild: () => ({ ms: lastBuild.ms, views: { ...lastBuild.views } }),
    lastPrepare: () => ({ ms: lastPrepare.ms, views: { ...lastPrepare.views } }),
    growListeners: () => rec.listenerCount,  // the viewer's own and one per chart shown
    renderAll: () => { const t0 = performance.now(); renderStep(); return performance.now() - t0; },
  };
}
