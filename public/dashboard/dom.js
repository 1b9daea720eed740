// Tiny DOM helpers. Every string from the API goes through textContent or setAttribute — never HTML.

/** Creates an element: h("td", {class: "num", "data-testid": "x"}, "text", childNode, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces all children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function show(el, visible) {
  el.hidden = !visible;
}

const nf = new Intl.NumberFormat("en-US");
export const fmtInt = (n) => nf.format(Math.round(n));

export function fmtCompact(n) {
  if (Math.abs(n) < 10_000) return fmtInt(n);
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(n);
}

export function fmtRate(n) {
  return n >= 100 ? fmtInt(n) : n.toFixed(1);
}

export function fmtTime(ms, withSeconds = false) {
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}${withSeconds ? ":" + p(d.getSeconds()) : ""}`;
}

export function fmtDateTime(ms) {
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${fmtTime(ms, true)}`;
}

/** "3m 05s", "1h 02m", "42s"; negative → "0s". */
export function fmtDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hh = Math.floor(m / 60);
  if (hh < 48) return `${hh}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hh / 24)}d ${hh % 24}h`;
}

export function fmtAgo(ms, now = Date.now()) {
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return "just now";
  return `${fmtDuration(now - ms)} ago`;
}

/** Sets a KPI: the formatted text for people, the exact number in data-value for machines. */
export function setKpi(el, value, text = fmtInt(value)) {
  el.dataset.value = String(value);
  el.textContent = text;
}
