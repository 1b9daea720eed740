import { and, asc, desc, gte, inArray, lt, sql, type AnyColumn, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { clickCounts, ingestStats } from "../../db/schema";
import { GRANULARITY_MS, type Granularity } from "../../lib/clicks/metrics-window";
import type { Dimension } from "../../lib/clicks/metrics-query";

/** Read side of the click pipeline: sums over the minute tables in D1, rolled up at query time. */

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

/** Start of the window a stored minute belongs to; the size is a trusted constant, inlined so GROUP BY and SELECT match. */
function bucketOf(column: typeof clickCounts.windowStart | typeof ingestStats.windowStart, granularity: Granularity): SQL<number> {
  if (granularity === "minute") return sql<number>`${column}`;
  return sql<number>`(${column} - (${column} % ${sql.raw(String(GRANULARITY_MS[granularity]))}))`;
}

function clickWhere(from: number, to: number, f: ClickFilters): SQL | undefined {
  return and(
    gte(clickCounts.windowStart, from),
    lt(clickCounts.windowStart, to),
    f.campaign_id?.length ? inArray(clickCounts.campaignId, f.campaign_id) : undefined,
    f.ad_id?.length ? inArray(clickCounts.adId, f.ad_id) : undefined,
    f.region?.length ? inArray(clickCounts.region, f.region) : undefined,
  );
}

const DIMENSION_COLUMNS = { campaign: clickCounts.campaignId, ad: clickCounts.adId, region: clickCounts.region } as const;

/** Clicks per window and per cell of the named dimensions, sorted by window then dimensions; at most `limit` rows. */
export async function clickSeries(
  db: D1Database,
  q: { from: number; to: number; granularity: Granularity; groupBy: readonly Dimension[]; filters: ClickFilters; limit: number },
): Promise<SeriesRow[]> {
  const bucket = bucketOf(clickCounts.windowStart, q.granularity);
  const dims = q.groupBy.map((d) => DIMENSION_COLUMNS[d]);
  const pick = (d: Dimension) => (q.groupBy.includes(d) ? DIMENSION_COLUMNS[d] : sql<null>`NULL`);
  return drizzle(db)
    .select({
      bucket,
      campaignId: pick("campaign"),
      adId: pick("ad"),
      region: pick("region"),
      clicks: sql<number>`sum(${clickCounts.clicks})`.mapWith(Number),
    })
    .from(clickCounts)
    .where(clickWhere(q.from, q.to, q.filters))
    .groupBy(bucket, ...dims)
    .orderBy(asc(bucket), ...dims.map((d) => asc(d)))
    .limit(q.limit);
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
): Promise<TopRow[]> {
  const clicks = sql<number>`sum(${clickCounts.clicks})`.mapWith(Number);
  const base = drizzle(db);
  const where = clickWhere(q.from, q.to, q.filters);
  if (q.by === "campaign") {
    return base
      .select({ campaignId: clickCounts.campaignId, adId: sql<null>`NULL`, clicks })
      .from(clickCounts)
      .where(where)
      .groupBy(clickCounts.campaignId)
      .orderBy(desc(clicks), asc(clickCounts.campaignId))
      .limit(q.limit);
  }
  return base
    .select({ campaignId: clickCounts.campaignId, adId: clickCounts.adId, clicks })
    .from(clickCounts)
    .where(where)
    .groupBy(clickCounts.campaignId, clickCounts.adId)
    .orderBy(desc(clicks), asc(clickCounts.campaignId), asc(clickCounts.adId))
    .limit(q.limit);
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
