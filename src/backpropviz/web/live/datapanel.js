// The playground's own data: points drawn by clicking on the input plane (data "points"), and a
// CSV file uploaded from the page (data "csv"). Both are run settings like the others (RunConfig's
// `points`; `csv`, `target`, `features`), so they live in the URL and in config(): DATA_FIELDS join
// the playground's table of fields, and dataPanel() draws their controls in the data group. A
// drawn point or a chosen column changes the settings through the playground's change(), as
// every control does (a new run).

import { h } from "bpv/dom.js";
import { fill } from "bpv/format.js";
import { makeCanvas, scale, axes, font, CLASS_COLOURS } from "bpv/canvas.js";

/** The drawing pad's plane: x1 and x2 from -2 to 2, where the toy sets lie. */
export const PLANE = [-2, 2];
const DIGITS = 100;  // a click's coordinates are kept to 0.01: short links, the same numbers in Python
const PAD = { W: 232, H: 228, box: { x: 34, y: 6, w: 192, h: 192 } };
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const REMOVE_RADIUS = 10;  // pixels around a Shift-click that find the point to remove

/** The points of a link's text; the text itself where it is not points (the server says why). */
export function parsePoints(text) {
  if (text === "") return null;
  const parts = text.split(",");
  if (parts.length % 3 !== 0 || !parts.every((p) => NUMBER.test(p))) return text;
  const out = [];
  for (let i = 0; i < parts.length; i += 3) out.push([Number(parts[i]), Number(parts[i + 1]), Number(parts[i + 2])]);
  return out;
}

/** The data panel's fields, for the playground's FIELDS table (custom: no input of their own; the
 * link writes an array joined by commas, so points read x1,x2,class,x1,x2,class,...). */
export const DATA_FIELDS = [
  { name: "points", kind: "panel", custom: true, parse: parsePoints },
  { name: "csv", kind: "panel", custom: true, parse: (s) => s || null },
  { name: "target", kind: "panel", custom: true, parse: (s) => s || null },
  { name: "features", kind: "panel", custom: true, parse: (s) => (s ? s.split(",") : null) },
];

const round = (v) => Math.round(v * DIGITS) / DIGITS + 0;  // + 0: no -0

/** The loss that fits a target (what `run` picks without --loss), else the current one. */
function lossFor(info, loss) {
  if (!info) return loss;
  if (info.task === "regression") return "mse";
  if (info.classes > 2 && loss === "bce") return "ce";
  if (loss === "mse" && info.classes === 2) return "bce";
  return loss;
}

/**
 * The data panel in `group` (the data fieldset). `settings()` gives the page's settings, `change`
 * changes them (a new run), `choices.data_panel` holds the texts and limits. Returns {render}.
 */
export function dataPanel(group, { settings, change, choices }) {
  const opts = choices.data_panel || {};
  const labels = opts.labels || { en: {} };
  const maxPoints = opts.max_points || 2000, maxClasses = opts.max_classes || 10;
  const initialLang = /(?:^#|&)lang=ja(?:&|$)/.test(location.hash) ? "ja" : "en";
  // The viewer's language button sets <html lang>; before the viewer is there, the link's #lang=.
  const lang = () => ((document.documentElement.dataset.langSet ? document.documentElement.lang : initialLang) === "ja" ? "ja" : "en");
  const t = (key, fields = {}) => fill((labels[lang()] || labels.en)[key] ?? labels.en[key] ?? key, fields);
  let picked = 0;
  const uploads = {};  // key -> the server's answer about that file (columns, rows, targets)
  let uploadNote = { key: "", fields: {}, error: false };

  const el = h("div", { class: "bpv-live-datapanel" });
  group.append(el);

  // -- drawn points ------------------------------------------------------------------------------
  const drawBox = h("section", { class: "bpv-live-points" });
  const drawTitle = h("h3", {});
  const classRow = h("div", { class: "bpv-live-classes", role: "group" });
  const hint = h("p", { class: "bpv-note bpv-live-points-hint" });
  const padBox = h("div", { class: "bpv-live-pad-box" });
  const made = makeCanvas(padBox, PAD.W, PAD.H, "bpv-live-pad");
  const pad = made.canvas, g = made.g, box = PAD.box;
  const sx = scale(PLANE[0], PLANE[1], box.x, box.x + box.w);
  const sy = scale(PLANE[0], PLANE[1], box.y + box.h, box.y);
  pad.dataset.plane = [PLANE[0], PLANE[1], PLANE[0], PLANE[1]].join(",");
  pad.dataset.box = [box.x, box.y, box.w, box.h].join(",");
  const count = h("p", { class: "bpv-live-points-count" });
  const undo = h("button", { type: "button", class: "bpv-live-points-undo", onclick: () => setPoints(points().slice(0, -1)) });
  const clear = h("button", { type: "button", class: "bpv-live-points-clear", onclick: () => setPoints([]) });
  const drawNote = h("p", { class: "bpv-note" });
  drawBox.append(drawTitle, classRow, hint, padBox, h("div", { class: "bpv-live-buttons" }, undo, clear), count, drawNote);

  const points = () => (Array.isArray(settings().points) ? settings().points : []);
  const other = () => (picked === 0 ? 1 : 0);

  function setPoints(list) {
    const changes = { data: "points", points: list.length ? list : null };
    const classes = new Set(list.map((p) => p[2]));
    if (classes.size > 2 && settings().loss === "bce") changes.loss = "ce";
    change(changes);
  }

  pad.addEventListener("contextmenu", (e) => e.preventDefault());
  pad.addEventListener("pointerdown", (e) => {  // mouse, pen or touch
    const r = pad.getBoundingClientRect();
    const px = e.clientX - r.left, py = e.clientY - r.top;
    if (px < box.x || px > box.x + box.w || py < box.y || py > box.y + box.h) return;
    e.preventDefault();
    const list = points();
    if (e.shiftKey) {
      let best = -1, bestD = REMOVE_RADIUS;
      list.forEach((p, i) => {
        const d = Math.hypot(sx(p[0]) - px, sy(p[1]) - py);
        if (d <= bestD) { best = i; bestD = d; }
      });
      if (best >= 0) setPoints(list.filter((_, i) => i !== best));
      return;
    }
    if (list.length >= maxPoints) return;
    const c = e.button === 2 ? other() : picked;
    setPoints([...list, [round(sx.invert(px)), round(sy.invert(py)), c]]);
  });

  function drawPad() {
    g.clearRect(0, 0, PAD.W, PAD.H);
    g.fillStyle = "#fff";
    g.fillRect(box.x, box.y, box.w, box.h);
    g.strokeStyle = "#eee";
    g.beginPath();
    g.moveTo(sx(0), box.y); g.lineTo(sx(0), box.y + box.h);
    g.moveTo(box.x, sy(0)); g.lineTo(box.x + box.w, sy(0));
    g.stroke();
    axes(g, box, sx, sy, { nx: 4, ny: 4 });
    g.fillStyle = "#333";
    g.font = font(11);
    g.textAlign = "right";
    g.textBaseline = "top";
    g.fillText("x1", box.x + box.w, box.y + box.h + 18);
    g.textAlign = "left";
    g.fillText("x2", 2, box.y);
    g.save();
    g.beginPath();
    g.rect(box.x, box.y, box.w, box.h);
    g.clip();  // points of a config beyond the pad's plane train, but are not drawn over the axes
    for (const [x, y, c] of points()) {
      g.beginPath();
      g.arc(sx(x), sy(y), 4.5, 0, 2 * Math.PI);
      g.fillStyle = CLASS_COLOURS[c % CLASS_COLOURS.length];
      g.fill();
      g.lineWidth = 1;
      g.strokeStyle = "#222";
      g.stroke();
    }
    g.restore();
  }

  function renderPoints() {
    const list = points();
    const used = list.reduce((m, p) => Math.max(m, p[2] + 1), 0);
    const shown = Math.min(maxClasses, Math.max(2, used + 1));  // one class more than drawn: the next one
    picked = Math.min(picked, shown - 1);
    classRow.textContent = "";
    classRow.setAttribute("aria-label", t("points_pick"));
    for (let k = 0; k < shown; k++) {
      classRow.append(h("button", { type: "button", class: "bpv-live-class", "data-class": String(k),
        "aria-pressed": k === picked ? "true" : "false", style: `--c: ${CLASS_COLOURS[k % CLASS_COLOURS.length]}`,
        onclick: () => { picked = k; renderPoints(); } }, t("points_class", { k })));
    }
    drawTitle.textContent = t("points_title");
    hint.textContent = t("points_hint", { a: picked, b: other() });
    undo.textContent = t("points_undo");
    clear.textContent = t("points_clear");
    undo.disabled = clear.disabled = !list.length;
    const k = new Set(list.map((p) => p[2])).size;
    count.textContent = list.length ? t("points_count", { n: list.length, k }) + (list.length >= maxPoints ? " · " + t("points_full", { n: maxPoints }) : "")
      + (k > 2 && settings().loss === "ce" ? " · " + t("points_ce") : "") : t("points_none");
    drawNote.textContent = t("points_note");
    drawPad();
  }

  // -- an uploaded CSV file ----------------------------------------------------------------------
  const upBox = h("section", { class: "bpv-live-upload" });
  const upTitle = h("h3", {});
  // The browser's own file button speaks the browser's language: ours speaks the page's.
  const file = h("input", { type: "file", name: "csv_file", accept: ".csv,text/csv,text/plain", class: "bpv-live-file" });
  const fileText = h("span", {});
  const fileButton = h("label", { class: "bpv-live-file-button" }, fileText, file);
  const upHelp = h("p", { class: "bpv-note" });
  const upStatus = h("p", { class: "bpv-live-upload-status", "aria-live": "polite" });
  const target = h("select", { name: "target" });
  const targetLabel = h("span", {});
  const featureLabel = h("span", {});
  const featureBox = h("div", { class: "bpv-live-features" });
  const columns = h("div", { class: "bpv-live-columns" },
    h("label", { class: "bpv-live-field" }, targetLabel, target), h("div", { class: "bpv-live-field" }, featureLabel), featureBox);
  const linkNote = h("p", { class: "bpv-note" });
  upBox.append(upTitle, fileButton, upHelp, upStatus, columns, linkNote);
  el.append(drawBox, upBox);

  async function upload(f) {
    uploadNote = { key: "upload_reading", fields: { name: f.name }, error: false };
    renderUpload();
    try {
      if (f.size > opts.max_upload) {
        throw new Error(`a file to upload has at most ${opts.max_upload.toLocaleString("en")} bytes; got ${f.size.toLocaleString("en")}. Use a sample of the file`);
      }
      const r = await fetch(`/api/upload?name=${encodeURIComponent(f.name)}`, { method: "POST", body: f });
      let answer = null;
      try { answer = await r.json(); } catch (e) { /* not JSON: said below */ }
      if (!r.ok || !answer || answer.error) throw new Error((answer && answer.error) || `the server answered ${r.status}`);
      uploads[answer.csv] = answer;
      uploadNote = { key: "", fields: {}, error: false };
      change({ data: "csv", csv: answer.csv, target: answer.target, features: null,
        loss: lossFor(answer.targets[answer.target], settings().loss) });
    } catch (err) {
      uploadNote = { key: "upload_failed", fields: { name: f.name, error: String(err.message || err) }, error: true };
      renderUpload();
    }
    file.value = "";
  }
  file.addEventListener("change", () => { if (file.files && file.files[0]) upload(file.files[0]); });

  // A link names an uploaded file by its key: ask the server for its columns.
  async function describe(key) {
    uploads[key] = { pending: true };
    try {
      const r = await fetch(`/api/upload?csv=${encodeURIComponent(key)}`);
      const answer = await r.json();
      if (!r.ok || answer.error) throw new Error(answer.error || `the server answered ${r.status}`);
      uploads[key] = answer;
    } catch (err) {
      uploads[key] = { error: String(err.message || err) };
    }
    renderUpload();
  }

  target.addEventListener("change", () => {
    const info = uploads[settings().csv];
    change({ target: target.value, features: null, loss: lossFor(info && info.targets && info.targets[target.value], settings().loss) });
  });

  function renderUpload() {
    const s = settings();
    upTitle.textContent = t("upload_title");
    fileText.textContent = t("upload_button");
    upHelp.textContent = t("upload_choose", { kb: Math.round((opts.max_upload || 0) / 1000), rows: opts.max_rows });
    linkNote.textContent = t("upload_link");
    const info = s.csv ? uploads[s.csv] : null;
    if (s.csv && !info) describe(s.csv);
    if (uploadNote.key) {
      upStatus.textContent = t(uploadNote.key, uploadNote.fields);
    } else if (info && info.columns) {
      upStatus.textContent = t("upload_file", { name: info.name, rows: info.rows, cols: info.columns.length, hash: info.sha256.slice(0, 12) });
    } else {
      upStatus.textContent = s.csv ? (info && info.error) || "" : t("upload_none");
    }
    upStatus.classList.toggle("bpv-live-upload-error", uploadNote.error || Boolean(info && info.error));
    columns.hidden = !(info && info.columns);
    if (!(info && info.columns)) return;
    targetLabel.textContent = t("upload_target");
    featureLabel.textContent = t("upload_features");
    target.textContent = "";
    for (const c of info.columns) target.append(h("option", { value: c }, c));
    const lower = (v) => String(v).toLowerCase();
    const chosen = info.columns.find((c) => lower(c) === lower(s.target)) || s.target;
    target.value = chosen;
    featureBox.textContent = "";
    const candidates = info.columns.filter((c) => c !== chosen);
    const on = s.features ? new Set(s.features.map(lower)) : null;
    for (const c of candidates) {
      const box = h("input", { type: "checkbox", name: "feature", value: c });
      box.checked = !on || on.has(lower(c));
      box.addEventListener("change", () => {
        const next = [...featureBox.querySelectorAll("input")].filter((b) => b.checked).map((b) => b.value);
        if (!next.length) { box.checked = true; return; }  // at least one input
        change({ features: next.length === candidates.length ? null : next });
      });
      featureBox.append(h("label", { class: "bpv-live-feature" }, box, c));
    }
  }

  // Another data set: the points (or the file and its columns) leave the settings, which must not
  // name them for another data set, and come back when their data set is chosen again.
  const aside = { points: { points: null }, csv: { csv: null, target: null, features: null } };
  function switchData(next) {
    const s = settings(), from = String(s.data).toLowerCase(), to = String(next).toLowerCase();
    const changes = {};
    if (from === to) return changes;
    if (aside[from]) {
      const kept = {};
      for (const k of Object.keys(aside[from])) { kept[k] = s[k]; changes[k] = null; }
      aside[from] = kept;
    }
    if (aside[to]) Object.assign(changes, aside[to]);
    return changes;
  }

  function render() {
    const data = String(settings().data).toLowerCase();
    drawBox.hidden = data !== "points";
    upBox.hidden = data !== "csv";
    if (data === "points") renderPoints();
    if (data === "csv") renderUpload();
  }

  // The viewer's language button sets <html lang>: the panel follows it.
  new MutationObserver(() => { document.documentElement.dataset.langSet = "1"; render(); })
    .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  render();
  return { render, switchData };
}
