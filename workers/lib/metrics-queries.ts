import { and, asc, gte, lt, sql, type AnyColumn, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ingestStats } from "../../db/schema";
import { DAY_MS, GRANULARITY_MS, MINUTE_MS, windowCeil, windowStart, withDailyZone, type Granularity } from "../../lib/clicks/metrics-window";
import type { Dimension } from "../../lib/clicks/metrics-query";

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

export interface SeriesRow {
  bucket: number;
  campaignId: string | null;
  adId: string | null;
  region: string | null;
  clicks: number;
}

/** What a click query answered: the range widened to whole days in the daily zone, and that zone's end. */
export interface Answered<T> {
  rows: T[];
  from: number;
  to: number;
  /** Start of the first day still kept per minute (0 when no day was rolled up yet). */
  dailyBefore: number;
}

/** Start of the window a stored minute belongs to; the size is a trusted constant, inlined so GROUP BY and SELECT match. */
function bucketOf(column: typeof ingestStats.windowStart, granularity: Granularity): SQL<number> {
  if (granularity === "minute") return sql<number>`${column}`;
  return sql<number>`(${column} - (${column} % ${sql.raw(String(GRANULARITY_MS[granularity]))}))`;
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
 * Runs `query` and reads the daily zone's end in one D1 batch (one transaction), so the answered
 * range matches the rows even while the retention job moves a day.
 */
async function withDailyBefore<T>(db: D1Database, q: { from: number; to: number }, query: D1PreparedStatement): Promise<Answered<T>> {
  const [zone, rows] = await db.batch<unknown>([db.prepare(DAILY_BEFORE_SQL), query]);
  const dailyBefore = Number((zone.results[0] as { v: number | null } | undefined)?.v ?? 0);
  return { rows: rows.results as T[], dailyBefore, ...withDailyZone(q.from, q.to, dailyBefore) };
}

const DIMENSION_COLUMNS: Record<Dimension, string> = { campaign: "campaign_id", ad: "ad_id", region: "region" };

/** Clicks per window and per cell of the named dimensions, sorted by window then dimensions; at most `limit` rows. */
export async function clickSeries(
  db: D1Database,
  q: { from: number; to: number; granularity: Granularity; groupBy: readonly Dimension[]; filters: ClickFilters; limit: number },
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

export interface TopRow {
  campaignId: string;
  adId: string | null;
  clicks: number;
}

/** The `limit` campaigns (or campaign/ad pairs) with the most clicks in [from, to), ties by id. */
export async function topClicks(
  db: D1Database,
  q: { from: number; to: number; by: "campaign" | "ad"; limit: number; filters: ClickFilters },
): Promise<Answered<TopRow>> {
  const p = new Params();
  // Whole days are read the same way at every granularity; `minute` keeps the minute zone exact.
  const cells = cellsSql(p, { ...q, granularity: "minute" });
  const keys = q.by === "campaign" ? ["campaign_id"] : ["campaign_id", "ad_id"];
  const statement =
    `SELECT campaign_id AS campaignId, ${q.by === "ad" ? "ad_id" : "NULL"} AS adId, sum(clicks) AS clicks FROM (${cells}) ` +
    `GROUP BY ${keys.join(", ")} ORDER BY clicks DESC, ${keys.join(", ")} LIMIT ${p.add(q.limit)}`;
  return withDailyBefore<TopRow>(db, q, db.prepare(statement).bind(...p.values));
}

export interface IngestStatsRow {
  bucket: number;
  accepted: number;
  duplicates: number;
  tooLate: number;
  future: number;
  invalid: number;
}

/** Ingest health per arrival window, summed over every source that flushes statistics. */
export async function ingestStatsSeries(db: D1Database, q: { from: number; to: number; granularity: Granularity }): Promise<IngestStatsRow[]> {
  const bucket = bucketOf(ingestStats.windowStart, q.granularity);
  const total = (col: AnyColumn) => sql<number>`sum(${col})`.mapWith(Number);
  return drizzle(db)
    .select({
      bucket,
      accepted: total(ingestStats.accepted),
      duplicates: total(ingestStats.duplicates),
      tooLate: total(ingestStats.tooLate),
      future: total(ingestStats.future),
      invalid: total(ingestStats.invalid),
    })
    .from(ingestStats)
    .where(and(gte(ingestStats.windowStart, q.from), lt(ingestStats.windowStart, q.to)))
    .groupBy(bucket)
    .orderBy(asc(bucket));
}
