import { DurableObject } from "cloudflare:workers";
import { cyrb53 } from "../lib/cyrb";
import { claimRange, EpochCache, epochShardName, parseShardName } from "../lib/clicks/epochs";
import { shardOfKey } from "../lib/clicks/hash";
import { epochLoader } from "./ClickEpochs";
import { aggregatorName } from "../lib/clicks/aggregators";
import { handoffAt } from "../lib/clicks/flush-schedule";
import { AE_BATCHES_TABLE, AE_RETRY_MS, analyticsPending, drainAnalytics, hasAnalytics } from "./clicks/analytics-outbox";
import { PARTS_COUNT_COLUMN, PARTS_TABLE, ShardHandoff } from "./clicks/shard-handoff";
import { OPEN_LOG_TABLE } from "./clicks/open-log";
import { shardBatchCells, type CellDims, type ShardBatch } from "../lib/clicks/forward";
import { splitKeys } from "../lib/clicks/dedup-keys";
import { keyHalves } from "../lib/clicks/key-bloom";
import { clickSettings, type ClickSettings } from "../lib/clicks/settings";
import { hasRows, migrateSqlSchema, readMeta, writeMeta } from "../lib/sql-migrations";
import { GroupCommit } from "../lib/group-commit";
import { DedupIndex } from "./clicks/dedup-index";

const MIGRATIONS = [
  `CREATE TABLE dedup (k INTEGER PRIMARY KEY, exp INTEGER NOT NULL);
   CREATE TABLE cells (flush_id INTEGER NOT NULL, w INTEGER NOT NULL, c TEXT NOT NULL, a TEXT NOT NULL, r TEXT NOT NULL,
     n INTEGER NOT NULL, PRIMARY KEY (flush_id, w, c, a, r)) WITHOUT ROWID;
   CREATE TABLE stats (flush_id INTEGER NOT NULL, minute INTEGER NOT NULL, accepted INTEGER NOT NULL, duplicates INTEGER NOT NULL,
     invalid INTEGER NOT NULL, too_late INTEGER NOT NULL, future INTEGER NOT NULL, PRIMARY KEY (flush_id, minute)) WITHOUT ROWID;
   CREATE TABLE flushes (flush_id INTEGER PRIMARY KEY, frozen_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE sources (source TEXT PRIMARY KEY, last_forward INTEGER NOT NULL);
   CREATE TABLE ae_outbox (id INTEGER PRIMARY KEY, c TEXT NOT NULL, a TEXT NOT NULL, r TEXT NOT NULL, n INTEGER NOT NULL);`,
  // v2: two-level dedup — new keys land in a small table, merged into `dedup` in key order.
  `CREATE TABLE dedup_recent (k INTEGER PRIMARY KEY, exp INTEGER NOT NULL);`,
  // v3: level 0 becomes an append-only log (indexed in memory); v2's level 0 is merged into level 1.
  `INSERT INTO dedup (k, exp) SELECT k, exp FROM dedup_recent WHERE true ORDER BY k ON CONFLICT DO NOTHING;
   DROP TABLE dedup_recent;
   CREATE TABLE dedup_log (k INTEGER NOT NULL, exp INTEGER NOT NULL);
   DELETE FROM meta WHERE key = 'dedup_keys';`,
  // v4: keys claimed here by shards of other epochs (resharding), with the claim's id.
  `CREATE TABLE claims (k INTEGER PRIMARY KEY, cid INTEGER NOT NULL, exp INTEGER NOT NULL);`,
  // v5: frozen flushes go to the ClickAggregators as one part per aggregator (durable-objects/clicks/shard-handoff.ts).
  PARTS_TABLE,
  // v6: open cells and statistics become an append-only log, one row per counted forward (clicks/open-log.ts).
  OPEN_LOG_TABLE,
  // v7: parts carry their cell count (the aggregator appends them without counting).
  PARTS_COUNT_COLUMN,
  // v8: Analytics Engine points queued one row per flush (clicks/analytics-outbox.ts).
  AE_BATCHES_TABLE,
];

const CLAIMED_BY = "SELECT printf('0x%016x', k) FROM claims WHERE k IN (SELECT value FROM json_each(?)) AND cid = ?";
const RECORD_CLAIMS = "INSERT INTO claims (k, cid, exp) SELECT value, ?, ? FROM json_each(?) WHERE true ON CONFLICT (k) DO NOTHING";
/** While idle but holding dedup keys, wake up this often to sweep expired ones. */
const IDLE_SWEEP_MS = 5_000;
/**
 * Ingests that arrive within this long of one another are counted in one transaction. The buffers
 * forward on a common grid (ClickBuffer.forwardAt), so every buffer's forward reaches a shard in the
 * same burst; one commit per burst instead of one per buffer.
 */
export const INGEST_GROUP_MS = 20;

/** One ingest() call, waiting for its group's transaction. */
interface PendingIngest {
  name: string;
  source: string;
  forwardId: number;
  batch: ShardBatch;
  /** The batch's cells (unpacked: shardBatchCells). */
  cells: CellDims[];
  /** Keys every live epoch's owner granted (resharding); null in the steady state. */
  granted: Set<string> | null;
}

/** A group's answer to an ingest whose forward was applied before (by an earlier call of the same group). */
const REPLAYED = -1;

export interface ShardIngestResult {
  /** Events received (duplicates included). */
  accepted: number;
  duplicates: number;
  /** True when this forward was applied before (a buffer re-sending after a crash): nothing counted. */
  replayed: boolean;
  /** This shard reads packed cells (lib/clicks/forward.ts packShardBatch); absent from older shards. */
  packed?: true;
}

export interface ShardState {
  name: string | null;
  dedupKeys: number;
  openCells: number;
  openStats: number;
  frozenFlush: number | null;
  aeOutbox: number;
  nextFlushId: number;
}

/**
 * One of CLICK_SHARDS objects chosen by hash(click_id): durable dedup within the horizon,
 * pre-aggregation into one-minute cells, and an exactly-once hand-off of those cells to the
 * ClickAggregators that own them (which flush to D1 and Analytics Engine).
 */
export class ClickShard extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly settings: ClickSettings;
  /** D1 (only to fence a flush frozen before the aggregators existed); a field so that tests can replace it. */
  private db: D1Database;
  private readonly handoff: ShardHandoff;
  private name: string | null = null;
  private readonly lastForward = new Map<string, number>();
  /** The scheduled alarm as this object last set it (null: none). */
  private alarmAt: number | null = null;
  /**
   * No alarm before this (epoch ms): a failed hand-off's backoff (or an Analytics Engine error's). Ingest
   * must not pull the alarm forward over it, or every shard would hit a failing aggregator at every interval.
   */
  private backoffUntil = 0;
  private openSince: number | null = null;
  /** The durable set of dedup keys (partitions, level 0, filters): durable-objects/clicks/dedup-index.ts. */
  private readonly index: DedupIndex;
  /** True once `claims` may hold rows (resharding happened while this object lived). */
  private holdsClaims = false;
  /** The shard-count history (ClickEpochs), cached. */
  private readonly epochs: EpochCache;
  /** Concurrent ingests are counted in one transaction; each gets its fresh-key count, REPLAYED, or its own error. */
  private readonly ingests: GroupCommit<PendingIngest, number | Error>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.settings = clickSettings(env);
    this.db = env.DB;
    this.epochs = new EpochCache(epochLoader(env, true));
    this.handoff = new ShardHandoff({
      storage: ctx.storage,
      source: () => this.source(),
      aggregators: () => this.settings.aggregators,
      aggregator: (i) => this.env.CLICK_AGGREGATOR.get(this.env.CLICK_AGGREGATOR.idFromName(aggregatorName(i))),
      db: () => this.db,
    });
    this.index = new DedupIndex(this.sql, this.settings.horizonMs);
    this.ingests = new GroupCommit((items) => this.countGroup(items), Math.min(INGEST_GROUP_MS, Math.floor(this.settings.flushIntervalMs / 10)));
    void ctx.blockConcurrencyWhile(async () => {
      migrateSqlSchema(this.sql, MIGRATIONS);
      const name = readMeta(this.sql, "name");
      this.name = typeof name === "string" ? name : null;
      this.index.open();
      this.holdsClaims = hasRows(this.sql, "SELECT 1 FROM claims LIMIT 1");
      for (const r of this.sql.exec<{ source: string; last_forward: number }>("SELECT source, last_forward FROM sources")) {
        this.lastForward.set(r.source, r.last_forward);
      }
      this.alarmAt = await ctx.storage.getAlarm();
      // a restart in the middle of a backoff keeps it (the alarm was set to the retry time)
      if (this.alarmAt !== null && this.handoff.backingOff()) this.backoffUntil = this.alarmAt;
    });
  }

  /**
   * Counts a batch of events (RPC from a ClickBuffer, or from the edge in direct mode). Durable when
   * it returns. `forwardId` > 0 makes the call idempotent per `source`: a buffer that re-sends a forward
   * after a crash gets `replayed` and nothing is counted twice, not even as duplicates.
   *
   * While more than one shard epoch is live (CLICK_SHARDS changed less than a horizon ago), a key is
   * counted only when its owners in every live epoch, claimed one epoch after another from the oldest,
   * all grant it (see claimInEpochs).
   *
   * The buffers forward on a common grid: the calls that arrive together are counted in one transaction
   * (GroupCommit), in arrival order, so a key two of them carry counts once.
   */
  async ingest(name: string, source: string, forwardId: number, batch: ShardBatch): Promise<ShardIngestResult> {
    const n = batch.cellOf.length;
    if (this.replayed(source, forwardId)) return { accepted: n, duplicates: 0, replayed: true, packed: true };
    const cells = shardBatchCells(batch);
    const own = parseShardName(name);
    const range = own ? claimRange(await this.epochs.get(Date.now(), own.epoch), own.epoch, Date.now(), this.settings.horizonMs) : [];
    let granted: Set<string> | null = null;
    if (range.length > 1) {
      const cid = forwardId > 0 ? claimId(name, source, forwardId) : Math.floor(Math.random() * 2 ** 52);
      granted = await this.claimInEpochs(name, cid, batch.keys, range);
      if (this.replayed(source, forwardId)) return { accepted: n, duplicates: 0, replayed: true, packed: true };
    }
    const fresh = await this.ingests.add({ name, source, forwardId, batch, cells, granted });
    if (fresh instanceof Error) throw fresh;
    if (fresh === REPLAYED) return { accepted: n, duplicates: 0, replayed: true, packed: true };
    return { accepted: n, duplicates: n - fresh, replayed: false, packed: true };
  }

  /**
   * Counts a group of ingests in one transaction. If that transaction fails, each call is counted alone,
   * in arrival order, and only the calls that fail alone fail (with their own error): a forward that
   * makes the transaction throw must not fail the other buffers' forwards at every retry while they keep
   * arriving together, which would stall the shard for every buffer.
   */
  private countGroup(items: PendingIngest[]): (number | Error)[] {
    try {
      return this.countTogether(items);
    } catch (err) {
      if (items.length === 1) throw err;
      return items.map((item) => {
        try {
          return this.countTogether([item])[0];
        } catch (e) {
          return e instanceof Error ? e : new Error(String(e));
        }
      });
    }
  }

  /**
   * Counts ingests in one transaction, in arrival order: each one's fresh keys, its cells and statistics
   * (one open log row) and its source's forward id. A call whose forward an earlier call carried is
   * REPLAYED. If the transaction fails, nothing of it is kept (the dedup index's memory included).
   */
  private countTogether(items: PendingIngest[]): number[] {
    const now = Date.now();
    const exp = now + this.settings.horizonMs;
    const forwarded = new Map<string, number>();
    const results = this.atomically(() => {
      if (this.name === null) writeMeta(this.sql, "name", items[0].name);
      const cells: unknown[][] = [];
      const stats: unknown[][] = [];
      const out = items.map(({ name, source, forwardId, batch, cells: batchCells, granted }) => {
        if (forwardId > 0 && Math.max(this.lastForward.get(source) ?? 0, forwarded.get(source) ?? 0) >= forwardId) return REPLAYED;
        const fresh = granted === null ? this.dedupOwn(batch.keys, exp, name, source, forwardId) : firstOccurrences(batch.keys, granted);
        const counted = countBatch(batch, batchCells, fresh);
        for (const c of counted.cells) cells.push(c);
        for (const r of counted.stats) stats.push(r);
        if (forwardId > 0) forwarded.set(source, forwardId);
        return fresh.length;
      });
      this.handoff.log.append(cells, stats);
      if (forwarded.size > 0) {
        this.sql.exec(
          `INSERT INTO sources (source, last_forward) SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true
           ON CONFLICT (source) DO UPDATE SET last_forward = max(last_forward, excluded.last_forward)`,
          JSON.stringify([...forwarded]),
        );
      }
      return out;
    });
    this.name ??= items[0].name;
    for (const [source, forwardId] of forwarded) this.lastForward.set(source, Math.max(this.lastForward.get(source) ?? 0, forwardId));
    if (results.some((r) => r !== REPLAYED)) {
      this.openSince ??= now;
      this.schedule(this.handoffAt(this.openSince));
    }
    return results;
  }

  /**
   * The steady-state dedup (one live epoch). A key this shard granted to this very forward's claim
   * (claimed during a reshard, then the object crashed before counting, and the older epoch retired
   * before the re-send) is still this forward's to count.
   */
  private dedupOwn(keysJson: string, exp: number, name: string, source: string, forwardId: number): number[] {
    const fresh = this.index.dedup(keysJson, exp);
    if (!this.holdsClaims || forwardId <= 0) return fresh;
    const keys = splitKeys(keysJson);
    const isFresh = new Set(fresh.map((i) => keys[i]));
    const seen = [...new Set(keys.filter((k) => !isFresh.has(k)))];
    if (seen.length === 0) return fresh;
    const mine = new Set<string>();
    for (const [k] of this.sql.exec(CLAIMED_BY, "[" + seen.join(",") + "]", claimId(name, source, forwardId)).raw()) mine.add(String(k));
    if (mine.size === 0) return fresh;
    for (const k of isFresh) mine.add(k);
    return firstOccurrences(keysJson, mine);
  }

  private replayed(source: string, forwardId: number): boolean {
    return forwardId > 0 && (this.lastForward.get(source) ?? 0) >= forwardId;
  }

  /**
   * Resharding: claims the distinct keys of a batch at their owner in each epoch of `range`, oldest
   * first, and returns the keys every owner granted. A key stops at the first owner that refuses it.
   * Why this is exactly once: every live epoch's owner of a key is claimed before it is counted, two
   * concurrent claimers' ranges always share an epoch (ranges differ only in the oldest or newest epoch,
   * and an epoch is retired a horizon + margin after its successor started), and each owner grants a key
   * to one claim id only; the claimer that reaches the end of its range counts it. Claims are idempotent
   * per claim id (shard, source, forward id), so a forward re-sent after a crash gets the same answers.
   */
  private async claimInEpochs(name: string, cid: number, keysJson: string, range: readonly { epoch: number; shards: number }[]): Promise<Set<string>> {
    let alive = [...new Set(splitKeys(keysJson))];
    for (const ep of range) {
      const byOwner = new Map<string, string[]>();
      for (const k of alive) {
        const owner = epochShardName(ep.epoch, shardOfKey(keyHalves(k)[1], ep.shards));
        let list = byOwner.get(owner);
        if (!list) byOwner.set(owner, (list = []));
        list.push(k);
      }
      const answers = await Promise.all(
        [...byOwner].map(([owner, keys]) =>
          owner === name ? this.claim(owner, cid, "[" + keys.join(",") + "]") : this.env.CLICK_SHARD.get(this.env.CLICK_SHARD.idFromName(owner)).claim(owner, cid, "[" + keys.join(",") + "]"),
        ),
      );
      alive = answers.flat();
      if (alive.length === 0) break;
    }
    return new Set(alive);
  }

  /**
   * Grants each key (`[0x…,…]`, distinct) to claim `cid` if this shard has not seen it, or saw it first
   * from this same claim; records the granted ones. Returns the granted keys. RPC from other shards.
   */
  claim(name: string, cid: number, keysJson: string): string[] {
    const keys = splitKeys(keysJson);
    if (keys.length === 0) return [];
    const now = Date.now();
    const exp = now + this.settings.horizonMs;
    const granted = this.atomically(() => {
      if (this.name === null) writeMeta(this.sql, "name", name);
      const fresh = this.index.dedup(keysJson, exp);
      const out = fresh.map((i) => keys[i]);
      if (out.length > 0) {
        this.sql.exec(RECORD_CLAIMS, cid, exp, "[" + out.join(",") + "]");
        this.holdsClaims = true;
      }
      if (out.length < keys.length) {
        const isFresh = new Set(out);
        const seen = keys.filter((k) => !isFresh.has(k));
        for (const [k] of this.sql.exec(CLAIMED_BY, "[" + seen.join(",") + "]", cid).raw()) out.push(String(k));
      }
      return out;
    });
    if (this.name === null) this.name = name;
    this.schedule(now + Math.max(IDLE_SWEEP_MS, this.settings.flushIntervalMs));
    return granted;
  }

  /**
   * A transaction over storage and the dedup levels' in-memory state: if it rolls back, that state is
   * reloaded from storage so that it matches again.
   */
  private atomically<T>(fn: () => T): T {
    try {
      return this.ctx.storage.transactionSync(fn);
    } catch (err) {
      this.index.reload();
      throw err;
    }
  }

  /** Sizes of this shard's state (bounded-memory checks, the bench and tests). */
  state(): ShardState {
    const frozen = this.sql.exec<{ flush_id: number }>("SELECT flush_id FROM flushes LIMIT 1").toArray()[0];
    return {
      name: this.name,
      dedupKeys: this.index.size(),
      openCells: this.handoff.log.entries(),
      openStats: this.handoff.log.statsEntries(),
      frozenFlush: frozen ? frozen.flush_id : null,
      aeOutbox: analyticsPending(this.sql),
      nextFlushId: Number(readMeta(this.sql, "next_flush_id") ?? 1),
    };
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    let retryAt: number | null = null;
    try {
      const openedAt = this.openSince ?? now;
      this.openSince = null; // cells left open below (a backlog, or ingested meanwhile) are open from now on
      await this.handoff.step(openedAt);
    } catch (err) {
      retryAt = this.handoff.retryAt(this.settings.flushIntervalMs);
      console.error(`click shard ${this.name}: hand-off failed, retrying`, (err as Error)?.message ?? String(err));
    }
    this.backoffUntil = retryAt ?? 0;
    // outbox rows of flushes this shard wrote to D1 itself, before the aggregators
    const aeFailed = hasAnalytics(this.sql) && !drainAnalytics(this.sql, this.env.CLICKS_AE);
    if (aeFailed) this.backoffUntil = Math.max(this.backoffUntil, Date.now() + AE_RETRY_MS);
    this.atomically(() => this.index.sweep(now));

    if (retryAt !== null) this.schedule(retryAt);
    else if (hasAnalytics(this.sql)) this.schedule(Date.now());
    else if (this.handoff.hasOpen()) {
      // a backlog (more than one flush's worth waited) drains at once, hand-off after hand-off
      this.openSince ??= now;
      this.schedule(this.handoff.backlog() ? Date.now() : this.handoffAt(this.openSince));
    }
    else if (this.index.holdsKeys()) this.schedule(Date.now() + Math.max(IDLE_SWEEP_MS, this.settings.flushIntervalMs));
  }

  /** The hand-off of cells opened at `t`: just before the aggregators' next flush boundary. */
  private handoffAt(t: number): number {
    return handoffAt(t, this.settings.flushIntervalMs, this.settings.handoffLeadMs);
  }

  private schedule(at: number): void {
    at = Math.max(at, this.backoffUntil);
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  private source(): string {
    return this.name ?? `shard:${this.ctx.id.toString()}`;
  }

}

/** Indexes of the first occurrence of each key in `granted`. */
function firstOccurrences(keysJson: string, granted: Set<string>): number[] {
  const out: number[] = [];
  const taken = new Set<string>();
  splitKeys(keysJson).forEach((k, i) => {
    if (granted.has(k) && !taken.has(k)) {
      taken.add(k);
      out.push(i);
    }
  });
  return out;
}

/** The id of one forward's claims: the same when the forward is re-sent. */
export function claimId(name: string, source: string, forwardId: number): number {
  return cyrb53(`${name}|${source}|${forwardId}`);
}

/**
 * The open log entries of a batch: the events at indexes `fresh` (new keys) per cell
 * (`[w, c, a, r, n]`), and the whole batch per arrival minute (`[minute, accepted, duplicates, invalid,
 * too_late, future]`).
 */
function countBatch(batch: ShardBatch, batchCells: CellDims[], fresh: number[]): { cells: unknown[][]; stats: unknown[][] } {
  const n = batch.cellOf.length;
  const cellCounts = new Array<number>(batchCells.length).fill(0);
  const freshPerMinute = new Array<number>(batch.minutes.length).fill(0);
  for (const i of fresh) {
    cellCounts[batch.cellOf[i]]++;
    freshPerMinute[batch.minuteOf[i]]++;
  }
  const cells: unknown[][] = [];
  for (let ci = 0; ci < cellCounts.length; ci++) if (cellCounts[ci] > 0) cells.push([...batchCells[ci], cellCounts[ci]]);

  const stats = new Map<number, [number, number, number, number, number, number]>();
  const statRow = (minute: number) => {
    let r = stats.get(minute);
    if (!r) stats.set(minute, (r = [minute, 0, 0, 0, 0, 0]));
    return r;
  };
  const receivedPerMinute = new Array<number>(batch.minutes.length).fill(0);
  for (let i = 0; i < n; i++) receivedPerMinute[batch.minuteOf[i]]++;
  batch.minutes.forEach((minute, mi) => {
    const r = statRow(minute);
    r[1] += receivedPerMinute[mi];
    r[2] += receivedPerMinute[mi] - freshPerMinute[mi];
  });
  for (const [minute, invalid, tooLate, future] of batch.rejected) {
    const r = statRow(minute);
    r[3] += invalid;
    r[4] += tooLate;
    r[5] += future;
  }
  return { cells, stats: [...stats.values()] };
}
