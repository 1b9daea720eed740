import type { Cell } from "./cell-table";

/**
 * The metrics API's question to each ClickAggregator (workers/lib/pending-clicks.ts): the counts it holds
 * that D1 does not have yet. Cells of windows in [from, to) matching the filters (a filter absent or
 * empty matches all), statistics of arrival minutes in [statsFrom, statsTo).
 */
export interface PendingQuery {
  from: number;
  to: number;
  statsFrom: number;
  statsTo: number;
  campaign_id?: string[];
  ad_id?: string[];
  region?: string[];
}

export interface PendingAnswer {
  /**
   * The lowest flush id of this aggregator that D1 may not have yet (its oldest frozen flush, else its
   * next id). A D1 ledger row of this source at or above it means D1 took some of these counts between
   * this answer and the D1 read: the reader reads again.
   */
  firstPending: number;
  cells: Cell[];
  /** Per arrival minute: [minute, accepted, duplicates, invalid, too_late, future]. */
  stats: number[][];
  /** More waits than one answer may carry (a backlog after a long D1 outage): no exact answer now. */
  overflow: boolean;
}
