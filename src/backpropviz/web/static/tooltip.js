// One floating tooltip for the whole page: views call show(text, event) on hover, hide() on leave.

let tip = null;

function element() {
  if (!tip) {
    tip = document.createElement("div");
    tip.className = "bpv-tip";
    tip.setAttribute("role", "tooltip");
    document.body.appendChild(tip);
  }
  return tip;
}

export function show(text, event) {
  const el = element();
  el.textContent = text;
  el.style.display = "block";
  const pad = 12;
  const w = el.offsetWidth, h = el.offsetHeight;
  let x = event.clientX + pad, y = event.clientY + pad;
  if (x + w > window.innerWidth) x = event.clientX - w - pad;
  if (y + h > window.innerHeight) y = event.clientY - h - pad;
  el.style.left = `${Math.max(0, x)}px`;
  el.style.top = `${Math.max(0, y)}px`;
}

export function hide() {
  if (tip) tip.style.display = "none";
}

/** Show `text(event)` while the pointer is over `el`. */
export function attach(el, text) {
  el.addEventListener("mousemove", (e) => {
    const t = text(e);
    if (t) show(t, e); else hide();
  });
  el.addEventListener("mouseleave", hide);
}
