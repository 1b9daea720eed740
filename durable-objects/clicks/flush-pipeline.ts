import { flushStatements, isLedgerConflict, type CountRow, type StatsRow } from "../../lib/clicks/flush-sql";
import { hasRows, readMeta, writeMeta } from "../../lib/sql-migrations";
import { boundaryAfter } from "../../lib/clicks/flush-schedule";
import { FrozenFlushes, legacyFlush, MAX_FLUSH_CELLS } from "./frozen-flushes";
import { OPEN_LOG_TABLE, OpenLog, type Cell, type JsonPart } from "./open-log";
import { AE_RETRY_MS, analyticsPending, drainAnalytics, hasAnalytics, queueAnalytics } from "./analytics-outbox";
import { PendingView } from "./pending-view";
import type { PendingAnswer, PendingQuery } from "../../lib/clicks/pending";

/**
 * The exactly-once flush of open (minute, campaign, ad, region) cells and per-minute ingest statistics
 * to D1, and of the flushed clicks to Analytics Engine (docs/clicks-pipeline.md, "Exactly once", hop 3).
 * Used by ClickAggregator; the object owns the SQLite tables below and calls `alarmStep()` from its alarm.
 */
export const PIPELINE_TABLES = `
  CREATE TABLE cells (flush_id INTEGER NOT NULL, w INTEGER NOT NULL, c TEXT NOT NULL, a TEXT NOT NULL, r TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (flush_id, w, c, a, r)) WITHOUT ROWID;
  CREATE TABLE stats (flush_id INTEGER NOT NULL, minute INTEGER NOT NULL, accepted INTEGER NOT NULL, duplicates INTEGER NOT NULL,
    invalid INTEGER NOT NULL, too_late INTEGER NOT NULL, future INTEGER NOT NULL, PRIMARY KEY (flush_id, minute)) WITHOUT ROWID;
  CREATE TABLE flushes (flush_id INTEGER PRIMARY KEY, frozen_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE ae_outbox (id INTEGER PRIMARY KEY, c TEXT NOT NULL, a TEXT NOT NULL, r TEXT NOT NULL, n INTEGER NOT NULL);`;

/**
 * v2: parts as they arrive, one log row each (open-log.ts), merged at freeze; a frozen flush keeps its
 * merged cells and statistics as JSON in its `flushes` row (cells / stats under a flush id are only
 * those of a flush frozen before v2).
 */
export const PIPELINE_OPEN_LOG = `${OPEN_LOG_TABLE}
  ALTER TABLE flushes ADD COLUMN cells TEXT;
  ALTER TABLE flushes ADD COLUMN stats TEXT;`;

/**
 * Log entries merged per freeze: bounds a freeze's memory (≈ 100 bytes an entry) and time. Every part
 * that waits is merged in one freeze below it, so a cell reaches D1 once per interval; above it (a
 * backlog) freezes follow one another without waiting.
 */
export const MAX_FREEZE_ENTRIES = 50_000;

/** What the pipeline needs from the object that holds it. */
export interface PipelineHost {
  storage: DurableObjectStorage;
  /** Read at each use, so that tests can put a failing D1 in the object's `db` field. */
  db(): D1Database;
  analytics(): AnalyticsEngineDataset;
  /** The ledger's `source` (the object's name). */
  source(): string;
}

export interface PipelineState {
  openCells: number;
  openStats: number;
  frozenFlush: number | null;
  aeOutbox: number;
  nextFlushId: number;
}

export class FlushPipeline {
  private readonly sql: SqlStorage;
  private readonly flushes: FrozenFlushes;
  private readonly log: OpenLog;
  /** When the oldest open cell was opened, at the shard that handed it off (null: none open). */
  openSince: number | null = null;
  /** When the last flush was frozen: one freeze per interval between boundaries (≤ 1 D1 row per cell per interval). */
  private lastFreezeAt = 0;
  /**
   * No alarm before this (epoch ms): a failed flush's backoff (or an Analytics Engine error's). New
   * cells must not pull the alarm forward over it, or every object would hit a failing D1 at every interval.
   */
  backoffUntil = 0;
  /** What D1 does not have yet, merged for the metrics API; dropped when what is frozen changes. */
  private view: PendingView | null = null;

  /**
   * @param flushIntervalMs flushes happen on the boundaries of this interval (lib/clicks/flush-schedule.ts),
   *   at most one between two boundaries (≤ 1 D1 row per cell per interval)
   * @param retryBaseMs a failed flush is retried after retryBaseMs·2ⁿ (at most MAX_RETRY_MS)
   */
  constructor(
    private readonly host: PipelineHost,
    private readonly flushIntervalMs: number,
    private readonly retryBaseMs = flushIntervalMs,
  ) {
    this.sql = host.storage.sql;
    this.flushes = new FrozenFlushes(this.sql);
    this.log = new OpenLog(this.sql);
  }

  /** After a restart: a scheduled alarm while a flush has failed before is that flush's backoff. */
  restore(alarmAt: number | null): void {
    if (alarmAt !== null && this.flushes.failedBefore()) this.backoffUntil = alarmAt;
    if (!this.log.isEmpty()) this.openSince = Date.now();
  }

  /**
   * Adds parts of partial counts to the open cells (inside the caller's transaction); returns when to flush
   * them. A part's `openedAt` is when the shard opened the oldest of them: they go out with the first flush boundary
   * after it (the one the shard handed off for), or the next if this object froze since (a part that
   * arrived after its boundary). Ack → D1 ≤ forward delay + interval + hand-off lead + one batch.
   */
  addOpen(parts: readonly (JsonPart & { openedAt?: number })[], now: number): number {
    this.log.appendJsonParts(parts);
    for (const p of parts) this.openSince = Math.min(this.openSince ?? now, p.openedAt ?? now, now);
    return this.nextFlushAt();
  }

  /**
   * The boundary after the oldest open cell was opened (the shards hand off just before it), unless this
   * object already froze since that boundary: then the next one.
   */
  private nextFlushAt(): number {
    return Math.max(boundaryAfter(this.openSince ?? Date.now(), this.flushIntervalMs), boundaryAfter(this.lastFreezeAt, this.flushIntervalMs));
  }

  /**
   * One alarm's work: apply the frozen flush (or freeze and apply the next one), back off on failure,
   * drain Analytics Engine. Returns when the next alarm is due (null: nothing left to do), never before
   * `backoffUntil`.
   */
  async alarmStep(label: string): Promise<number | null> {
    let retryAt: number | null = null;
    try {
      await this.flush();
    } catch (err) {
      const failed = this.flushes.recordFailure(this.retryBaseMs);
      retryAt = failed.retryAt;
      const attempts = failed.attempts;
      console.error(`${label}: flush failed (attempt ${attempts}), retrying`, (err as Error)?.message ?? String(err));
    }
    this.backoffUntil = retryAt ?? 0;
    if (!drainAnalytics(this.sql, this.host.analytics())) this.backoffUntil = Math.max(this.backoffUntil, Date.now() + AE_RETRY_MS);

    let next: number | null = null;
    if (retryAt !== null) next = retryAt;
    else if (hasAnalytics(this.sql)) next = Date.now();
    // the rest of a freeze's flushes go one after another
    else if (this.flushes.current() !== null) next = Date.now();
    // a backlog (more than one freeze's worth waited) drains at once, freeze after freeze
    else if (!this.log.isEmpty()) next = this.log.entries() > MAX_FREEZE_ENTRIES ? Date.now() : this.nextFlushAt();
    return next === null ? null : Math.max(next, this.backoffUntil);
  }

  state(): PipelineState {
    return {
      openCells: this.log.entries(),
      openStats: this.log.statsEntries(),
      frozenFlush: this.flushes.current(),
      aeOutbox: analyticsPending(this.sql),
      nextFlushId: Number(readMeta(this.sql, "next_flush_id") ?? 1),
    };
  }

  /**
   * The counts this object holds that D1 does not have yet (frozen flushes and open log), for a metrics
   * query (lib/clicks/pending.ts). Reads only the log rows appended since the last query. Before this
   * object's first flush it first takes its flush id floor from D1 (once), so that `firstPending` is above
   * every ledger row of this source that the reader may see (a storage reset leaves D1's rows behind).
   */
  async pending(q: PendingQuery): Promise<PendingAnswer> {
    await this.ensureFlushIdFloor();
    if (this.view === null) {
      const ids = this.sql.exec<{ flush_id: number }>("SELECT flush_id FROM flushes ORDER BY flush_id").toArray().map((r) => r.flush_id);
      this.view = new PendingView(ids.map((id) => this.frozenAsLogged(id)));
    }
    this.view.catchUp(this.log);
    return this.view.answer(q, this.flushes.current() ?? Number(readMeta(this.sql, "next_flush_id") ?? 1));
  }

  /** Applies the frozen flush, or freezes the open cells into a new one and applies that. */
  private async flush(): Promise<void> {
    let flushId = this.flushes.current();
    if (flushId === null) {
      if (this.log.isEmpty()) return;
      await this.ensureFlushIdFloor();
      flushId = this.freeze();
      if (flushId === null) return;
    }
    const counts = await this.applyFlush(flushId);
    this.completeFlush(flushId, counts);
  }

  /**
   * Flush ids only grow. Before this object's first flush, start above any id D1's ledger already has
   * for this source (e.g. the object's storage was reset while D1 kept its ledger), so a new flush is
   * never mistaken for an applied one.
   */
  private async ensureFlushIdFloor(): Promise<void> {
    if (readMeta(this.sql, "next_flush_id") !== null) return;
    const row = await this.host
      .db()
      .prepare("SELECT max(flush_id) AS m FROM click_flush_ledger WHERE source = ?")
      .bind(this.host.source())
      .first<{ m: number | null }>();
    if (readMeta(this.sql, "next_flush_id") === null) writeMeta(this.sql, "next_flush_id", Number(row?.m ?? 0) + 1);
  }

  /**
   * Merges the waiting parts (≤ MAX_FREEZE_ENTRIES log entries) and freezes them, atomically, as flushes
   * of ≤ MAX_FLUSH_CELLS cells each (one D1 batch each; the statistics go with the first), in
   * (window, campaign, ad, region) order. Returns the first flush id, or null when nothing was open.
   */
  private freeze(): number | null {
    this.view = null;
    return this.host.storage.transactionSync(() => {
      const merged = this.log.take(MAX_FREEZE_ENTRIES);
      if (merged === null) return null;
      const cells = merged.cells.sorted();
      const stats = [...merged.minutes].map(([minute, counts]) => [minute, ...counts]);
      const first = Number(readMeta(this.sql, "next_flush_id") ?? 1);
      let flushId = first;
      for (let i = 0; i === 0 || i < cells.length; i += MAX_FLUSH_CELLS, flushId++) {
        const chunk = cells.slice(i, i + MAX_FLUSH_CELLS);
        this.sql.exec("INSERT INTO flushes (flush_id, frozen_at, cells, stats) VALUES (?, ?, ?, ?)", flushId, Date.now(), JSON.stringify(chunk), JSON.stringify(i === 0 ? stats : []));
      }
      writeMeta(this.sql, "next_flush_id", flushId);
      this.lastFreezeAt = Date.now();
      if (this.log.isEmpty()) this.openSince = null;
      return first;
    });
  }

  /** A frozen flush's cells and statistics as the open log keeps them: its JSON, or the rows of a flush frozen before the open log. */
  private frozenAsLogged(flushId: number): { cells: Cell[]; stats: number[][] } {
    const row = this.sql.exec<{ cells: string | null; stats: string | null }>("SELECT cells, stats FROM flushes WHERE flush_id = ?", flushId).one();
    return row.cells !== null ? { cells: JSON.parse(row.cells) as Cell[], stats: JSON.parse(row.stats ?? "[]") as number[][] } : legacyFlush(this.sql, flushId);
  }

  /** A frozen flush's cells and statistics, the statistics in D1's column order. */
  private frozen(flushId: number): { counts: CountRow[]; stats: StatsRow[] } {
    const { cells, stats } = this.frozenAsLogged(flushId);
    // statistics are kept as the parts carry them ([minute, accepted, duplicates, invalid, too_late, future]); D1's order differs
    return { counts: cells, stats: stats.map(([minute, accepted, duplicates, invalid, tooLate, future]): StatsRow => [minute, accepted, duplicates, tooLate, future, invalid]) };
  }

  /** One D1 batch: ledger row + additive upserts. Resolves when applied now or found applied before. */
  private async applyFlush(flushId: number): Promise<CountRow[]> {
    const db = this.host.db();
    const source = this.host.source();
    const { counts, stats } = this.frozen(flushId);
    const stmts = flushStatements(source, flushId, new Date().toISOString(), counts, stats);
    try {
      await db.batch(stmts.map((s) => db.prepare(s.sql).bind(...s.params)));
      return counts;
    } catch (err) {
      if (!isLedgerConflict(err)) throw err;
      // The ledger has this flush: an earlier attempt was applied and its answer lost. Check it is
      // really ours (same totals) before treating it as done.
      const row = await db
        .prepare("SELECT cells, clicks FROM click_flush_ledger WHERE source = ? AND flush_id = ?")
        .bind(source, flushId)
        .first<{ cells: number; clicks: number }>();
      const ours = stmts[0].params;
      if (row && row.cells === ours[3] && row.clicks === ours[4]) return counts;
      this.renumber(flushId);
      throw new Error(`flush ${flushId} of ${source} collides with a different ledger row; renumbered`);
    }
  }

  private renumber(flushId: number): void {
    this.view = null;
    this.host.storage.transactionSync(() => {
      const next = Number(readMeta(this.sql, "next_flush_id") ?? flushId + 1);
      writeMeta(this.sql, "next_flush_id", next + 1);
      for (const t of ["cells", "stats", "flushes"]) this.sql.exec(`UPDATE ${t} SET flush_id = ? WHERE flush_id = ?`, next, flushId);
    });
  }

  /** D1 has the flush: queue its clicks for Analytics Engine and drop it, atomically. */
  private completeFlush(flushId: number, counts: CountRow[]): void {
    this.view = null;
    this.host.storage.transactionSync(() => {
      queueAnalytics(this.sql, counts);
      this.flushes.drop(flushId);
    });
  }
}
