import { aggregatorName } from "../../lib/clicks/aggregators";
import type { Cell } from "../../lib/clicks/cell-table";
import type { PendingQuery } from "../../lib/clicks/pending";
import { clickSettings } from "../../lib/clicks/settings";
import { ApiError } from "../../lib/errors";
import { windowCeil, windowStart } from "../../lib/clicks/metrics-window";

/** Reads again at most this many times when D1 takes a flush between the two reads. */
const MAX_READS = 5;

export interface Pending {
  cells: Cell[];
  stats: number[][];
}

/**
 * The question to the aggregators for a metrics range: whole days around it (the answered range is
 * widened to whole days where days were rolled up; the merge keeps only the answered range).
 */
export function pendingQuery(range: { from: number; to: number }, filters: { campaign_id?: string[]; ad_id?: string[]; region?: string[] }, stats = false): PendingQuery {
  const from = windowStart(range.from, "day");
  const to = windowCeil(range.to, "day");
  return {
    from: stats ? 0 : from,
    to: stats ? 0 : to,
    statsFrom: stats ? range.from : 0,
    statsTo: stats ? range.to : 0,
    campaign_id: filters.campaign_id,
    ad_id: filters.ad_id,
    region: filters.region,
  };
}

/**
 * A metrics read that includes what the ClickAggregators hold and D1 does not have yet (they write D1
 * once per D1_FLUSH_INTERVAL_MS; freshness is FLUSH_INTERVAL_MS), exactly once:
 *
 * 1. every aggregator answers its pending counts and `firstPending`, the lowest flush id D1 may lack;
 * 2. then `readD1(sources)` reads D1 and, in the same batch, the ledger's newest flush of each
 *    aggregator (`sources`: their names as a JSON list);
 * 3. if for every aggregator that ledger flush is below `firstPending`, D1 had none of the pending
 *    counts when it answered, and every count is in exactly one of the two reads: done. Otherwise a flush
 *    landed in D1 between the reads (once per D1 interval per aggregator): read both again.
 *
 * 503 `metrics_catching_up` while an aggregator holds more than one answer may carry (a backlog after a
 * long D1 outage), `metrics_busy` if D1 kept moving for MAX_READS reads.
 */
export async function withPending<T extends { ledger: Map<string, number> }>(
  env: Env,
  q: PendingQuery,
  readD1: (sources: string, pending: Pending) => Promise<T>,
  names = Array.from({ length: clickSettings(env).aggregators }, (_, i) => aggregatorName(i)),
): Promise<T & { pending: Pending }> {
  const sources = JSON.stringify(names);
  for (let read = 1; ; read++) {
    const answers = await Promise.all(names.map((n) => env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(n)).pending(q)));
    if (answers.some((a) => a.overflow)) {
      throw new ApiError(503, "metrics_catching_up", "The click pipeline is writing a backlog to D1; retry shortly", { retry_after_seconds: 5 });
    }
    // our own objects' answers: the RPC types only lose the cells' tuple shape
    const pending: Pending = { cells: answers.flatMap((a) => a.cells as Cell[]), stats: answers.flatMap((a) => a.stats) };
    const d1 = await readD1(sources, pending);
    if (answers.every((a, i) => (d1.ledger.get(names[i]) ?? 0) < a.firstPending)) return { ...d1, pending };
    if (read >= MAX_READS) throw new ApiError(503, "metrics_busy", "The click counts kept moving while read; retry", { retry_after_seconds: 1 });
  }
}
