// The playground's export panel: the page's run as files (web/exports.py makes them): the history
// and the offline page of the steps recorded so far, the plain-PyTorch script, the settings, and
// the `backpropviz run` command line, shown to copy.
//
// The panel reads the playground's state object S ({runId, state, steps, lang}) and asks the server
// for what to show (GET /api/export/info) when the run, its state or the language change, at most
// once a second while it trains. Texts come from the catalogue (labels, keys export_*).

import { fill } from "bpv/format.js";
import { h } from "bpv/dom.js";

const FILES = ["history", "page", "script", "config"];
const NEED_STEPS = new Set(["history", "page"]);  // files of recorded steps: none before the first
const STYLE = `
.bpv-live-export .bpv-live-buttons a { display: inline-block; padding: 3px 8px; border: 1px solid #999; border-radius: 3px;
  background: #f8f8f8; color: inherit; text-decoration: none; font-size: 12px; }
.bpv-live-export .bpv-live-buttons a[aria-disabled="true"] { opacity: 0.45; pointer-events: none; }
.bpv-live-command { width: 100%; box-sizing: border-box; font: 11px/1.35 ui-monospace, SFMono-Regular, Menlo, monospace;
  resize: vertical; margin: 4px 0 2px; }
.bpv-live-copied { color: var(--bpv-muted); margin-left: 6px; }
`;

/**
 * Put the export panel at the end of `side` (the controls' column). `S` is the playground's state,
 * `client` the page's id for the server, `labels` the catalogue ({en: {...}, ja: {...}}).
 */
export function exportPanel({ S, side, client, labels }) {
  const t = (key, fields) => fill(labels[S.lang]?.["export_" + key] ?? labels.en?.["export_" + key] ?? key, fields);
  if (!document.querySelector("style[data-bpv-export]")) document.head.append(h("style", { "data-bpv-export": "1" }, STYLE));
  const legend = h("legend", {});
  const links = Object.fromEntries(FILES.map((kind) => [kind, h("a", { class: `bpv-live-export-${kind}`, download: "" })]));
  const stepsLine = h("p", { class: "bpv-note bpv-live-export-steps" });
  const commandLabel = h("span", {});
  const command = h("textarea", { class: "bpv-live-command", readonly: "", rows: "4", spellcheck: "false" });
  const copied = h("span", { class: "bpv-live-copied", "aria-live": "polite" });
  const copy = h("button", { type: "button", class: "bpv-live-copy", onclick: () => copyCommand() });
  const noteLine = h("p", { class: "bpv-note bpv-live-export-note" });
  const box = h("fieldset", { class: "bpv-live-group bpv-live-export", hidden: "" }, legend,
    h("div", { class: "bpv-live-buttons" }, ...FILES.map((kind) => links[kind])), stepsLine,
    h("label", { class: "bpv-live-export-command" }, commandLabel, command),
    h("div", {}, copy, copied), noteLine);
  side.append(box);

  let info = null, shownKey = "", asked = 0, busy = false;

  function render() {
    legend.textContent = t("legend");
    commandLabel.textContent = t("command");
    copy.textContent = t("copy");
    if (copied.textContent) copied.textContent = t("copied");
    if (!info) { box.hidden = true; return; }
    box.hidden = false;
    const query = `client=${encodeURIComponent(client)}&run=${info.run}&lang=${S.lang}`;
    for (const kind of FILES) {
      const a = links[kind];
      a.textContent = t(kind);
      a.title = t(kind + "_title");
      const off = NEED_STEPS.has(kind) && !info.steps;
      a.setAttribute("aria-disabled", off ? "true" : "false");
      if (off) a.removeAttribute("href");
      else a.href = `/api/export/${kind}?${query}`;
      a.setAttribute("download", info.names[kind]);
    }
    stepsLine.textContent = info.steps ? t("steps", { steps: info.steps, total: info.total }) : t("no_steps");
    if (command.value !== info.command) command.value = info.command;
    noteLine.textContent = info.needs_config ? t("needs_config", { file: info.names.config })
      : info.steps ? t("command_note", { steps: info.steps, total: info.total }) : "";
  }

  async function refresh(key) {
    busy = true;
    asked = performance.now();
    try {
      const r = await fetch(`/api/export/info?client=${encodeURIComponent(client)}`, { cache: "no-store" });
      const answer = await r.json();
      info = r.ok && answer.run === S.runId ? answer : null;
      shownKey = key;
    } catch (err) {
      info = null;  // the server is gone or the run ended: the panel hides until the next run
    } finally {
      busy = false;
    }
    render();
  }

  async function copyCommand() {
    try {
      await navigator.clipboard.writeText(command.value);
    } catch (err) {  // no clipboard API here: select the text and copy it the old way
      command.focus();
      command.select();
      document.execCommand("copy");
    }
    copied.textContent = t("copied");
    setTimeout(() => { copied.textContent = ""; }, 1500);
  }

  // What the panel shows follows the run, its state, its steps and the language.
  setInterval(() => {
    if (busy || S.runId === null || S.runId === undefined) {
      if (S.runId === null && info) { info = null; render(); }
      return;
    }
    const key = [S.runId, S.state, S.steps, S.lang].join("|");
    if (key === shownKey) return;
    if (S.state === "running" && performance.now() - asked < 1000) return;
    refresh(key);
  }, 250);
  render();
  return { refresh: () => refresh(""), info: () => info };
}
