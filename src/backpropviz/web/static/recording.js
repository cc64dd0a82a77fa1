// The one object every view reads: a recorded run that can grow step by step.
//
// A page built from a history file fills it at once (Recording.fromPage); a server that trains
// live appends steps as they come (append). Views never see the page's data format: they ask
// for step k's numbers and listen for growth.
//
//   const rec = Recording.fromPage(pageData);
//   rec.length          // recorded steps T
//   rec.params(k)       // parameters before step k (row k of the history file), k in 0..T
//   rec.after(k)        // parameters after step k
//   rec.grad(k), rec.loss(k), rec.epoch(k), rec.wholeLoss(k), rec.lr(k), rec.batch(k)
//   rec.onGrow(fn)      // fn(rec) after every append; returns a function that removes fn

const TYPES = { f4: Float32Array, f8: Float64Array, i4: Int32Array };

/** A typed array from the page's {dtype, shape, b64} record (little-endian, as numpy wrote it). */
export function decode(record) {
  if (record == null) return null;
  const bin = atob(record.b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const Type = TYPES[record.dtype];
  const out = new Type(bytes.buffer);
  out.shape = record.shape;
  return out;
}

/** Rows of a flat typed array that can grow: capacity doubles, rows are views, never copies. */
class Rows {
  constructor(Type, width, data = null) {
    this.Type = Type;
    this.width = width;
    this.count = data ? data.length / Math.max(width, 1) : 0;
    this.buf = data || new Type(Math.max(width, 1) * 64);
  }
  row(i) { return this.buf.subarray(i * this.width, (i + 1) * this.width); }
  at(i) { return this.buf[i * this.width]; }
  push(values) {
    const need = (this.count + values.length / this.width) * this.width;
    if (need > this.buf.length) {
      const grown = new this.Type(Math.max(need, 2 * this.buf.length));
      grown.set(this.buf.subarray(0, this.count * this.width));
      this.buf = grown;
    }
    this.buf.set(values, this.count * this.width);
    this.count += values.length / this.width;
  }
  /** All rows so far as one typed array (a view). */
  all() { return this.buf.subarray(0, this.count * this.width); }
}

export class Recording {
  /** @param meta the page's data less its step arrays: run, data, labels, surface, trace, chain. */
  constructor(meta, P) {
    this.meta = meta;
    this.run = meta.run;
    this.names = meta.run.param_names;
    this.P = P;
    this._params = new Rows(Float32Array, P);
    this._grads = new Rows(Float32Array, P);
    this._after = null;
    this._loss = new Rows(Float32Array, 1);
    this._epoch = new Rows(Int32Array, 1);
    this._whole = new Rows(Float64Array, 1);
    this._lr = new Rows(Float32Array, 1);
    this._index = null;
    this._batches = null;
    this._listeners = [];
    this.total = 0;  // steps of the run (more than length when the page keeps a thinned subset)
  }

  static fromPage(page) {
    const s = page.steps;
    const P = page.run.param_names.length;
    const rec = new Recording(page, P);
    rec._params = new Rows(Float32Array, P, decode(s.params));
    rec._grads = new Rows(Float32Array, P, decode(s.grads));
    rec._loss = new Rows(Float32Array, 1, decode(s.loss));
    rec._epoch = new Rows(Int32Array, 1, decode(s.epoch));
    rec._whole = new Rows(Float64Array, 1, Float64Array.from(decode(s.whole_loss)));
    if (s.lr) rec._lr = new Rows(Float32Array, 1, decode(s.lr));
    if (s.after) rec._after = new Rows(Float32Array, P, decode(s.after));
    if (s.index) rec._index = decode(s.index);
    if (s.batches) {
      const b = decode(s.batches);
      rec._batches = new Rows(Int32Array, b.shape[1], b);
    }
    rec.total = s.total;
    return rec;
  }

  /** Recorded steps so far. */
  get length() { return this._loss.count; }
  get thinned() { return this._index !== null; }
  /** The run's own step number of page step k (k itself unless the page is thinned). */
  stepNumber(k) { return this._index ? this._index[k] : k; }
  params(k) { return this._params.row(k); }
  after(k) { return this._after ? this._after.row(k) : this._params.row(k + 1); }
  grad(k) { return this._grads.row(k); }
  loss(k) { return this._loss.at(k); }
  epoch(k) { return this._epoch.at(k); }
  wholeLoss(k) { return this._whole.at(k); }
  lr(k) {
    if (this._lr.count > k) return this._lr.at(k);
    return this.run.lr;
  }
  /** Sample indices of step k's batch (all rows for a full-batch run). */
  batch(k) {
    if (!this._batches) return null;
    const row = this._batches.row(k);
    let n = row.length;
    while (n > 0 && row[n - 1] < 0) n--;
    return row.subarray(0, n);
  }
  /** Whole arrays for the curves: a view of every step's value. */
  series(name) {
    const src = { loss: this._loss, epoch: this._epoch, whole: this._whole, lr: this._lr }[name];
    return src.all();
  }
  /** Parameter column j over every row (0..length), as a new Float64Array. */
  column(j) {
    const n = this._params.count, P = this.P, buf = this._params.buf;
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = buf[i * P + j];
    return out;
  }

  /**
   * Add steps, as a live server sends them: {params: rows after each step, grads, loss, epoch,
   * whole_loss, lr}, flat arrays of equal step counts. The first call may bring row 0 as
   * `initial` (the parameters before step 0).
   */
  append(chunk) {
    if (chunk.initial) {
      this._params.push(Float32Array.from(chunk.initial));
      if (chunk.initial_whole_loss !== undefined) this._whole.push([chunk.initial_whole_loss]);
    }
    this._params.push(Float32Array.from(chunk.params));
    this._grads.push(Float32Array.from(chunk.grads));
    this._loss.push(Float32Array.from(chunk.loss));
    this._epoch.push(Int32Array.from(chunk.epoch));
    if (chunk.whole_loss) this._whole.push(Float64Array.from(chunk.whole_loss));
    if (chunk.lr) this._lr.push(Float32Array.from(chunk.lr));
    this.total = this.length;
    for (const fn of this._listeners) fn(this);
  }

  /** The functions called after every append (the viewer's and each chart's). */
  get listenerCount() { return this._listeners.length; }
  /** Call fn(rec) after every append; the returned function stops it (a view that is rebuilt). */
  onGrow(fn) {
    this._listeners.push(fn);
    return () => { this._listeners = this._listeners.filter((f) => f !== fn); };
  }
}
