import { DurableObject } from "cloudflare:workers";
import { ApiError } from "../lib/errors";
import { failure, success, type Outcome } from "../lib/outcome";
import { packShardBatch, planForward, type ClickTuple, type PendingBatch } from "../lib/clicks/forward";
import { EpochCache, epochShardName } from "../lib/clicks/epochs";
import { clickSettings, type ClickSettings } from "../lib/clicks/settings";
import { GroupCommit } from "../lib/group-commit";
import { boundaryAfter } from "../lib/clicks/flush-schedule";
import { hasRows, migrateSqlSchema, readMeta, writeMeta } from "../lib/sql-migrations";
import type { RejectionCounts } from "../lib/clicks/types";
import { epochLoader } from "./ClickEpochs";

const MIGRATIONS = [
  `CREATE TABLE batches (id INTEGER PRIMARY KEY, received_at INTEGER NOT NULL, n INTEGER NOT NULL, clicks TEXT NOT NULL,
     invalid INTEGER NOT NULL, too_late INTEGER NOT NULL, future INTEGER NOT NULL);
   CREATE TABLE forwards (forward_id INTEGER PRIMARY KEY, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
     acked TEXT NOT NULL DEFAULT '[]', attempts INTEGER NOT NULL DEFAULT 0);`,
  // The shard count a forward was planned with: `acked` names shards of that split, so a forward frozen
  // before CLICK_SHARDS changed must be re-sent with the same split (else part of it counts twice or never).
  `ALTER TABLE forwards ADD COLUMN shards INTEGER;`,
  // The shard epoch it was planned in (shard names depend on it); NULL = epoch 1 (`shard:<i>`).
  `ALTER TABLE forwards ADD COLUMN epoch INTEGER;`,
];

/**
 * How long the buffer collects requests before forwarding them: every forward costs one RPC per shard,
 * so larger forwards amortize that (and add up to this much to freshness). Capped at half of
 * FLUSH_INTERVAL_MS so that ack → D1 stays within 1.5 × FLUSH_INTERVAL_MS + one D1 batch. Forwards go
 * out on the multiples of it (wall clock), every buffer at once, so that each shard counts one burst of
 * forwards in one transaction (ClickShard, INGEST_GROUP_MS).
 */
export const FORWARD_DELAY_MS = 500;
/** Forward at once when this many clicks are waiting. */
export const FORWARD_NOW_CLICKS = 20_000;
/** At most this many clicks per forward (bounds the RPC size and the time one alarm takes). */
export const MAX_FORWARD_CLICKS = 50_000;
const MAX_RETRY_MS = 10_000;
/**
 * Backpressure: while this many clicks wait (the shards are down or far behind), store() refuses new
 * requests with 503 instead of growing without bound; clients retry, nothing acknowledged is lost.
 */
export const MAX_PENDING_CLICKS = 2_000_000;

/** One store() call's batch, waiting for its group's transaction. */
interface StoredBatch {
  receivedAt: number;
  clicks: string;
  count: number;
  rejected: RejectionCounts;
}

interface FrozenForward {
  forwardId: number;
  lo: number;
  hi: number;
  /** Shards (of a `shards`-way split) that already acknowledged this forward. */
  acked: number[];
  shards: number;
  epoch: number;
}

export interface BufferState {
  pendingBatches: number;
  pendingClicks: number;
  frozenForward: number | null;
  /** store() RPCs since the object started (requests-per-object checks). */
  storeCalls: number;
}

/** What store() answers: `load` = its store RPCs per second (the edge spreads over more buffers above 250). */
export interface StoreResult {
  load: number;
}

/**
 * A durable buffer near the edge. The edge makes ONE RPC per request to one buffer, which stores the
 * validated batch as one SQLite row and acknowledges; a few milliseconds later its alarm forwards all
 * pending batches to the ClickShards, one RPC per shard, and deletes them only after every shard acked.
 */
export class ClickBuffer extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly settings: ClickSettings;
  private name: string | null = null;
  private alarmAt: number | null = null;
  private readonly forwardDelayMs: number;
  /** Clicks stored since the last forward started (in memory; only decides when to forward). */
  private waiting = 0;
  /** Concurrent store() calls are stored in one transaction. */
  private readonly stores = new GroupCommit<StoredBatch>((rows) => this.storeRows(rows));
  /** Clicks stored and not yet forwarded (all batches), for backpressure. */
  private pending = 0;
  /** Store RPCs: in the current second, the second before, and since the object started. */
  private loadSecond = 0;
  private secondCalls = 0;
  private lastSecondCalls = 0;
  private storeCalls = 0;
  /** The shard-count history; this version's CLICK_SHARDS and this buffer's name go to the registry with each fetch. */
  private readonly epochs: EpochCache;
  /**
   * Shards that answered `packed: true`: they get their cells packed (lib/clicks/forward.ts). The others
   * — and any whose forward failed, in case it runs older code again — get them as arrays.
   */
  private readonly packedShards = new Set<string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.settings = clickSettings(env);
    this.epochs = new EpochCache(epochLoader(env, true, () => this.name));
    this.forwardDelayMs = Math.min(FORWARD_DELAY_MS, Math.max(20, Math.floor(this.settings.flushIntervalMs / 2)));
    void ctx.blockConcurrencyWhile(async () => {
      migrateSqlSchema(this.sql, MIGRATIONS);
      const name = readMeta(this.sql, "name");
      this.name = typeof name === "string" ? name : null;
      this.alarmAt = await ctx.storage.getAlarm();
      this.pending = Number(this.sql.exec<{ c: number | null }>("SELECT sum(n) AS c FROM batches").one().c ?? 0);
    });
  }

  /**
   * Stores one request's accepted clicks (`clicks`: JSON of ClickTuple[], stored as is) and its
   * rejection counts. Durable when it returns. Concurrent calls are group-committed: the first one
   * waits one macrotask, every call that arrives meanwhile joins, and one transaction stores them all.
   * Refused with 503 `ingest_overloaded` while too much is pending.
   *
   * `answer: "outcome"` (what the edge sends): the answer is an Outcome (lib/outcome.ts), the refusal a
   * failed one. Without it, the previous release's contract — a bare StoreResult, the refusal thrown —
   * so that an edge Worker still on that version never acknowledges a refused request during a gradual
   * deploy (docs/production.md §6). Remove that branch in the release after this one.
   */
  async store(
    name: string,
    receivedAt: number,
    clicks: string,
    count: number,
    rejected: RejectionCounts,
    answer?: "outcome",
  ): Promise<Outcome<StoreResult> | StoreResult> {
    const outcome = await this.storeBatch(name, receivedAt, clicks, count, rejected);
    if (answer === "outcome") return outcome;
    if (!outcome.ok) throw new Error("edgeplane-api-error:" + JSON.stringify({ s: outcome.error.status, c: outcome.error.code, m: outcome.error.message, d: outcome.error.details }));
    return outcome.value;
  }

  private async storeBatch(name: string, receivedAt: number, clicks: string, count: number, rejected: RejectionCounts): Promise<Outcome<StoreResult>> {
    const load = this.countStoreCall(Date.now());
    if (this.name === null) {
      this.name = name;
      writeMeta(this.sql, "name", name);
    }
    if (this.pending >= MAX_PENDING_CLICKS) {
      return failure(new ApiError(503, "ingest_overloaded", "The click pipeline is catching up; retry shortly", { retry_after_seconds: 5 }));
    }
    this.pending += count;
    // The output gate holds this answer until the group's transaction is durable.
    await this.stores.add({ receivedAt, clicks, count, rejected });
    return success({ load });
  }

  private storeRows(rows: StoredBatch[]): void {
    try {
      this.ctx.storage.transactionSync(() => {
        for (const r of rows) {
          this.sql.exec(
            "INSERT INTO batches (received_at, n, clicks, invalid, too_late, future) VALUES (?, ?, ?, ?, ?, ?)",
            r.receivedAt,
            r.count,
            r.clicks,
            r.rejected.invalid,
            r.rejected.too_late,
            r.rejected.future,
          );
          this.waiting += r.count;
        }
      });
    } catch (err) {
      for (const r of rows) this.pending -= r.count;
      throw err;
    } finally {
      this.schedule(this.waiting >= FORWARD_NOW_CLICKS ? Date.now() : this.forwardAt(Date.now()));
    }
  }

  /** Counts a store RPC; returns the larger of this second's and the last second's counts so far. */
  private countStoreCall(now: number): number {
    const sec = Math.floor(now / 1000);
    if (sec !== this.loadSecond) {
      this.lastSecondCalls = sec === this.loadSecond + 1 ? this.secondCalls : 0;
      this.loadSecond = sec;
      this.secondCalls = 0;
    }
    this.secondCalls++;
    this.storeCalls++;
    return Math.max(this.secondCalls, this.lastSecondCalls);
  }

  state(): BufferState {
    const p = this.sql.exec<{ b: number; c: number | null }>("SELECT count(*) AS b, sum(n) AS c FROM batches").one();
    const f = this.sql.exec<{ forward_id: number }>("SELECT forward_id FROM forwards LIMIT 1").toArray()[0];
    return { pendingBatches: Number(p.b), pendingClicks: Number(p.c ?? 0), frozenForward: f ? f.forward_id : null, storeCalls: this.storeCalls };
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.waiting = 0;
    try {
      const done = await this.forwardOnce();
      if (!done) return;
      const left = Number(this.sql.exec<{ c: number | null }>("SELECT sum(n) AS c FROM batches").one().c ?? -1);
      if (left >= FORWARD_NOW_CLICKS) this.schedule(Date.now());
      else if (left >= 0) this.schedule(this.forwardAt(Date.now()));
    } catch (err) {
      const attempts = this.recordFailedAttempt();
      console.error(`click buffer ${this.name}: forward failed (attempt ${attempts}), retrying`, (err as Error)?.message ?? String(err));
      this.schedule(Date.now() + Math.min(MAX_RETRY_MS, 50 * 2 ** Math.min(attempts, 10)));
    }
  }

  /** The next forward after `t`: the buffers' common grid (multiples of the forward delay). */
  private forwardAt(t: number): number {
    return boundaryAfter(t, this.forwardDelayMs);
  }

  private schedule(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  /**
   * Sends the frozen forward (or freezes the oldest pending batches into a new one) to every shard that
   * has not acknowledged it yet. Returns false when there was nothing to send.
   */
  private async forwardOnce(): Promise<boolean> {
    const fw = this.frozenForward() ?? (await this.freeze());
    if (!fw) return false;
    const rows = this.sql
      .exec<{ received_at: number; clicks: string; invalid: number; too_late: number; future: number }>(
        "SELECT received_at, clicks, invalid, too_late, future FROM batches WHERE id BETWEEN ? AND ? ORDER BY id",
        fw.lo,
        fw.hi,
      )
      .toArray();
    const batches: PendingBatch[] = rows.map((r) => ({
      receivedAt: r.received_at,
      clicks: JSON.parse(r.clicks) as ClickTuple[],
      rejected: { invalid: r.invalid, too_late: r.too_late, future: r.future },
    }));
    const shards = fw.shards;
    const plan = planForward(batches, shards, fw.forwardId % shards);
    const source = this.name ?? `buffer:${this.ctx.id.toString()}`;
    const acked = new Set(fw.acked);
    const sends = [...plan].filter(([s]) => !acked.has(s));
    const results = await Promise.allSettled(
      sends.map(async ([s, batch]) => {
        const name = epochShardName(fw.epoch, s);
        const packed = this.packedShards.has(name);
        try {
          const res = await this.env.CLICK_SHARD.get(this.env.CLICK_SHARD.idFromName(name)).ingest(name, source, fw.forwardId, packed ? packShardBatch(batch) : batch);
          if (res?.packed === true) this.packedShards.add(name);
        } catch (err) {
          this.packedShards.delete(name);
          throw err;
        }
        return s;
      }),
    );
    let failure: unknown = null;
    for (const r of results) {
      if (r.status === "fulfilled") acked.add(r.value);
      else failure ??= r.reason;
    }
    if (failure === null) {
      const sent = batches.reduce((sum, b) => sum + b.clicks.length, 0);
      this.ctx.storage.transactionSync(() => {
        this.sql.exec("DELETE FROM batches WHERE id BETWEEN ? AND ?", fw.lo, fw.hi);
        this.sql.exec("DELETE FROM forwards WHERE forward_id = ?", fw.forwardId);
      });
      this.pending = Math.max(0, this.pending - sent);
      return true;
    }
    this.sql.exec("UPDATE forwards SET acked = ? WHERE forward_id = ?", JSON.stringify([...acked]), fw.forwardId);
    throw failure;
  }

  private frozenForward(): FrozenForward | null {
    const f = this.sql
      .exec<{ forward_id: number; lo: number; hi: number; acked: string; shards: number | null; epoch: number | null }>(
        "SELECT forward_id, lo, hi, acked, shards, epoch FROM forwards ORDER BY forward_id LIMIT 1",
      )
      .toArray()[0];
    return f
      ? {
          forwardId: f.forward_id,
          lo: f.lo,
          hi: f.hi,
          acked: JSON.parse(f.acked) as number[],
          shards: f.shards ?? this.settings.shards,
          epoch: f.epoch ?? 1,
        }
      : null;
  }

  /**
   * Freezes the oldest pending batches (up to MAX_FORWARD_CLICKS) under the next forward id, planned in
   * the registry's newest shard epoch (recorded with it: a re-send uses the same split and names).
   */
  private async freeze(): Promise<FrozenForward | null> {
    if (!hasRows(this.sql, "SELECT 1 FROM batches LIMIT 1")) return null;
    const epoch = await this.epochs.current(Date.now());
    if (this.frozenForward()) throw new Error("a forward was frozen concurrently");
    const ids = this.sql.exec<{ id: number; n: number }>("SELECT id, n FROM batches ORDER BY id LIMIT 5000").toArray();
    if (ids.length === 0) return null;
    let hi = ids[0].id;
    let total = 0;
    for (const r of ids) {
      if (total > 0 && total + r.n > MAX_FORWARD_CLICKS) break;
      total += r.n;
      hi = r.id;
    }
    const lo = ids[0].id;
    return this.ctx.storage.transactionSync(() => {
      const forwardId = Number(readMeta(this.sql, "next_forward_id") ?? 1);
      writeMeta(this.sql, "next_forward_id", forwardId + 1);
      const shards = epoch.shards;
      this.sql.exec("INSERT INTO forwards (forward_id, lo, hi, shards, epoch) VALUES (?, ?, ?, ?, ?)", forwardId, lo, hi, shards, epoch.epoch);
      return { forwardId, lo, hi, acked: [], shards, epoch: epoch.epoch };
    });
  }

  private recordFailedAttempt(): number {
    this.sql.exec("UPDATE forwards SET attempts = attempts + 1");
    const f = this.sql.exec<{ attempts: number }>("SELECT attempts FROM forwards LIMIT 1").toArray()[0];
    return f ? Number(f.attempts) : 1;
  }
}
