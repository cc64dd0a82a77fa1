// Numbers as the figures print them: significant digits, a real minus sign, never "-0".

/** `v` with `digits` significant figures; exponent form outside 1e-4..1e5. */
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "";
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (v === 0 || Math.abs(v) < 1e-300) return "0";
  const a = Math.abs(v);
  let text = a >= 1e5 || a < 1e-4 ? v.toExponential(digits - 1).replace(/\.?0+e/, "e").replace("e+", "e")
                                   : String(Number(v.toPrecision(digits)));
  if (/^-0(\.0*)?$/.test(text)) text = "0";
  return text.replace("-", "−");
}

/** A short vector "[a, b, c]". */
export function fmtVec(values, digits = 4, max = 6) {
  const parts = [];
  for (let i = 0; i < Math.min(values.length, max); i++) parts.push(fmt(values[i], digits));
  if (values.length > max) parts.push("…");
  return "[" + parts.join(", ") + "]";
}

/** Fill "{name}" fields of a catalogue text. */
export function fill(text, fields = {}) {
  return String(text).replace(/\{(\w+)\}/g, (m, k) => (k in fields ? String(fields[k]) : m));
}
