/**
 * Tolerant helpers for API answers whose exact shape may grow: find the list in an envelope, and
 * format times.
 */

/**
 * @param {unknown} body
 * @param {string[]} keys envelope keys to try, e.g. ["namespaces", "items"]
 * @returns {any[]}
 */
export function listOf(body, keys) {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object") {
    for (const k of [...keys, "items", "data", "results"]) {
      const v = /** @type {any} */ (body)[k];
      if (Array.isArray(v)) return v;
    }
  }
  return [];
}

/** `2026-11-25T13:40:12.345Z` → `2026-11-25 13:40:12Z` (UTC, second precision). @param {unknown} iso */
export function shortTime(iso) {
  if (typeof iso !== "string" && typeof iso !== "number") return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** `sha256:abcdef…` → `sha256:abcdef12`. @param {unknown} h */
export function shortHash(h) {
  if (typeof h !== "string") return "-";
  const [algo, hex] = h.includes(":") ? h.split(":", 2) : ["", h];
  return (algo ? algo + ":" : "") + hex.slice(0, 12);
}

/** @param {unknown} v */
export function oneLine(v, max = 60) {
  if (v === null || v === undefined) return "-";
  const s = (typeof v === "string" ? v : JSON.stringify(v)).replace(/\s+/g, " ");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}
