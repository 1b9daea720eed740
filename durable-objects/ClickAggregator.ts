import { DurableObject } from "cloudflare:workers";
import { clickSettings } from "../lib/clicks/settings";
import { migrateSqlSchema, readMeta, writeMeta } from "../lib/sql-migrations";
import { GroupCommit } from "../lib/group-commit";
import { checkJsonPart, type JsonPart } from "./clicks/open-log";
import { AE_BATCHES_TABLE } from "./clicks/analytics-outbox";
import { FlushPipeline, PIPELINE_OPEN_LOG, PIPELINE_TABLES, type PipelineState } from "./clicks/flush-pipeline";
import type { PendingAnswer, PendingQuery } from "../lib/clicks/pending";

const MIGRATIONS = [
  `${PIPELINE_TABLES}
   CREATE TABLE sources (source TEXT PRIMARY KEY, last_flush INTEGER NOT NULL);`,
  // v2: parts are appended to an open log and merged at freeze (clicks/open-log.ts, clicks/flush-pipeline.ts).
  PIPELINE_OPEN_LOG,
  // v3: Analytics Engine points queued one row per flush (clicks/analytics-outbox.ts).
  AE_BATCHES_TABLE,
];

/** One apply() call's part, waiting for its group's transaction. */
interface PendingPart extends JsonPart {
  name: string;
  source: string;
  flushId: number;
  openedAt?: number;
}

export interface AggregatorState extends PipelineState {
  name: string | null;
  /** Shards that handed off here, with the last flush id applied from each. */
  sources: number;
}

/**
 * One of CLICK_AGGREGATORS objects (`agg:<i>`): merges the shards' partial counts of the cells it owns
 * (lib/clicks/aggregators.ts) and flushes each cell to D1 once per D1_FLUSH_INTERVAL_MS, whatever the
 * number of shards (docs/clicks-pipeline.md, "Shard → aggregator"); until then the metrics API reads
 * them from here (`pending`).
 */
export class ClickAggregator extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** D1; a field so that tests can put a failing one in its place. */
  private db: D1Database;
  private name: string | null = null;
  private readonly lastFlush = new Map<string, number>();
  /** Parts waiting for their group's transaction, by source (what a concurrent re-send waits for). */
  private readonly claims = new Map<string, { flushId: number; stored: Promise<void> }>();
  private readonly applies = new GroupCommit<PendingPart>((parts) => this.storeParts(parts));
  private readonly pipeline: FlushPipeline;
  /** The scheduled alarm as this object last set it (null: none). */
  private alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.db = env.DB;
    const settings = clickSettings(env);
    this.pipeline = new FlushPipeline(
      { storage: ctx.storage, db: () => this.db, analytics: () => this.env.CLICKS_AE, source: () => this.name ?? `agg:${ctx.id.toString()}` },
      settings.d1IntervalMs,
      settings.flushIntervalMs,
    );
    void ctx.blockConcurrencyWhile(async () => {
      migrateSqlSchema(this.sql, MIGRATIONS);
      const name = readMeta(this.sql, "name");
      this.name = typeof name === "string" ? name : null;
      for (const r of this.sql.exec<{ source: string; last_flush: number }>("SELECT source, last_flush FROM sources")) this.lastFlush.set(r.source, r.last_flush);
      this.alarmAt = await ctx.storage.getAlarm();
      this.pipeline.restore(this.alarmAt);
    });
  }

  /**
   * Adds one shard flush's part (`cells`: `[[w, c, a, r, n], …]`, `stats`: `[[minute, accepted,
   * duplicates, invalid, too_late, future], …]`) to the open cells, once: a shard's flush ids only grow
   * and it sends flush N+1 only after every part of N was acknowledged, so a part whose flush id is not
   * above the last one applied from its source is a re-send, acknowledged without counting (`applied:
   * false`). `openedAt`: when the shard opened the oldest of these cells (they go out with the first
   * flush boundary after it). `entries`: the cells in the part (a shard before schema v7 sends none; then
   * SQLite counts them). Durable when it returns. RPC from ClickShard.
   *
   * The shards hand off together, just before each flush boundary: parts that arrive in the same moment
   * are stored in one transaction (GroupCommit), as few log rows. A re-send that arrives while its
   * original waits for that transaction waits with it, and fails if it fails.
   */
  async apply(name: string, source: string, flushId: number, cells: string, stats: string, openedAt?: number, entries?: number): Promise<{ applied: boolean }> {
    const waiting = this.claims.get(source);
    if (waiting && waiting.flushId >= flushId) {
      await waiting.stored;
      return { applied: false };
    }
    if ((this.lastFlush.get(source) ?? 0) >= flushId) return { applied: false };
    // refused alone, before it joins a group whose transaction it would fail
    checkJsonPart({ cells, stats });
    const claim = { flushId, stored: this.applies.add({ name, source, flushId, cells, stats, openedAt, entries }) };
    this.claims.set(source, claim);
    try {
      await claim.stored;
    } finally {
      if (this.claims.get(source) === claim) this.claims.delete(source);
    }
    return { applied: true };
  }

  /** One transaction for every part that arrived together: the parts, and each source's last flush id. */
  private storeParts(parts: PendingPart[]): void {
    const now = Date.now();
    const last = new Map<string, number>();
    for (const p of parts) last.set(p.source, Math.max(last.get(p.source) ?? 0, p.flushId));
    const due = this.ctx.storage.transactionSync(() => {
      if (this.name === null) writeMeta(this.sql, "name", parts[0].name);
      this.sql.exec(
        `INSERT INTO sources (source, last_flush) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true
         ON CONFLICT (source) DO UPDATE SET last_flush = max(last_flush, excluded.last_flush)`,
        JSON.stringify([...last]),
      );
      return this.pipeline.addOpen(parts, now);
    });
    this.name ??= parts[0].name;
    for (const [source, flushId] of last) this.lastFlush.set(source, Math.max(this.lastFlush.get(source) ?? 0, flushId));
    this.schedule(due);
  }

  /**
   * The counts this aggregator holds that D1 does not have yet, for a metrics query (RPC from the
   * metrics API: workers/lib/pending-clicks.ts).
   */
  pending(q: PendingQuery): Promise<PendingAnswer> {
    return this.pipeline.pending(q);
  }

  state(): AggregatorState {
    return { name: this.name, sources: this.lastFlush.size, ...this.pipeline.state() };
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const next = await this.pipeline.alarmStep(`click aggregator ${this.name}`);
    if (next !== null) this.schedule(next);
  }

  private schedule(at: number): void {
    at = Math.max(at, this.pipeline.backoffUntil);
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }
}
