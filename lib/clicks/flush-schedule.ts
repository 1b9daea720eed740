/**
 * When the click pipeline's objects hand off and flush (docs/clicks-pipeline.md, "Freshness"). Every
 * ClickAggregator flushes on the same wall-clock boundaries (multiples of FLUSH_INTERVAL_MS), and every
 * ClickShard hands its open cells off a lead time before the next boundary, so one hand-off per shard
 * per interval meets every aggregator's next flush: shards × aggregators RPCs per interval, not per
 * hand-off delay, and no cell waits for a flush more than an interval plus the lead.
 */

/** The first flush boundary (a multiple of `intervalMs` since the epoch) strictly after `t`. */
export function boundaryAfter(t: number, intervalMs: number): number {
  return (Math.floor(t / intervalMs) + 1) * intervalMs;
}

/** When a shard hands off cells opened at `t`: `leadMs` before the first boundary that leaves it that lead. */
export function handoffAt(t: number, intervalMs: number, leadMs: number): number {
  return boundaryAfter(t + leadMs, intervalMs) - leadMs;
}
