import { hasRows } from "../../lib/sql-migrations";
import type { Cell } from "./open-log";

/**
 * The bookkeeping that a ClickShard's hand-off and a ClickAggregator's flush share: both freeze their
 * open log (open-log.ts) into flushes (rows of `flushes`, lowest id first), retry the lowest with a
 * backoff until it is delivered, then drop it. Tables: PIPELINE_TABLES in flush-pipeline.ts (the
 * shard's v1 migration creates the same ones); `cells` / `stats` under a flush id hold only flushes
 * frozen by the code before the open log.
 */

/**
 * Cells per flush (one D1 batch). Each cell is one JSON row of ≤ ~800 bytes (ids ≤ 64 characters), so a
 * flush binds ≤ ~1 MB in ≤ ~10 statements of ≤ 90 KB (MAX_JSON_PARAM_BYTES) plus the ledger and stats.
 */
export const MAX_FLUSH_CELLS = 1_000;

/** A failed delivery is retried after interval·2ⁿ (n = failed attempts so far), at most this long. */
export const MAX_RETRY_MS = 30_000;

export class FrozenFlushes {
  constructor(private readonly sql: SqlStorage) {}

  /** The oldest flush frozen and not yet delivered, or null. */
  current(): number | null {
    const row = this.sql.exec<{ flush_id: number }>("SELECT flush_id FROM flushes ORDER BY flush_id LIMIT 1").toArray()[0];
    return row ? row.flush_id : null;
  }

  /** True while a delivery has failed before (a restart keeps its backoff). */
  failedBefore(): boolean {
    return hasRows(this.sql, "SELECT 1 FROM flushes WHERE attempts > 0 LIMIT 1");
  }

  /** Deletes a flush's cells and statistics, and the flush itself unless `keepFlush` (inside the caller's transaction). */
  drop(flushId: number, keepFlush = false): void {
    this.sql.exec("DELETE FROM cells WHERE flush_id = ?", flushId);
    this.sql.exec("DELETE FROM stats WHERE flush_id = ?", flushId);
    if (!keepFlush) this.sql.exec("DELETE FROM flushes WHERE flush_id = ?", flushId);
  }

  /** Counts a failed delivery of the frozen flush; returns when to retry it (interval·2ⁿ, at most MAX_RETRY_MS). */
  recordFailure(intervalMs: number): { attempts: number; retryAt: number } {
    const id = this.current();
    let attempts = 1;
    if (id !== null) {
      this.sql.exec("UPDATE flushes SET attempts = attempts + 1 WHERE flush_id = ?", id);
      attempts = Number(this.sql.exec<{ attempts: number }>("SELECT attempts FROM flushes WHERE flush_id = ?", id).one().attempts);
    }
    return { attempts, retryAt: Date.now() + Math.min(MAX_RETRY_MS, intervalMs * 2 ** Math.min(attempts, 10)) };
  }
}

/**
 * A flush frozen by the code before the open log: its cells and statistics as rows under its flush id.
 * Statistics as the open log and the parts carry them: `[minute, accepted, duplicates, invalid, too_late, future]`.
 */
export function legacyFlush(sql: SqlStorage, flushId: number): { cells: Cell[]; stats: number[][] } {
  const cells = sql
    .exec<{ w: number; c: string; a: string; r: string; n: number }>("SELECT w, c, a, r, n FROM cells WHERE flush_id = ?", flushId)
    .toArray()
    .map((x): Cell => [x.w, x.c, x.a, x.r, x.n]);
  const stats = sql
    .exec<{ minute: number; accepted: number; duplicates: number; invalid: number; too_late: number; future: number }>(
      "SELECT minute, accepted, duplicates, invalid, too_late, future FROM stats WHERE flush_id = ?",
      flushId,
    )
    .toArray()
    .map((x) => [x.minute, x.accepted, x.duplicates, x.invalid, x.too_late, x.future]);
  return { cells, stats };
}
