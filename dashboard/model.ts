// Pure data logic of the dashboard (no DOM, no fetch): time ranges, series shaping, late corrections.
// Tested directly by test/e2e/dashboard-model.test.ts.

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** An API row as the dashboard reads it: tolerant of fields it does not know. */
export type Row = Record<string, unknown>;
export type Granularity = "minute" | "hour" | "day";
export interface Range {
  from: number;
  to: number;
  live: boolean;
}

export const RANGE_PRESETS: Record<string, number> = { "15m": 15 * MINUTE, "1h": HOUR, "6h": 6 * HOUR, "24h": DAY };

/**
 * The query window for a preset, aligned to whole minutes: `to` is the end of the current (open)
 * minute, so the minute in progress is included; `from` is `span` before it.
 */
export function presetRange(preset: string, now: number): Range {
  const span = RANGE_PRESETS[preset] ?? HOUR;
  const to = Math.floor(now / MINUTE) * MINUTE + MINUTE;
  return { from: to - span, to, live: true };
}

/** A custom window from two epoch-ms values, aligned outward to whole minutes; null if invalid. */
export function customRange(fromMs: number, toMs: number): Range | null {
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) return null;
  const from = Math.floor(fromMs / MINUTE) * MINUTE;
  const to = Math.ceil(toMs / MINUTE) * MINUTE;
  if (to <= from) return null;
  return { from, to, live: false };
}

/** Chart granularity for a span: minute up to `minuteUpTo`, then hour up to 14 days, then day. */
export function granularityFor(spanMs: number, minuteUpTo = DAY): Granularity {
  if (spanMs <= minuteUpTo) return "minute";
  if (spanMs <= 14 * DAY) return "hour";
  return "day";
}

export const STEP_MS: Record<Granularity, number> = { minute: MINUTE, hour: HOUR, day: DAY };

/** Window starts covering [from, to) at `granularity` (UTC-aligned). */
export function windowStarts(from: number, to: number, granularity: Granularity): number[] {
  const step = STEP_MS[granularity];
  const out: number[] = [];
  for (let t = Math.floor(from / step) * step; t < to; t += step) out.push(t);
  return out;
}

/** Parses an API `window_start` (RFC 3339 or epoch ms) to epoch ms; NaN when unreadable. */
export function toMs(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") return /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return NaN;
}

/** Sums `field` of series rows per window start: Map<epoch ms, number>. */
export function sumByWindow(rows: readonly Row[] | null | undefined, field = "clicks"): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of rows ?? []) {
    const t = toMs(r.window_start);
    if (!Number.isFinite(t)) continue;
    m.set(t, (m.get(t) ?? 0) + num(r[field]));
  }
  return m;
}

/** Totals per value of dimension `dim` (e.g. "campaign_id"), sorted by clicks desc then name. */
export function totalsBy(rows: readonly Row[] | null | undefined, dim: string): { key: string; clicks: number }[] {
  const m = new Map<string, number>();
  for (const r of rows ?? []) {
    const k = String(r[dim] ?? "");
    m.set(k, (m.get(k) ?? 0) + num(r.clicks));
  }
  return [...m.entries()].map(([key, clicks]) => ({ key, clicks })).sort((a, b) => b.clicks - a.clicks || (a.key < b.key ? -1 : 1));
}

/** Per key, its values at each window start (0 where absent): number[keys.length][xs.length]. */
export function valuesFor(rows: readonly Row[] | null | undefined, dim: string, keys: string[], xs: number[]): number[][] {
  const index = new Map(xs.map((x, i) => [x, i]));
  const keyIndex = new Map(keys.map((k, i) => [k, i]));
  const values = keys.map(() => new Array<number>(xs.length).fill(0));
  for (const r of rows ?? []) {
    const i = index.get(toMs(r.window_start));
    const k = keyIndex.get(String(r[dim] ?? ""));
    if (i !== undefined && k !== undefined) values[k]![i]! += num(r.clicks);
  }
  return values;
}

/** Re-buckets a Map<window ms, n> into coarser UTC-aligned windows of `stepMs`. */
export function rollup(byWindow: Map<number, number>, stepMs: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const [t, n] of byWindow) {
    const b = Math.floor(t / stepMs) * stepMs;
    out.set(b, (out.get(b) ?? 0) + n);
  }
  return out;
}

/** Running sums over series, bottom first, for a stacked area chart. */
export function stack(values: number[][]): number[][] {
  const out: number[][] = [];
  let acc: number[] | null = null;
  for (const v of values) {
    acc = acc ? acc.map((a, i) => a + v[i]!) : v.slice();
    out.push(acc);
  }
  return out;
}

/**
 * Late corrections: windows whose count changed although they had already closed (ended at least
 * `graceMs` before the previous refresh). `prev` is Map<window ms, clicks> from that refresh.
 * A window absent before counts as 0 (a first late click into an empty minute is a revision too).
 */
export interface Revision {
  window: number;
  before: number;
  after: number;
}

export function detectRevisions(prev: Map<number, number> | null | undefined, prevFetchedAt: number, next: Map<number, number>, stepMs: number, graceMs = 10_000): Revision[] {
  if (!prev || !Number.isFinite(prevFetchedAt)) return [];
  const out: Revision[] = [];
  const keys = new Set([...prev.keys(), ...next.keys()]);
  for (const t of keys) {
    if (t + stepMs > prevFetchedAt - graceMs) continue;
    const before = prev.get(t) ?? 0;
    const after = next.get(t) ?? 0;
    if (before !== after && next.has(t)) out.push({ window: t, before, after });
  }
  return out.sort((a, b) => a.window - b.window);
}

/** Adds new revisions to the remembered list (newest detection first), bounded. */
export function mergeRevisions(list: (Revision & { detectedAt: number })[], found: Revision[], detectedAt: number, max = 50): (Revision & { detectedAt: number })[] {
  const fresh = found.map((r) => ({ ...r, detectedAt }));
  return [...fresh.reverse(), ...list].slice(0, max);
}

/** Ingest statistics totals over rows with accepted/duplicates/too_late/future/invalid. */
export function ingestTotals(rows: readonly Row[] | null | undefined) {
  const t = { accepted: 0, duplicates: 0, too_late: 0, future: 0, invalid: 0 };
  for (const r of rows ?? []) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += num(r[k]);
  return { ...t, rejected: t.future + t.invalid };
}

/**
 * Accepted events per second over the trailing window: the arrival minutes overlapping
 * [now - trailMs, now], divided by the time they cover up to now.
 */
export function eventsPerSecond(rows: readonly Row[] | null | undefined, now: number, trailMs = 60_000): number {
  const start = Math.floor((now - trailMs) / MINUTE) * MINUTE;
  let sum = 0;
  for (const r of rows ?? []) {
    const t = toMs(r.window_start);
    if (t >= start && t <= now) sum += num(r.accepted);
  }
  const seconds = Math.max(1, (now - start) / 1000);
  return sum / seconds;
}

/** Milliseconds until the current stage may advance, or null when unknown / not timed. */
/** `rollout`: a rollout as the API gives it (older field names are still read). */
export function stageRemainingMs(rolloutObject: object | null | undefined, now: number): number | null {
  const rollout = rolloutObject as Row | null | undefined;
  if (!rollout) return null;
  const at = toMs(rollout.next_advance_at ?? rollout.stage_ends_at ?? rollout.bake_ends_at);
  if (Number.isFinite(at)) return at - now;
  const stage = currentStage(rollout);
  const started = toMs(rollout.stage_started_at ?? rollout.current_stage_started_at);
  const bake = num(stage?.bake_seconds);
  if (Number.isFinite(started) && stage) return started + bake * 1000 - now;
  return null;
}

export function currentStage(rollout: Row | null | undefined): Row | undefined {
  const stages = (rollout?.plan as Row | undefined)?.stages ?? rollout?.stages;
  const i = rollout?.stage_index ?? rollout?.current_stage ?? rollout?.stage;
  return Array.isArray(stages) && typeof i === "number" && Number.isInteger(i) ? (stages[i] as Row | undefined) : undefined;
}

function num(v: unknown): number {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}
