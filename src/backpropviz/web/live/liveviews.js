// The playground's views that come after the steps (web/livework.py computes them in the
// background): the loss surface of the path so far, with its progress while it is computed; the
// traced steps of the computation graph and the chain-rule table, asked for the step the page
// stops at; the per-epoch metrics of the loss view. Each arrives as a server-sent event and goes
// into the recording's page data (rec.meta), as `backpropviz html` would have put it there; the
// viewer then rebuilds its views (viewer.refresh()).
//
// For the perceptron, a click on the loss surface away from the path starts a new run from that
// (w1, w2), b kept at the current run's start: `start([w1, w2, b])` (the playground's settings).
//
// Texts come from the page's catalogue (rec.meta.labels, keys live_*), in the viewer's language.

import { fill, fmt } from "bpv/format.js";
import { h } from "bpv/dom.js";
import { surfaceOf } from "bpv/views/surfacelib.js";

const ORDER = ["boundary", "params", "loss", "surface", "surface3d", "network", "graph", "chain", "update"];
const SETTLE_MS = 250;   // a step the viewer stays on this long gets traced
const PATH_PX = 12;      // a click this close to the path is the surface view's own (go to that step)

/**
 * Wire the live views into the playground. `S` is the playground's state ({rec, viewer, runId,
 * state}); `events` its EventSource; `side` the controls' column; `viewRoot` the viewer's place;
 * `enqueue(fn)` runs fn after the commands sent before it; `send(msg)` posts one command;
 * `start(init)` starts a new run from the initial parameters `init`.
 */
export function liveViews({ S, events, side, viewRoot, enqueue, send, start }) {
  const W = { run: null, progress: null, surfaceSteps: null, surfaceMethod: null, traced: [], asked: new Set(),
              tracing: null, error: "", log: [], at: -1, since: 0, hasSteps: false };
  const legend = h("legend", {});
  const surfaceLine = h("p", { class: "bpv-note bpv-live-surface-status", "aria-live": "polite" });
  const bar = h("progress", { class: "bpv-live-progress", max: "1", value: "0" });
  const now = h("button", { type: "button", class: "bpv-live-surface-now", onclick: () => askSurface() });
  const traceLine = h("p", { class: "bpv-note bpv-live-trace-status" });
  const pickLine = h("p", { class: "bpv-note bpv-live-pick" });
  const errorLine = h("p", { class: "bpv-live-error bpv-live-views-error" });
  const box = h("fieldset", { class: "bpv-live-group bpv-live-views" }, legend, surfaceLine, bar,
    h("div", { class: "bpv-live-buttons" }, now), traceLine, pickLine, errorLine);
  side.append(box);

  const meta = () => (S.rec ? S.rec.meta : null);
  const lang = () => (document.documentElement.lang === "ja" ? "ja" : "en");
  const t = (key, fields) => {
    const m = meta();
    const labels = m ? m.labels[lang()] || m.labels.en : null;
    return labels && labels[key] !== undefined ? fill(labels[key], fields) : "";
  };
  const perceptron = () => {
    const m = meta();
    return !!m && m.run.model.kind === "perceptron" && m.run.param_names.length === 3;
  };

  function newRun() {  // the playground started another run: nothing of the last one is kept
    W.run = S.runId;
    W.progress = null; W.surfaceSteps = null; W.surfaceMethod = null; W.traced = []; W.asked = new Set();
    W.tracing = null; W.error = ""; W.at = -1;
  }
  const current = (d) => {
    if (S.runId !== W.run) newRun();
    return !!S.rec && d.run === S.runId;
  };

  function render() {
    box.style.display = S.rec ? "" : "none";
    if (!S.rec) return;
    legend.textContent = t("live_panel");
    now.textContent = t("live_surface_now");
    now.title = t("live_surface_now_title");
    now.disabled = !(S.rec.length > 0) || (W.progress && W.progress.kind === "surface");
    const p = W.progress && W.progress.kind === "surface" ? W.progress : null;
    bar.style.display = p ? "" : "none";
    if (p) {
      const f = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
      bar.value = f;
      surfaceLine.textContent = t("live_surface_progress", { n: p.steps, pct: `${Math.round(100 * f)}%` });
    } else if (W.surfaceSteps !== null) {
      surfaceLine.textContent = t(W.surfaceMethod === "params" ? "live_surface_params" : "live_surface_pca",
        { n: W.surfaceSteps });
    } else {
      surfaceLine.textContent = t("live_surface_waiting");
    }
    traceLine.textContent = W.tracing !== null ? t("live_tracing", { step: W.tracing })
      : W.traced.length ? t("live_traced", { n: W.traced.length }) : t("live_graph_pending");
    pickLine.style.display = perceptron() && W.surfaceMethod === "params" && S.rec.length > 0 ? "" : "none";
    if (pickLine.style.display === "") pickLine.textContent = t("live_pick", { b: fmt(S.rec.params(0)[2]) });
    errorLine.textContent = W.error ? t("live_failed", { message: W.error }) : "";
    box.dataset.surfaceSteps = W.surfaceSteps === null ? "" : String(W.surfaceSteps);
    box.dataset.traced = W.traced.join(",");
  }

  /** Put `value` into the page data as `key`, show `views`, drop the note that said it was pending;
   * only the views that draw it are made again (a traced step leaves the charts as they are). */
  function apply(key, value, views, pending) {
    const m = meta();
    m[key] = value;
    m.views = ORDER.filter((v) => m.views.includes(v) || views.includes(v));
    m.omitted = (m.omitted || []).filter((o) => o.view !== pending);
    if (S.viewer) S.viewer.refresh(views);
  }

  const listen = (name, fn) => events.addEventListener(name, (ev) => {
    if (!events.ofRun(ev, S.runId)) return;  // (a run no longer shown: dropped unparsed)
    let d;
    try { d = JSON.parse(ev.data); } catch (err) { return; }
    if (!current(d)) return;
    W.log.push({ name, ms: performance.now(), steps: d.steps, done: d.done, total: d.total, kind: d.kind });
    if (W.log.length > 500) W.log.splice(0, W.log.length - 500);
    fn(d);
    render();
  });
  listen("progress", (d) => {
    if (d.kind === "error") { W.error = d.message; W.progress = null; W.tracing = null; return; }
    W.progress = d;
  });
  listen("surface", (d) => {
    W.progress = null; W.error = "";
    W.surfaceSteps = d.steps;
    W.surfaceMethod = d.surface.method;
    apply("surface", d.surface, ["surface", "surface3d"], "surface");
  });
  listen("trace", (d) => {
    W.traced = d.steps;
    W.tracing = null;
    const m = meta();
    const chain = m.run.model.kind === "perceptron" && m.run.model.output === "sigmoid";
    apply("trace", d.trace, chain ? ["graph", "chain"] : ["graph"], "graph");
  });
  listen("epochs", (d) => {
    // the loss view reads these on its next redraw: every new step, or now when none is coming
    Object.assign(meta().epochs, d.epochs);
    if (S.viewer && S.state !== "running") S.viewer.refresh(["loss"]);
  });

  function askSurface() {
    const run = S.runId;
    enqueue(async () => {
      if (S.runId !== run) return;
      try { await send({ action: "surface" }); W.error = ""; } catch (err) { W.error = String(err.message || err); }
      render();
    });
  }

  function askTrace(k) {
    const run = S.runId;
    W.asked.add(k);
    W.tracing = k;
    render();
    enqueue(async () => {
      if (S.runId !== run) return;
      try { await send({ action: "trace", steps: [k] }); } catch (err) { W.error = String(err.message || err); W.tracing = null; }
      render();
    });
  }

  // The step the viewer stops at is traced (not while it follows a running training's newest step).
  setInterval(() => {
    const hasSteps = !!S.rec && S.rec.length > 0;
    if (S.runId !== W.run || hasSteps !== W.hasSteps) {  // a new run; its first steps ("surface now" can be pressed)
      if (S.runId !== W.run) newRun();
      W.hasSteps = hasSteps;
      render();
    }
    if (!S.viewer || !hasSteps) return;
    const k = S.viewer.current().index;
    const following = S.state === "running" && k >= S.rec.length - 1;
    if (k !== W.at || following) { W.at = following ? -1 : k; W.since = performance.now(); return; }
    if (performance.now() - W.since < SETTLE_MS || W.traced.includes(k) || W.asked.has(k)) return;
    askTrace(k);
  }, 100);
  new MutationObserver(render).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });

  // The perceptron's start, clicked on the loss surface (its w1-w2 plane), away from the path.
  viewRoot.addEventListener("click", (e) => {
    const canvas = e.target;
    if (!perceptron() || !canvas.classList || !canvas.classList.contains("bpv-surface-overlay")) return;
    const surf = surfaceOf(S.rec);
    const root = canvas.closest(".bpv-surface");
    if (!surf || surf.method !== "params" || !root) return;
    const [bx, by, bw, bh] = root.dataset.box.split(",").map(Number);
    const [x0, x1, y0, y1] = root.dataset.window.split(",").map(Number);
    const x = e.offsetX, y = e.offsetY;
    if (x < bx || x > bx + bw || y < by || y > by + bh) return;
    for (let r = 0; r < surf.rows; r++) {
      const px = bx + ((surf.path[2 * r] - x0) / (x1 - x0)) * bw;
      const py = by + bh - ((surf.path[2 * r + 1] - y0) / (y1 - y0)) * bh;
      if (Math.hypot(px - x, py - y) < PATH_PX) return;
    }
    start(startAt(x, y, [bx, by, bw, bh], [x0, x1, y0, y1], S.rec.params(0)[2]));
  });

  render();
  const state = () => ({ surfaceSteps: W.surfaceSteps, traced: W.traced.slice(), error: W.error,
    progress: W.progress && { ...W.progress }, log: W.log.slice() });
  window.backpropvizLive = { state, surface: askSurface, trace: (k) => askTrace(k) };
  return window.backpropvizLive;
}

/**
 * The (w1, w2, b) of a click at pixel (x, y) of a w1-w2 plane drawn in `box` ([x, y, w, h]) for
 * `win` ([w1 min, w1 max, w2 min, w2 max]): rounded to the decimals a pixel can tell apart.
 */
export function startAt(x, y, [bx, by, bw, bh], [x0, x1, y0, y1], b) {
  const w1 = x0 + ((x - bx) / bw) * (x1 - x0);
  const w2 = y0 + ((by + bh - y) / bh) * (y1 - y0);
  const round = (v, unit) => {
    const digits = Math.max(0, Math.min(8, Math.ceil(-Math.log10(unit))));
    return Number(v.toFixed(digits));
  };
  return [round(w1, (x1 - x0) / bw), round(w2, (y1 - y0) / bh), b];
}
