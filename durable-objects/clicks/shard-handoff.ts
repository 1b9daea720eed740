import { aggregatorName, aggregatorOfCell, aggregatorOfMinute } from "../../lib/clicks/aggregators";
import { Map3 } from "../../lib/clicks/cell-table";
import { isLedgerConflict } from "../../lib/clicks/flush-sql";
import { hasRows, readMeta, writeMeta } from "../../lib/sql-migrations";
import type { ClickAggregator } from "../ClickAggregator";
import { queueAnalytics } from "./analytics-outbox";
import { FrozenFlushes, legacyFlush } from "./frozen-flushes";
import { MAX_ROW_CHARS, OpenLog, type Cell } from "./open-log";

/**
 * Log entries (cells as counted, before merging) per hand-off: bounds one hand-off's memory, its parts
 * (≤ ~1 MB of JSON in all) and the aggregators' transactions. A backlog drains hand-off after hand-off.
 */
export const MAX_HANDOFF_ENTRIES = 10_000;

/** The shard's table of frozen hand-offs: one row per (flush, aggregator), deleted when that aggregator acknowledged it. */
export const PARTS_TABLE = `CREATE TABLE parts (flush_id INTEGER NOT NULL, agg INTEGER NOT NULL, cells TEXT NOT NULL, stats TEXT NOT NULL,
  opened_at INTEGER NOT NULL, PRIMARY KEY (flush_id, agg)) WITHOUT ROWID;`;

/** v7: a part's cell count, sent with it so that the aggregator need not parse the part to count it (NULL in older rows). */
export const PARTS_COUNT_COLUMN = `ALTER TABLE parts ADD COLUMN n INTEGER;`;

export interface HandoffHost {
  storage: DurableObjectStorage;
  /** The shard's name: the aggregators' idempotency key for its flush ids. */
  source(): string;
  aggregators(): number;
  aggregator(i: number): DurableObjectStub<ClickAggregator>;
  /** D1, only for a flush frozen by the code before aggregators (see fenceLegacy). */
  db(): D1Database;
}

/**
 * Shard → aggregator hand-off (docs/clicks-pipeline.md, "Shard → aggregator"). The open log's rows — at
 * most MAX_HANDOFF_ENTRIES entries per flush — are merged per cell and per minute and frozen under a
 * flush id into one `parts` row per aggregator (the cell's owner is decided here, at freeze time, so a re-send never re-routes a cell);
 * each part is sent to its aggregator, which applies it once per (shard, flush id); the part is deleted
 * when acknowledged, the flush when its last part is. Flush ids only grow and the next flush is frozen
 * only after every part of the previous one was acknowledged.
 */
export class ShardHandoff {
  private readonly sql: SqlStorage;
  private readonly flushes: FrozenFlushes;
  /** The shard's open counts (durable-objects/clicks/open-log.ts). */
  readonly log: OpenLog;

  constructor(private readonly host: HandoffHost) {
    this.sql = host.storage.sql;
    this.flushes = new FrozenFlushes(this.sql);
    this.log = new OpenLog(this.sql);
  }

  /**
   * Sends the frozen flush, or freezes the open cells (the oldest opened at `openedAt`) into a new one and
   * sends that. Throws when a part was not acknowledged.
   */
  async step(openedAt: number): Promise<void> {
    let flushId = this.flushes.current();
    if (flushId !== null && !hasRows(this.sql, "SELECT 1 FROM parts WHERE flush_id = ? LIMIT 1", flushId)) {
      await this.fenceLegacy(flushId, openedAt);
      if (this.flushes.current() !== flushId) return;
    }
    let parts: PartRow[] | null = null;
    if (flushId === null) {
      const frozen = this.freeze(openedAt);
      if (frozen === null) return;
      // the rows just written, as written (reading them back cost a copy of every part)
      ({ flushId, parts } = frozen);
    }
    const source = this.host.source();
    parts ??= this.sql.exec<PartRow>("SELECT agg, cells, stats, opened_at, n FROM parts WHERE flush_id = ?", flushId).toArray();
    const sent = await Promise.allSettled(
      parts.map((p) => this.host.aggregator(p.agg).apply(aggregatorName(p.agg), source, flushId, p.cells, p.stats, p.opened_at, p.n ?? undefined)),
    );
    // one transaction for every acknowledged part (a commit per part cost more than the hand-off itself)
    this.acknowledged(
      flushId,
      parts.filter((_, i) => sent[i].status === "fulfilled").map((p) => p.agg),
    );
    const failed = sent.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** A failed hand-off's retry time (the frozen flush's backoff). */
  retryAt(intervalMs: number): number {
    return this.flushes.recordFailure(intervalMs).retryAt;
  }

  /** True while a hand-off has failed before (a restart keeps its backoff). */
  backingOff(): boolean {
    return this.flushes.failedBefore();
  }

  /** True when counted cells or statistics wait for a hand-off. */
  hasOpen(): boolean {
    return !this.log.isEmpty();
  }

  /**
   * True when more than one hand-off's worth waits, by entries or by characters (long ids), so that a
   * backlog drains at once, hand-off after hand-off.
   */
  backlog(): boolean {
    const size = this.log.size();
    return size.entries > MAX_HANDOFF_ENTRIES || size.chars > MAX_ROW_CHARS;
  }

  /**
   * Merges the oldest open log rows (at most MAX_HANDOFF_ENTRIES entries, at least one row) into parts of
   * a new flush and deletes them, atomically; null when nothing is open. The first flush id of a shard
   * is the current time in ms, so a shard whose storage was reset starts above the ids it used before (it
   * hands off far fewer than 1 000 flushes a second).
   */
  private freeze(openedAt: number): { flushId: number; parts: PartRow[] } | null {
    return this.host.storage.transactionSync(() => {
      // ≤ MAX_ROW_CHARS of cells in all, so that every part fits in one SQLite value
      const merged = this.log.take(MAX_HANDOFF_ENTRIES, MAX_ROW_CHARS);
      if (merged === null) return null;
      const stats = [...merged.minutes].map(([minute, counts]) => [minute, ...counts]);
      const byAgg = partsByAggregator(merged.cells.values(), stats, this.host.aggregators());
      if (byAgg.size === 0) return null;
      const flushId = Number(readMeta(this.sql, "next_flush_id") ?? Date.now());
      writeMeta(this.sql, "next_flush_id", flushId + 1);
      this.sql.exec("INSERT INTO flushes (flush_id, frozen_at) VALUES (?, ?)", flushId, Date.now());
      return { flushId, parts: this.insertParts(flushId, byAgg, openedAt) };
    });
  }

  private insertParts(flushId: number, byAgg: Map<number, Part>, openedAt: number): PartRow[] {
    const rows: PartRow[] = [];
    for (const [agg, p] of byAgg) {
      const row = { agg, cells: JSON.stringify(p.cells), stats: JSON.stringify(p.stats), opened_at: openedAt, n: p.cells.length };
      this.sql.exec("INSERT INTO parts (flush_id, agg, cells, stats, opened_at, n) VALUES (?, ?, ?, ?, ?, ?)", flushId, agg, row.cells, row.stats, row.opened_at, row.n);
      rows.push(row);
    }
    return rows;
  }

  /** A flush frozen by the code before aggregators (its cells under its flush id): groups them into parts (inside a transaction). */
  private splitLegacyIntoParts(flushId: number, { cells, stats }: ReturnType<typeof legacyFlush>, openedAt: number): void {
    const byAgg = partsByAggregator(cells, stats, this.host.aggregators());
    this.insertParts(flushId, byAgg, openedAt);
    // the flush stays (until its last part is acknowledged) unless it had nothing to send
    this.flushes.drop(flushId, byAgg.size > 0);
  }

  /** These aggregators have their parts: drop them, and the flush with its last part, atomically. */
  private acknowledged(flushId: number, aggs: number[]): void {
    if (aggs.length === 0) return;
    this.host.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM parts WHERE flush_id = ? AND agg IN (SELECT value FROM json_each(?))", flushId, JSON.stringify(aggs));
      if (!hasRows(this.sql, "SELECT 1 FROM parts WHERE flush_id = ? LIMIT 1", flushId)) this.flushes.drop(flushId);
    });
  }

  /**
   * A flush frozen by the code before aggregators (cells under its flush id, no parts) may already be in
   * D1 under this shard's name, its answer lost. Take its ledger id first with a fence row (cells = -1):
   * if the old code's row is there (same totals), the flush is done; else the fence makes any late copy
   * of the old batch fail on the ledger's key, and the flush goes to the aggregators like any other.
   */
  private async fenceLegacy(flushId: number, openedAt: number): Promise<void> {
    const flush = legacyFlush(this.sql, flushId);
    const clicks = flush.cells.reduce((sum, cell) => sum + cell[4], 0);
    const db = this.host.db();
    const source = this.host.source();
    let applied = false;
    try {
      await db
        .prepare("INSERT INTO click_flush_ledger (source, flush_id, flushed_at, cells, clicks) VALUES (?, ?, ?, -1, ?)")
        .bind(source, flushId, new Date().toISOString(), clicks)
        .run();
    } catch (err) {
      if (!isLedgerConflict(err)) throw err;
      const row = await db.prepare("SELECT cells, clicks FROM click_flush_ledger WHERE source = ? AND flush_id = ?").bind(source, flushId).first<{ cells: number; clicks: number }>();
      applied = row !== null && row.cells === flush.cells.length && row.clicks === clicks;
    }
    this.host.storage.transactionSync(() => {
      if (!applied) return this.splitLegacyIntoParts(flushId, flush, openedAt);
      queueAnalytics(this.sql, flush.cells);
      this.flushes.drop(flushId);
    });
  }
}

/** One aggregator's share of a hand-off: its cells (`[w, c, a, r, n]`) and its minutes' statistics. */
interface Part {
  cells: Cell[];
  stats: number[][];
}

/** A `parts` row: one aggregator's part of a frozen flush (a type alias: SqlStorage rows take no interface). */
type PartRow = {
  agg: number;
  cells: string;
  stats: string;
  opened_at: number;
  /** NULL in rows frozen before schema v7. */
  n: number | null;
};

/**
 * Groups cells by the aggregator that owns them (hash of campaign, ad, region; each hashed once) and
 * statistics rows (`[minute, …]`) by their minute's aggregator.
 */
function partsByAggregator(cells: Iterable<Cell>, stats: Iterable<number[]>, count: number): Map<number, Part> {
  const byAgg = new Map<number, Part>();
  const part = (i: number) => {
    let p = byAgg.get(i);
    if (!p) byAgg.set(i, (p = { cells: [], stats: [] }));
    return p;
  };
  const owners = new Map3<number>();
  for (const cell of cells) {
    let owner = owners.get(cell[1], cell[2], cell[3]);
    if (owner === undefined) owners.set(cell[1], cell[2], cell[3], (owner = aggregatorOfCell(cell[1], cell[2], cell[3], count)));
    part(owner).cells.push(cell);
  }
  for (const row of stats) part(aggregatorOfMinute(row[0], count)).stats.push(row);
  return byAgg;
}
