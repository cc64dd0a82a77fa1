// A recording's weight and gradient distributions per layer (page data's `recording.dists`) at
// the snapshot the page's step is at (the last saved state at or before it): for each layer a
// box on a scale fixed over every snapshot, so scrubbing shows the distribution spreading or
// shrinking; bands 5-95% and 25-75%, the median a line, min and max the whiskers. The numbers
// are in a table under the drawing.

import { decode } from "bpv/recording.js";
import { fmt } from "bpv/format.js";
import { font, makeCanvas, scale } from "bpv/canvas.js";
import { h } from "bpv/dom.js";

const ROW = 28, LABEL = 90, GAP = 16;

/** Index of the last snapshot at or before run step `step` (0 when none is). */
export function snapshotAt(steps, step) {
  let i = 0;
  while (i + 1 < steps.length && steps[i + 1] <= step) i++;
  return i;
}

export function create(el, rec, ctx) {
  const sec = rec.meta.recording.dists;
  const steps = decode(sec.steps);
  const [L, S, Q] = sec.weights.shape;
  const kinds = [["weights", decode(sec.weights)], ["grads", decode(sec.grads)]];
  const qi = (q) => sec.quantiles.indexOf(q);
  const [i05, i25, i50, i75, i95] = [0.05, 0.25, 0.5, 0.75, 0.95].map(qi);
  const at = (a, l, s, q) => a[(l * S + s) * Q + q];
  // each layer's and kind's scale: min and max over every snapshot
  const range = kinds.map(([, a]) => Array.from({ length: L }, (_, l) => {
    let lo = Infinity, hi = -Infinity;
    for (let s = 0; s < S; s++) {
      const a0 = at(a, l, s, 0), a1 = at(a, l, s, Q - 1);
      if (Number.isFinite(a0)) lo = Math.min(lo, a0);
      if (Number.isFinite(a1)) hi = Math.max(hi, a1);
    }
    if (!(hi > lo)) { lo -= 1e-12; hi += 1e-12; }
    return [lo, hi];
  }));
  const names = sec.names.map((n) => n || "(model)");
  const info = h("p", { class: "bpv-note bpv-rec-dist-at" });
  const width = Math.max(300, Math.min(el.clientWidth || 340, 640));
  const panel = (width - LABEL - GAP) / 2;
  el.append(info);
  const { g } = makeCanvas(el, width, ROW * L + 24, "bpv-rec-dists");
  const table = h("table", { class: "bpv-rec-dist-table" });
  el.append(h("details", {}, h("summary", {}, ctx.t("rec_weights") + " / " + ctx.t("rec_grads")), table));

  function draw(s) {
    g.clearRect(0, 0, width, ROW * L + 24);
    g.font = font(11, "bold");
    g.fillStyle = "#333";
    g.textAlign = "center";
    g.textBaseline = "top";
    kinds.forEach(([kind], c) => g.fillText(ctx.t(`rec_${kind}`), LABEL + c * (panel + GAP) + panel / 2, 2));
    for (let l = 0; l < L; l++) {
      const y = 20 + l * ROW;
      g.font = font(11);
      g.textAlign = "right";
      g.textBaseline = "middle";
      g.fillStyle = "#333";
      g.fillText(names[l].length > 12 ? names[l].slice(0, 11) + "…" : names[l], LABEL - 6, y + ROW / 2);
      kinds.forEach(([, a], c) => {
        const x0 = LABEL + c * (panel + GAP);
        const sx = scale(range[c][l][0], range[c][l][1], x0, x0 + panel);
        const v = (q) => at(a, l, s, q);
        g.strokeStyle = "#ddd";
        g.strokeRect(x0 + 0.5, y + 2.5, panel, ROW - 5);
        if (!Number.isFinite(v(i50))) {
          g.fillStyle = "#888"; g.textAlign = "center";
          g.fillText(ctx.t("rec_no_grad"), x0 + panel / 2, y + ROW / 2);
          return;
        }
        const mid = y + ROW / 2;
        g.strokeStyle = "#555";
        g.beginPath(); g.moveTo(sx(v(0)), mid); g.lineTo(sx(v(Q - 1)), mid); g.stroke();
        g.fillStyle = "rgba(76,114,176,0.30)";
        g.fillRect(sx(v(i05)), y + 6, Math.max(1, sx(v(i95)) - sx(v(i05))), ROW - 12);
        g.fillStyle = "rgba(76,114,176,0.75)";
        g.fillRect(sx(v(i25)), y + 8, Math.max(1, sx(v(i75)) - sx(v(i25))), ROW - 16);
        g.strokeStyle = "#1f3a68"; g.lineWidth = 2;
        g.beginPath(); g.moveTo(sx(v(i50)), y + 4); g.lineTo(sx(v(i50)), y + ROW - 4); g.stroke();
        g.lineWidth = 1;
      });
    }
  }

  function fillTable(s) {
    table.textContent = "";
    const head = h("tr", {}, h("th", {}, ""));
    for (const [kind] of kinds) for (const q of [0.05, 0.5, 0.95]) head.append(h("th", {}, `${ctx.t("rec_" + kind)} ${q * 100}%`));
    table.append(head);
    for (let l = 0; l < L; l++) {
      const tr = h("tr", { "data-layer": sec.names[l] }, h("th", {}, names[l]));
      for (const [kind, a] of kinds) for (const q of [i05, i50, i95]) tr.append(h("td", { "data-kind": kind }, fmt(at(a, l, s, q))));
      table.append(tr);
    }
  }

  let shown = -1;
  return {
    update(k) {
      const step = rec.stepNumber(k);
      const s = snapshotAt(steps, step);
      info.textContent = ctx.t("rec_dist_at", { snap: steps[s], step });
      el.dataset.snapshot = String(steps[s]);
      if (s === shown) return;
      shown = s;
      draw(s);
      fillTable(s);
    },
  };
}
