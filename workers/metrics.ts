import { ApiError } from "../lib/errors";
import {
  IngestStatsQuery,
  MAX_SERIES_ROWS,
  MAX_TOP_RANGE_MS,
  MetricsQuery,
  TOP_LIMIT_DEFAULT,
  TopQuery,
  parseQuery,
  resolveRange,
  toRfc3339,
} from "../lib/clicks/metrics-query";
import { MINUTE_MS } from "../lib/clicks/metrics-window";
import { newSubApp } from "./lib/app-factory";
import { requireAuth } from "./lib/auth";
import { clickSeries, ingestStatsSeries, topClicks } from "./lib/metrics-queries";
import { EPOCHS_OBJECT } from "../durable-objects/ClickEpochs";
import { aggregatorName } from "../lib/clicks/aggregators";
import { clickSettings } from "../lib/clicks/settings";

/** Click metrics read API, mounted at /api/v1/clicks (role viewer and up). docs/clicks-api.md describes it. */
export const metricsApp = newSubApp();

metricsApp.use("*", requireAuth("metrics.read"));
metricsApp.use("*", async (c, next) => {
  await next();
  // Near-real-time numbers: never let a cache serve a stale minute.
  c.header("Cache-Control", "no-store");
});

/**
 * Where minute resolution begins: days before it were rolled up (CLICK_MINUTE_RETENTION_DAYS), so
 * windows there are whole UTC days and the answered range is widened to whole days. Null: none yet.
 */
function dailyBefore(ms: number): string | null {
  return ms > 0 ? toRfc3339(ms) : null;
}

metricsApp.get("/metrics", async (c) => {
  const q = parseQuery(MetricsQuery, c.req.queries());
  const granularity = q.granularity ?? "minute";
  const groupBy = q.group_by ?? [];
  const range = resolveRange(q, granularity, Date.now());
  const answer = await clickSeries(c.env.DB, {
    ...range,
    granularity,
    groupBy,
    filters: q,
    limit: MAX_SERIES_ROWS + 1,
  });
  const rows = answer.rows;
  if (rows.length > MAX_SERIES_ROWS) {
    throw new ApiError(422, "too_many_rows", `The answer would exceed ${MAX_SERIES_ROWS} series rows; narrow the range, filter, group by fewer dimensions or use a coarser granularity`, {
      max_rows: MAX_SERIES_ROWS,
      granularity,
      group_by: groupBy,
    });
  }
  return c.json({
    granularity,
    from: toRfc3339(answer.from),
    to: toRfc3339(answer.to),
    daily_before: dailyBefore(answer.dailyBefore),
    group_by: groupBy,
    series: rows.map((r) => ({
      window_start: toRfc3339(r.bucket),
      ...(groupBy.includes("campaign") ? { campaign_id: r.campaignId } : {}),
      ...(groupBy.includes("ad") ? { ad_id: r.adId } : {}),
      ...(groupBy.includes("region") ? { region: r.region } : {}),
      clicks: r.clicks,
    })),
  });
});

metricsApp.get("/top", async (c) => {
  const q = parseQuery(TopQuery, c.req.queries());
  const by = q.by ?? "campaign";
  const range = resolveRange(q, "minute", Date.now(), MAX_TOP_RANGE_MS / MINUTE_MS);
  const answer = await topClicks(c.env.DB, { ...range, by, limit: q.limit ?? TOP_LIMIT_DEFAULT, filters: q });
  return c.json({
    by,
    from: toRfc3339(answer.from),
    to: toRfc3339(answer.to),
    daily_before: dailyBefore(answer.dailyBefore),
    items: answer.rows.map((r) => (by === "ad" ? { campaign_id: r.campaignId, ad_id: r.adId, clicks: r.clicks } : { campaign_id: r.campaignId, clicks: r.clicks })),
  });
});

metricsApp.get("/ingest-stats", async (c) => {
  const q = parseQuery(IngestStatsQuery, c.req.queries());
  const granularity = q.granularity ?? "minute";
  const range = resolveRange(q, granularity, Date.now());
  const rows = await ingestStatsSeries(c.env.DB, { ...range, granularity });
  const totals = { accepted: 0, duplicates: 0, too_late: 0, future: 0, invalid: 0 };
  const series = rows.map((r) => {
    const point = { window_start: toRfc3339(r.bucket), accepted: r.accepted, duplicates: r.duplicates, too_late: r.tooLate, future: r.future, invalid: r.invalid };
    totals.accepted += point.accepted;
    totals.duplicates += point.duplicates;
    totals.too_late += point.too_late;
    totals.future += point.future;
    totals.invalid += point.invalid;
    return point;
  });
  return c.json({ granularity, from: toRfc3339(range.from), to: toRfc3339(range.to), totals, series });
});

/** The pipeline's shard epochs (CLICK_SHARDS history) and each aggregator's backlog, for operators. */
metricsApp.get("/pipeline", async (c) => {
  const list = await c.env.CLICK_EPOCHS.get(c.env.CLICK_EPOCHS.idFromName(EPOCHS_OBJECT)).epochs();
  const names = Array.from({ length: clickSettings(c.env).aggregators }, (_, i) => aggregatorName(i));
  const states = await Promise.all(names.map((n) => c.env.CLICK_AGGREGATOR.get(c.env.CLICK_AGGREGATOR.idFromName(n)).state()));
  return c.json({
    epochs: list.map((e) => ({ epoch: e.epoch, shards: e.shards, since: e.since === 0 ? null : toRfc3339(e.since) })),
    aggregators: states.map((st, i) => ({ name: names[i], open_cells: st.openCells, frozen_flush: st.frozenFlush, ae_outbox: st.aeOutbox, sources: st.sources })),
  });
});
