// The recorded network's forward pass over many points: cheap enough to redo at every step in
// the browser instead of shipping a probability map per frame. Mirrors models.py: linear
// layers with the run's activation between them, a sigmoid (binary), softmax (classes) or
// identity (regression) output.

const ACT = {
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  tanh: Math.tanh,
  relu: (v) => (v > 0 ? v : 0),
  leaky_relu: (v) => (v > 0 ? v : 0.01 * v),
};

/**
 * Forward `points` (Float64Array of n*d) through the layers at parameters `params`.
 * Returns {out: Float64Array n*K (probabilities), hidden: [Float64Array n*units per hidden layer]}.
 */
export function forward(model, params, points, n, scratch = null) {
  const layers = model.layers;
  const act = ACT[model.activation] || Math.tanh;
  let h = points, width = layers[0].weight[0].length;
  const hidden = [];
  // `scratch` (an object kept by the caller) holds the layers' buffers from one call to the
  // next: a view that redraws every frame then allocates nothing (no GC pauses while scrubbing).
  const bufs = scratch ? (scratch.bufs = scratch.bufs || []) : [];
  for (let l = 0; l < layers.length; l++) {
    const W = layers[l].weight, B = layers[l].bias;
    const nOut = W.length;
    let next = bufs[l];
    if (!next || next.length !== n * nOut) next = bufs[l] = new Float64Array(n * nOut);
    const w = new Float64Array(width);
    for (let o = 0; o < nOut; o++) {
      const row = W[o];
      const b = B ? params[B[o]] : 0;
      for (let i = 0; i < width; i++) w[i] = params[row[i]];
      for (let p = 0; p < n; p++) {
        let s = b;
        const base = p * width;
        for (let i = 0; i < width; i++) s += w[i] * h[base + i];
        next[p * nOut + o] = s;
      }
    }
    const last = l === layers.length - 1;
    if (!last) {
      for (let i = 0; i < next.length; i++) next[i] = act(next[i]);
      hidden.push({ values: next, units: nOut });
    } else if (model.output === "identity") {
      // regression: the output is the predicted value itself
    } else if (nOut === 1) {
      for (let i = 0; i < next.length; i++) next[i] = ACT.sigmoid(next[i]);
    } else {
      for (let p = 0; p < n; p++) {
        let m = -Infinity;
        for (let o = 0; o < nOut; o++) m = Math.max(m, next[p * nOut + o]);
        let z = 0;
        for (let o = 0; o < nOut; o++) z += (next[p * nOut + o] = Math.exp(next[p * nOut + o] - m));
        for (let o = 0; o < nOut; o++) next[p * nOut + o] /= z;
      }
    }
    h = next;
    width = nOut;
  }
  return { out: h, K: width, hidden };
}

/** Grid points over [x0, x1] x [y0, y1], row-major from the top row (y1) down. */
export function gridPoints(x, y, nx, ny) {
  const pts = new Float64Array(nx * ny * 2);
  for (let j = 0; j < ny; j++) {
    const yy = y[1] - (j / (ny - 1)) * (y[1] - y[0]);
    for (let i = 0; i < nx; i++) {
      pts[2 * (j * nx + i)] = x[0] + (i / (nx - 1)) * (x[1] - x[0]);
      pts[2 * (j * nx + i) + 1] = yy;
    }
  }
  return pts;
}
