/**
 * The bookkeeping that a ClickShard's hand-off and a ClickAggregator's flush share: both keep open
 * (minute, campaign, ad, region) cells and per-minute statistics under flush_id 0 in `cells` / `stats`,
 * freeze a bounded part of them under a new flush id (a row in `flushes`), retry that frozen flush with
 * a backoff until it is delivered, then drop it. Tables: PIPELINE_TABLES in flush-pipeline.ts (the
 * shard's v1 migration creates the same three).
 */

/** Open (not yet frozen) cells and statistics carry flush_id 0. */
export const OPEN = 0;

/**
 * Cells per flush (one D1 batch). Each cell is one JSON row of ≤ ~800 bytes (ids ≤ 64 characters), so a
 * flush binds ≤ ~1 MB in ≤ ~10 statements of ≤ 90 KB (MAX_JSON_PARAM_BYTES) plus the ledger and stats.
 */
export const MAX_FLUSH_CELLS = 1_000;

/** A failed delivery is retried after interval·2ⁿ (n = failed attempts so far), at most this long. */
export const MAX_RETRY_MS = 30_000;

export class FrozenFlushes {
  constructor(private readonly sql: SqlStorage) {}

  /** The flush frozen and not yet delivered (at most one at a time), or null. */
  current(): number | null {
    const row = this.sql.exec<{ flush_id: number }>("SELECT flush_id FROM flushes ORDER BY flush_id LIMIT 1").toArray()[0];
    return row ? row.flush_id : null;
  }

  /** True when open cells or statistics wait to be frozen. */
  hasOpen(): boolean {
    return this.hasRows("SELECT 1 FROM cells WHERE flush_id = 0 UNION ALL SELECT 1 FROM stats WHERE flush_id = 0 LIMIT 1");
  }

  /** True when more than one flush's worth of cells is open (a backlog drains at once, flush after flush). */
  backlog(): boolean {
    return this.hasRows(`SELECT 1 FROM cells WHERE flush_id = 0 LIMIT 1 OFFSET ${MAX_FLUSH_CELLS - 1}`);
  }

  /** True while a delivery has failed before (a restart keeps its backoff). */
  failedBefore(): boolean {
    return this.hasRows("SELECT 1 FROM flushes WHERE attempts > 0");
  }

  /**
   * Moves up to MAX_FLUSH_CELLS open cells and every open statistic under `flushId` and records the flush
   * (inside the caller's transaction). Returns how many cells moved.
   */
  freezeOpen(flushId: number): number {
    const moved = this.sql.exec(
      "UPDATE cells SET flush_id = ? WHERE (flush_id, w, c, a, r) IN (SELECT flush_id, w, c, a, r FROM cells WHERE flush_id = ? LIMIT ?)",
      flushId,
      OPEN,
      MAX_FLUSH_CELLS,
    ).rowsWritten;
    this.sql.exec("UPDATE stats SET flush_id = ? WHERE flush_id = ?", flushId, OPEN);
    this.sql.exec("INSERT INTO flushes (flush_id, frozen_at) VALUES (?, ?)", flushId, Date.now());
    return moved;
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

  hasRows(q: string): boolean {
    return this.sql.exec(q).toArray().length > 0;
  }
}
