import { visibleLength } from "./colors.ts";

/**
 * Renders rows as an aligned text table with a header row. Cells may carry ANSI colour.
 */
export function renderTable(headers: string[], rows: unknown[][], opts: { header?: (s: string) => string; maxWidth?: number } = {}): string {
  const cells = rows.map((r) => r.map((v) => (v === null || v === undefined ? "-" : String(v))));
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...cells.map((r) => visibleLength(r[i] ?? ""))));
  const maxWidth = opts.maxWidth ?? 60;
  const pad = (s: string, w: number) => s + " ".repeat(Math.max(0, w - visibleLength(s)));
  const clip = (s: string) => (visibleLength(s) > maxWidth && s === s.replace(/\x1b/g, "") ? s.slice(0, maxWidth - 1) + "…" : s);
  const line = (r: string[], style: (x: string) => string = (x) => x) =>
    r
      .map((v, i) => (i === r.length - 1 ? style(clip(v)) : style(pad(clip(v), Math.min(widths[i]!, maxWidth)))))
      .join("  ")
      .trimEnd();
  const out = [line(headers, opts.header)];
  for (const r of cells) out.push(line(r));
  return out.join("\n");
}

/**
 * Key/value lines, aligned.
 */
export function renderPairs(pairs: [string, unknown][], keyStyle: (s: string) => string = (s) => s): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${keyStyle(k.padEnd(w))}  ${v === null || v === undefined ? "-" : String(v)}`).join("\n");
}
