/**
 * Tolerant helpers for API answers whose exact shape may grow: find the list in an envelope, and
 * format times.
 */

/**
 * `keys`: envelope keys to try, e.g. ["namespaces", "items"].
 */
export function listOf(body: unknown, keys: string[]): any[] {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object") {
    for (const k of [...keys, "items", "data", "results"]) {
      const v = (body as Record<string, unknown>)[k];
      if (Array.isArray(v)) return v;
    }
  }
  return [];
}

/** `2026-11-25T13:40:12.345Z` → `2026-11-25 13:40:12Z` (UTC, second precision). */
export function shortTime(iso: unknown): string {
  if (typeof iso !== "string" && typeof iso !== "number") return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** `sha256:abcdef…` → `sha256:abcdef12`. */
export function shortHash(h: unknown): string {
  if (typeof h !== "string") return "-";
  const [algo, hex = ""] = h.includes(":") ? h.split(":", 2) : ["", h];
  return (algo ? algo + ":" : "") + hex.slice(0, 12);
}

export function oneLine(v: unknown, max = 60): string {
  if (v === null || v === undefined) return "-";
  const s = (typeof v === "string" ? v : JSON.stringify(v)).replace(/\s+/g, " ");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}
