import { DAY_MS, GRANULARITY_MS, MINUTE_MS, windowCeil, windowStart, withDailyZone, type Granularity } from "../../lib/clicks/metrics-window";
import type { Dimension } from "../../lib/clicks/metrics-query";
import type { IngestStatsRow, SeriesRow, TopRow } from "../../lib/clicks/pending-merge";
import { chunkJson } from "../../lib/clicks/flush-sql";

export type { IngestStatsRow, SeriesRow, TopRow } from "../../lib/clicks/pending-merge";

/**
 * Read side of the click pipeline: sums over D1's minute cells (`click_counts`), rolled up at query
 * time, and over the daily cells the retention job keeps for days past CLICK_MINUTE_RETENTION_DAYS
 * (`click_counts_daily`). Every day before `dailyBefore` (the day after the newest daily row) is
 * answered whole, from both tables — a day being rolled up has cells in each, and a flush retried long
 * after may still add minutes to it — so no click is counted twice or missed.
 */

export interface ClickFilters {
  campaign_id?: string[];
  ad_id?: string[];
  region?: string[];
}

/** What a click query answered: the range widened to whole days in the daily zone, and that zone's end. */
export interface Answered<T> {
  rows: T[];
  from: number;
  to: number;
  /** Start of the first day still kept per minute (0 when no day was rolled up yet). */
  dailyBefore: number;
  /** The newest flush id D1's ledger has of each source asked for (`sources`), read in the same batch. */
  ledger: Map<string, number>;
}

/** Each listed source's newest flush in the ledger (the primary key's range: one seek per source). */
const LEDGER_SQL = "SELECT source, max(flush_id) AS m FROM click_flush_ledger WHERE source IN (SELECT value FROM json_each(?)) GROUP BY source";

function ledgerOf(result: D1Result<unknown>): Map<string, number> {
  return new Map((result.results as { source: string; m: number }[]).map((r) => [r.source, Number(r.m)]));
}

const DAILY_BEFORE_SQL = `SELECT coalesce(max(day) + ${DAY_MS}, 0) AS v FROM click_counts_daily`;
const DAILY_BEFORE = `(${DAILY_BEFORE_SQL})`;

/** Numbered parameters (`?1`, `?2`…), so one value can be referenced by both halves of a UNION. */
class Params {
  readonly values: (string | number)[] = [];
  add(v: string | number): string {
    this.values.push(v);
    return `?${this.values.length}`;
  }
}

/** The filter parameters, named like the columns they filter. */
const FILTER_COLUMNS = ["campaign_id", "ad_id", "region"] as const satisfies readonly (keyof ClickFilters)[];

/**
 * Every cell of [from, to) as rows (b, campaign_id, ad_id, region, clicks): minute rows at or after
 * `dailyBefore` with `b` = their window at `granularity`, minute and daily rows before it with `b` =
 * their day. Filter values travel as one JSON array each (D1 binds at most 100 parameters).
 */
function cellsSql(p: Params, q: { from: number; to: number; granularity: Granularity; filters: ClickFilters }): string {
  const from = p.add(q.from);
  const to = p.add(q.to);
  const fromDay = p.add(windowStart(q.from, "day"));
  const toDay = p.add(windowCeil(q.to, "day"));
  const filters = FILTER_COLUMNS.filter((column) => q.filters[column]?.length).map((column) => ({ column, json: p.add(JSON.stringify(q.filters[column])) }));
  const where = (alias: string) => filters.map((f) => ` AND ${alias}.${f.column} IN (SELECT value FROM json_each(${f.json}))`).join("");
  const size = GRANULARITY_MS[q.granularity];
  const bucket = size === MINUTE_MS ? "m.window_start" : `m.window_start - m.window_start % ${size}`;
  // Scalar bounds (evaluated once) keep the minute scan on the primary key's range.
  const lo = `(SELECT CASE WHEN ${from} < v THEN ${fromDay} ELSE ${from} END FROM ${DAILY_BEFORE})`;
  const hi = `(SELECT CASE WHEN ${to} < v THEN ${toDay} ELSE ${to} END FROM ${DAILY_BEFORE})`;
  return (
    `SELECT CASE WHEN m.window_start < ${DAILY_BEFORE} THEN m.window_start - m.window_start % ${DAY_MS} ELSE ${bucket} END AS b, ` +
    `m.campaign_id, m.ad_id, m.region, m.clicks FROM click_counts AS m WHERE m.window_start >= ${lo} AND m.window_start < ${hi}${where("m")} ` +
    `UNION ALL SELECT d.day, d.campaign_id, d.ad_id, d.region, d.clicks FROM click_counts_daily AS d ` +
    `WHERE d.day >= ${fromDay} AND d.day < ${toDay}${where("d")}`
  );
}

/**
 * Runs `query` (and `more`), reads the daily zone's end and the ledger's newest flush of each of
 * `sources` (a JSON list) in one D1 batch (one transaction), so the answered range matches the rows even
 * while the retention job moves a day, and the ledger tells which flushes the rows include.
 */
async function withDailyBefore<T>(
  db: D1Database,
  q: { from: number; to: number; sources: string },
  query: D1PreparedStatement,
  more: D1PreparedStatement[] = [],
): Promise<Answered<T> & { more: D1Result<unknown>[] }> {
  const [zone, ledger, rows, ...rest] = await db.batch<unknown>([db.prepare(DAILY_BEFORE_SQL), db.prepare(LEDGER_SQL).bind(q.sources), query, ...more]);
  const dailyBefore = Number((zone.results[0] as { v: number | null } | undefined)?.v ?? 0);
  return { rows: rows.results as T[], dailyBefore, ledger: ledgerOf(ledger), more: rest, ...withDailyZone(q.from, q.to, dailyBefore) };
}

const DIMENSION_COLUMNS: Record<Dimension, string> = { campaign: "campaign_id", ad: "ad_id", region: "region" };

/** Clicks per window and per cell of the named dimensions, sorted by window then dimensions; at most `limit` rows. */
export async function clickSeries(
  db: D1Database,
  q: { from: number; to: number; granularity: Granularity; groupBy: readonly Dimension[]; filters: ClickFilters; limit: number; sources: string },
): Promise<Answered<SeriesRow>> {
  const p = new Params();
  const cells = cellsSql(p, q);
  const dims = q.groupBy.map((d) => DIMENSION_COLUMNS[d]);
  const pick = (d: Dimension, as: string) => `${q.groupBy.includes(d) ? DIMENSION_COLUMNS[d] : "NULL"} AS ${as}`;
  const statement =
    `SELECT b AS bucket, ${pick("campaign", "campaignId")}, ${pick("ad", "adId")}, ${pick("region", "region")}, sum(clicks) AS clicks ` +
    `FROM (${cells}) GROUP BY ${["b", ...dims].join(", ")} ORDER BY ${["b", ...dims].join(", ")} LIMIT ${p.add(q.limit)}`;
  return withDailyBefore<SeriesRow>(db, q, db.prepare(statement).bind(...p.values));
}

/**
 * The `limit` campaigns (or campaign/ad pairs) with the most clicks in [from, to), ties by id; and, in
 * `groupTotals`, the totals of `groups` (`[campaign_id, ad_id | null]` each; one statement per ≤ 90 KB
 * of them, D1's statement size).
 */
export async function topClicks(
  db: D1Database,
  q: { from: number; to: number; by: "campaign" | "ad"; limit: number; filters: ClickFilters; sources: string; groups: [string, string | null][] },
): Promise<Answered<TopRow> & { groupTotals: TopRow[] }> {
  const keys = q.by === "campaign" ? ["campaign_id"] : ["campaign_id", "ad_id"];
  const totals = (p: Params) => {
    // Whole days are read the same way at every granularity; `minute` keeps the minute zone exact.
    const cells = cellsSql(p, { ...q, granularity: "minute" });
    return `SELECT campaign_id AS campaignId, ${q.by === "ad" ? "ad_id" : "NULL"} AS adId, sum(clicks) AS clicks FROM (${cells})`;
  };
  const p = new Params();
  const statement = `${totals(p)} GROUP BY ${keys.join(", ")} ORDER BY clicks DESC, ${keys.join(", ")} LIMIT ${p.add(q.limit)}`;
  const match = q.by === "campaign" ? "j.value ->> 0 = campaign_id" : "j.value ->> 0 = campaign_id AND j.value ->> 1 = ad_id";
  const groupStatements = chunkJson(q.groups).map((list) => {
    const g = new Params();
    const text = `${totals(g)} WHERE EXISTS (SELECT 1 FROM json_each(${g.add(list)}) AS j WHERE ${match}) GROUP BY ${keys.join(", ")}`;
    return db.prepare(text).bind(...g.values);
  });
  const answer = await withDailyBefore<TopRow>(db, q, db.prepare(statement).bind(...p.values), groupStatements);
  return { ...answer, groupTotals: answer.more.flatMap((r) => r.results as TopRow[]) };
}

/**
 * Ingest health per arrival window, summed over every source that flushes statistics; with the ledger's
 * newest flush of each of `sources` (JSON list), read in the same batch.
 */
export async function ingestStatsSeries(
  db: D1Database,
  q: { from: number; to: number; granularity: Granularity; sources: string },
): Promise<{ rows: IngestStatsRow[]; ledger: Map<string, number> }> {
  const size = GRANULARITY_MS[q.granularity];
  const bucket = size === MINUTE_MS ? "window_start" : `window_start - window_start % ${size}`;
  const statement =
    `SELECT ${bucket} AS bucket, sum(accepted) AS accepted, sum(duplicates) AS duplicates, sum(too_late) AS tooLate, sum(future) AS future, ` +
    `sum(invalid) AS invalid FROM ingest_stats WHERE window_start >= ?1 AND window_start < ?2 GROUP BY 1 ORDER BY 1`;
  const [ledger, rows] = await db.batch<unknown>([db.prepare(LEDGER_SQL).bind(q.sources), db.prepare(statement).bind(q.from, q.to)]);
  return { rows: rows.results as IngestStatsRow[], ledger: ledgerOf(ledger) };
}
