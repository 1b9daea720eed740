// Tiny DOM helpers. Every string from the API goes through textContent or setAttribute — never HTML.

/** Creates an element: h("td", {class: "num", "data-testid": "x"}, "text", childNode, ...). */
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children.flat(Infinity as 1) as Child[]) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces all children of `el`. */
export function fill<E extends Element>(el: E, ...children: Child[]): E {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The element matching `sel`; the page is ours, so a missing one is a bug, not a state. */
export function $<E extends HTMLElement = HTMLElement>(sel: string, root: ParentNode = document): E {
  const el = root.querySelector<E>(sel);
  if (!el) throw new Error(`dashboard: no element ${sel}`);
  return el;
}

export function show(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible;
}

const nf = new Intl.NumberFormat("en-US");
export const fmtInt = (n: number): string => nf.format(Math.round(n));

export function fmtCompact(n: number): string {
  if (Math.abs(n) < 10_000) return fmtInt(n);
  return new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 }).format(n);
}

export function fmtRate(n: number): string {
  return n >= 100 ? fmtInt(n) : n.toFixed(1);
}

export function fmtTime(ms: number, withSeconds = false): string {
  const d = new Date(ms);
  const p = (x: number) => String(x).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}${withSeconds ? ":" + p(d.getSeconds()) : ""}`;
}

export function fmtDateTime(ms: number): string {
  const d = new Date(ms);
  const p = (x: number) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${fmtTime(ms, true)}`;
}

/** "3m 05s", "1h 02m", "42s"; negative → "0s". */
export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  const hh = Math.floor(m / 60);
  if (hh < 48) return `${hh}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(hh / 24)}d ${hh % 24}h`;
}

export function fmtAgo(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return "just now";
  return `${fmtDuration(now - ms)} ago`;
}

/** Sets a KPI: the formatted text for people, the exact number in data-value for machines. */
export function setKpi(el: HTMLElement, value: number, text = fmtInt(value)): void {
  el.dataset.value = String(value);
  el.textContent = text;
}
