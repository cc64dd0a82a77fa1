// The page's state and its URL hash, from one declarative table of fields (as TensorFlow
// Playground does): every event changes the state, then the app renders it.

export const HASH_FIELDS = [
  { name: "step", parse: (s) => (/^\d+$/.test(s) ? Number(s) : undefined), write: (v) => String(v) },
  { name: "views", parse: (s) => s.split(",").filter(Boolean), write: (v) => v.join(",") },
  { name: "lang", parse: (s) => (s === "en" || s === "ja" ? s : undefined), write: (v) => v },
];

/** The fields found in a hash like "#step=12&views=boundary,loss&lang=ja" (unknown ones ignored). */
export function readHash(hash) {
  const out = {};
  const params = new URLSearchParams(String(hash || "").replace(/^#/, ""));
  for (const f of HASH_FIELDS) {
    if (!params.has(f.name)) continue;
    const v = f.parse(params.get(f.name));
    if (v !== undefined) out[f.name] = v;
  }
  return out;
}

/** The hash for `state` (only the fields of the table). */
export function writeHash(state) {
  const parts = [];
  for (const f of HASH_FIELDS) {
    if (state[f.name] !== undefined) parts.push(`${f.name}=${encodeURIComponent(f.write(state[f.name]))}`.replace(/%2C/g, ","));
  }
  return "#" + parts.join("&");
}
