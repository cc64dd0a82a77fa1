// The page's autograd trace (page data `trace`), decoded once per page and shared by the views
// that read it (the computation graph, the chain-rule table).
//
//   const tr = traceOf(rec);        // null when the page has no trace
//   const j = tr.nearest(k);        // index into the traced steps closest to page step k
//   tr.steps[j]                     // that traced step's page step
//   tr.value(node, j), tr.grad(node, j)   // its numbers (Float32Array views; null: no gradient)
//   tr.shape(node, j)               // [rows, columns] of the node's tensor at that step

import { decode } from "bpv/recording.js";

const cache = new WeakMap();

/** Rows of one per-step record: a record with `constant: true` holds one row for every step. */
function perStep(record) {
  if (!record) return null;
  const a = decode(record);
  const width = a.shape.length > 1 ? a.shape[1] : 1;
  const constant = !!record.constant;
  return { a, width, row: (j) => (constant ? a.subarray(0, width) : a.subarray(j * width, (j + 1) * width)) };
}

export class Trace {
  constructor(meta) {
    this.meta = meta;
    this.steps = decode(meta.steps);
    this.loss = decode(meta.loss);
    this.nSamples = decode(meta.n_samples);
    this.collapsed = !!meta.collapsed;
    this.edges = meta.edges;
    this.nodes = meta.nodes.map((n, i) => ({
      ...n, index: i, _value: perStep(n.value), _grad: perStep(n.grad), _shapes: perStep(n.shapes),
    }));
    this.byId = Object.fromEntries(this.nodes.map((n) => [n.id, n]));
  }

  get count() { return this.steps.length; }

  /** Index j of the traced step nearest to page step k (the earlier one on a tie). */
  nearest(k) {
    const s = this.steps;
    let lo = 0, hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] < k) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(s[lo - 1] - k) <= Math.abs(s[lo] - k)) lo -= 1;
    return lo;
  }

  /** j when page step k is traced, else -1. */
  exact(k) {
    const j = this.nearest(k);
    return this.steps[j] === k ? j : -1;
  }

  shape(node, j) {
    const r = node._shapes.row(j);
    return [r[0], r[1]];
  }

  /** How many numbers the row holds: every element, or the 4 of a summary (mean, min, max, norm). */
  size(node, j) {
    if (node.summary) return 4;
    const [r, c] = this.shape(node, j);
    return r * c;
  }

  value(node, j) { return node._value.row(j).subarray(0, this.size(node, j)); }

  grad(node, j) { return node._grad ? node._grad.row(j).subarray(0, this.size(node, j)) : null; }

  /** Nodes feeding `node` (by forward edges). */
  inputsOf(node) { return this.edges.filter((e) => e.dst === node.id).map((e) => this.byId[e.src]); }

  consumersOf(node) { return this.edges.filter((e) => e.src === node.id).map((e) => this.byId[e.dst]); }
}

/** The recording's trace (decoded on first use), or null. */
export function traceOf(rec) {
  const meta = rec.meta.trace;
  if (!meta || !meta.nodes || !meta.nodes.length) return null;
  let tr = cache.get(meta);
  if (!tr) {
    tr = new Trace(meta);
    cache.set(meta, tr);
  }
  return tr;
}
