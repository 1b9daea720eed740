import type { Cell } from "./cell-table";
import { DAY_MS, GRANULARITY_MS, type Granularity } from "./metrics-window";
import type { Dimension } from "./metrics-query";

/**
 * Adds the counts the ClickAggregators hold and D1 does not have yet (lib/clicks/pending.ts) to what D1
 * answered, grouped and ordered exactly as the D1 statements group and order (workers/lib/metrics-queries.ts).
 */

export interface SeriesRow {
  bucket: number;
  campaignId: string | null;
  adId: string | null;
  region: string | null;
  clicks: number;
}

export interface TopRow {
  campaignId: string;
  adId: string | null;
  clicks: number;
}

export interface IngestStatsRow {
  bucket: number;
  accepted: number;
  duplicates: number;
  tooLate: number;
  future: number;
  invalid: number;
}

/** SQLite's BINARY order of UTF-8 text: code point order (JavaScript's `<` compares UTF-16 units). */
export function compareText(x: string | null, y: string | null): number {
  if (x === y) return 0;
  if (x === null) return -1;
  if (y === null) return 1;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const a = x.codePointAt(i)!;
    const b = y.codePointAt(i)!;
    if (a !== b) return a - b;
    if (a > 0xffff) i++;
  }
  return x.length - y.length;
}

/** The window a pending cell falls in: days before `dailyBefore` (rolled up), else `granularity`. */
function bucketOf(w: number, granularity: Granularity, dailyBefore: number): number {
  const size = w < dailyBefore ? DAY_MS : GRANULARITY_MS[granularity];
  return w - (w % size);
}

/** Series rows plus pending cells of [from, to), per window and grouped dimension, in the D1 statement's order. */
export function mergeSeries(
  rows: readonly SeriesRow[],
  pending: readonly Cell[],
  q: { from: number; to: number; granularity: Granularity; groupBy: readonly Dimension[]; dailyBefore: number },
): SeriesRow[] {
  if (pending.length === 0) return [...rows];
  const keyOf = (r: SeriesRow) => JSON.stringify([r.bucket, r.campaignId, r.adId, r.region]);
  const out = new Map<string, SeriesRow>(rows.map((r) => [keyOf(r), { ...r }]));
  const has = (d: Dimension) => q.groupBy.includes(d);
  for (const [w, c, a, r, n] of pending) {
    if (w < q.from || w >= q.to) continue;
    const row: SeriesRow = { bucket: bucketOf(w, q.granularity, q.dailyBefore), campaignId: has("campaign") ? c : null, adId: has("ad") ? a : null, region: has("region") ? r : null, clicks: n };
    const k = keyOf(row);
    const hit = out.get(k);
    if (hit) hit.clicks += n;
    else out.set(k, row);
  }
  return [...out.values()].sort(
    (x, y) => x.bucket - y.bucket || compareText(x.campaignId, y.campaignId) || compareText(x.adId, y.adId) || compareText(x.region, y.region),
  );
}

/**
 * The top `limit` after adding pending cells of [from, to). Exact when `top` is D1's top `limit` +
 * (pending groups) and `groupTotals` is D1's total of every pending group: a group in neither has at
 * most the total of the last row of `top`, and only pending groups can pass the groups of `top`.
 */
export function mergeTop(
  top: readonly TopRow[],
  groupTotals: readonly TopRow[],
  pending: readonly Cell[],
  q: { from: number; to: number; by: "campaign" | "ad"; limit: number },
): TopRow[] {
  const keyOf = (campaignId: string, adId: string | null) => JSON.stringify([campaignId, adId]);
  const out = new Map<string, TopRow>();
  for (const r of [...top, ...groupTotals]) out.set(keyOf(r.campaignId, r.adId), { ...r });
  for (const [w, c, a, , n] of pending) {
    if (w < q.from || w >= q.to) continue;
    const adId = q.by === "ad" ? a : null;
    const k = keyOf(c, adId);
    const hit = out.get(k);
    if (hit) hit.clicks += n;
    else out.set(k, { campaignId: c, adId, clicks: n });
  }
  return [...out.values()]
    .sort((x, y) => y.clicks - x.clicks || compareText(x.campaignId, y.campaignId) || compareText(x.adId, y.adId))
    .slice(0, q.limit);
}

/**
 * The groups (campaign, or campaign and ad) that pending cells add to, as `[campaign_id, ad_id | null]`:
 * all of them (the aggregators answered the query's whole days, a superset of the range D1 answers).
 */
export function pendingGroups(pending: readonly Cell[], by: "campaign" | "ad"): [string, string | null][] {
  const seen = new Map<string, [string, string | null]>();
  for (const [, c, a] of pending) {
    const g: [string, string | null] = [c, by === "ad" ? a : null];
    seen.set(JSON.stringify(g), g);
  }
  return [...seen.values()];
}

/** Ingest statistics per window plus pending minutes (`[minute, accepted, duplicates, invalid, too_late, future]`) of [from, to). */
export function mergeStats(rows: readonly IngestStatsRow[], pending: readonly number[][], q: { from: number; to: number; granularity: Granularity }): IngestStatsRow[] {
  const out = new Map<number, IngestStatsRow>(rows.map((r) => [r.bucket, { ...r }]));
  for (const [minute, accepted, duplicates, invalid, tooLate, future] of pending) {
    if (minute < q.from || minute >= q.to) continue;
    const bucket = minute - (minute % GRANULARITY_MS[q.granularity]);
    const row = out.get(bucket) ?? { bucket, accepted: 0, duplicates: 0, tooLate: 0, future: 0, invalid: 0 };
    row.accepted += accepted;
    row.duplicates += duplicates;
    row.invalid += invalid;
    row.tooLate += tooLate;
    row.future += future;
    out.set(bucket, row);
  }
  return [...out.values()].sort((x, y) => x.bucket - y.bucket);
}
