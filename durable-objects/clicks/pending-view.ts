import { CellTable, type Cell } from "../../lib/clicks/cell-table";
import type { PendingAnswer, PendingQuery } from "../../lib/clicks/pending";
import { addMinuteStats, type MinuteStats, type OpenLog } from "./open-log";

/**
 * Distinct cells one pending view holds at most (≈ 150 bytes each in memory: ≤ ≈ 15 MB). An aggregator
 * holds one D1 interval's cells — ≈ 21 000 cells of the current minute over all aggregators at 50 000
 * events/s (docs/production.md §4) — so only a backlog (D1 down for a long time) gets near it; then
 * the metrics API answers 503 until the backlog drains instead of an inexact count.
 */
export const MAX_PENDING_CELLS = 100_000;

/**
 * What a ClickAggregator holds and D1 does not yet have — its frozen flushes and its open log — merged
 * per cell and per arrival minute, for the metrics API (workers/lib/pending-clicks.ts). Built on the
 * first query, then brought up to date with the log rows appended since; the pipeline drops it when
 * a freeze or a flush changes what is frozen (once per D1 interval).
 */
export class PendingView {
  private readonly cells = new CellTable();
  private readonly minutes = new Map<number, MinuteStats>();
  private logUpTo = 0;
  private overflow = false;

  /** `frozen`: the frozen flushes' cells and statistics (open-log order), oldest first. */
  constructor(frozen: Iterable<{ cells: Cell[]; stats: number[][] }>) {
    for (const f of frozen) if (!this.add(f.cells, f.stats)) break;
  }

  /** Adds the log rows appended since the last call (nothing once over MAX_PENDING_CELLS). */
  catchUp(log: OpenLog): void {
    if (this.overflow) return;
    for (const row of log.rowsAfter(this.logUpTo)) {
      this.logUpTo = row.id;
      if (!this.add(row.cells, row.stats)) return;
    }
  }

  /** The cells and statistics a query asks for; `overflow` (and nothing else) past MAX_PENDING_CELLS. */
  answer(q: PendingQuery, firstPending: number): PendingAnswer {
    if (this.overflow) return { firstPending, cells: [], stats: [], overflow: true };
    const wanted = (list: string[] | undefined) => (list && list.length > 0 ? new Set(list) : null);
    const [campaigns, ads, regions] = [wanted(q.campaign_id), wanted(q.ad_id), wanted(q.region)];
    const cells = this.cells
      .values()
      .filter(([w, c, a, r, n]) => n !== 0 && w >= q.from && w < q.to && (!campaigns || campaigns.has(c)) && (!ads || ads.has(a)) && (!regions || regions.has(r)))
      .map((cell): Cell => [...cell]);
    const stats = [...this.minutes].filter(([minute]) => minute >= q.statsFrom && minute < q.statsTo).map(([minute, counts]) => [minute, ...counts]);
    return { firstPending, cells, stats, overflow: false };
  }

  private add(cells: Cell[], stats: number[][]): boolean {
    for (const [w, c, a, r, n] of cells) this.cells.add(w, c, a, r, n);
    addMinuteStats(this.minutes, stats);
    if (this.cells.size > MAX_PENDING_CELLS) this.overflow = true;
    return !this.overflow;
  }
}
