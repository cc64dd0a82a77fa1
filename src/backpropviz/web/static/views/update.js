// Placeholder: the update view.
export function create(el, rec, ctx) {
  const p = document.createElement("p");
  el.append(p);
  return { update(k) { p.textContent = "update " + k; } };
}
