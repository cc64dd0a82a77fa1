// Placeholder: the surface view.
export function create(el, rec, ctx) {
  const p = document.createElement("p");
  el.append(p);
  return { update(k) { p.textContent = "surface " + k; } };
}
