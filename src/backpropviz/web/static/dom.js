// One tiny element builder for the viewer: h("td", {class: "x", title: "..."}, "text", child, ...).
// Attributes starting with "on" become event listeners.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== "" && c !== null && c !== undefined) el.append(c);
  return el;
}
