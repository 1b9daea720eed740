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
import { pendingQuery, withPending } from "./lib/pending-clicks";
import { mergeSeries, mergeStats, mergeTop, pendingGroups } from "../lib/clicks/pending-merge";
import { EPOCHS_OBJECT } from "../durable-objects/ClickEpochs";
import { aggregatorName } from "../lib/clicks/aggregators";
import { epochShardName } from "../lib/clicks/epochs";
import { knownBufferNames } from "./lib/click-ingest";
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
  const answer = await withPending(c.env, pendingQuery(range, q), (sources) =>
    clickSeries(c.env.DB, { ...range, granularity, groupBy, filters: q, limit: MAX_SERIES_ROWS + 1, sources }),
  );
  // D1 stopped at MAX_SERIES_ROWS + 1 rows: more than that stays more than that with pending cells added
  const rows = answer.rows.length > MAX_SERIES_ROWS ? answer.rows : mergeSeries(answer.rows, answer.pending.cells, { ...answer, granularity, groupBy });
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
  const limit = q.limit ?? TOP_LIMIT_DEFAULT;
  const answer = await withPending(c.env, pendingQuery(range, q), (sources, pending) => {
    // D1's top `limit` + one per group that pending cells add to, and those groups' totals: exact (mergeTop)
    const groups = pendingGroups(pending.cells, by);
    return topClicks(c.env.DB, { ...range, by, limit: limit + groups.length, filters: q, sources, groups });
  });
  const items = mergeTop(answer.rows, answer.groupTotals, answer.pending.cells, { from: answer.from, to: answer.to, by, limit });
  return c.json({
    by,
    from: toRfc3339(answer.from),
    to: toRfc3339(answer.to),
    daily_before: dailyBefore(answer.dailyBefore),
    items: items.map((r) => (by === "ad" ? { campaign_id: r.campaignId, ad_id: r.adId, clicks: r.clicks } : { campaign_id: r.campaignId, clicks: r.clicks })),
  });
});

metricsApp.get("/ingest-stats", async (c) => {
  const q = parseQuery(IngestStatsQuery, c.req.queries());
  const granularity = q.granularity ?? "minute";
  const range = resolveRange(q, granularity, Date.now());
  const answer = await withPending(c.env, pendingQuery(range, {}, true), (sources) => ingestStatsSeries(c.env.DB, { ...range, granularity, sources }));
  const rows = mergeStats(answer.rows, answer.pending.stats, { ...range, granularity });
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

/**
 * The pipeline's shard epochs (CLICK_SHARDS history) and what waits at each hop, for operators (and the
 * end-to-end tests' "nothing left in flight" check). One RPC per object listed: 7 × CLICK_BUFFERS
 * buffers (and any other buffer that forwarded within ClickEpochs.BUFFER_LISTED_MS: an isolate spread
 * over it under load), the shards of the recorded epochs, CLICK_AGGREGATORS aggregators.
 */
metricsApp.get("/pipeline", async (c) => {
  const env = c.env;
  const settings = clickSettings(env);
  const registry = env.CLICK_EPOCHS.get(env.CLICK_EPOCHS.idFromName(EPOCHS_OBJECT));
  const [list, registered] = await Promise.all([registry.epochs(), registry.buffers()]);
  // the configured buffers, those this isolate spread over, and those that forwarded lately (any isolate's)
  const bufferNames = knownBufferNames(env, registered);
  const shardNames = list.flatMap((e) => Array.from({ length: e.shards }, (_, i) => ({ name: epochShardName(e.epoch, i), epoch: e.epoch })));
  const aggNames = Array.from({ length: settings.aggregators }, (_, i) => aggregatorName(i));
  const [buffers, shards, aggregators] = await Promise.all([
    Promise.all(bufferNames.map((n) => env.CLICK_BUFFER.get(env.CLICK_BUFFER.idFromName(n)).state())),
    Promise.all(shardNames.map((s) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(s.name)).state())),
    Promise.all(aggNames.map((n) => env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(n)).state())),
  ]);
  return c.json({
    epochs: list.map((e) => ({ epoch: e.epoch, shards: e.shards, since: e.since === 0 ? null : toRfc3339(e.since) })),
    buffers: buffers.map((st, i) => ({ name: bufferNames[i], pending_clicks: st.pendingClicks, pending_batches: st.pendingBatches, frozen_forward: st.frozenForward })),
    shards: shards.map((st, i) => ({ ...shardNames[i], open_entries: st.openCells, open_stats: st.openStats, frozen_handoff: st.frozenFlush, dedup_keys: st.dedupKeys })),
    aggregators: aggregators.map((st, i) => ({ name: aggNames[i], open_cells: st.openCells, open_stats: st.openStats, frozen_flush: st.frozenFlush, ae_outbox: st.aeOutbox, sources: st.sources })),
  });
});
