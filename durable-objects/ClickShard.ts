import { DurableObject } from "cloudflare:workers";
import { cyrb53 } from "../lib/cyrb";
import { claimRange, EpochCache, epochShardName, parseShardName } from "../lib/clicks/epochs";
import { shardOfKey } from "../lib/clicks/hash";
import { epochLoader } from "./ClickEpochs";
import { flushStatements, isLedgerConflict, type CountRow, type StatsRow } from "../lib/clicks/flush-sql";
import type { ShardBatch } from "../lib/clicks/forward";
import { splitKeys } from "../lib/clicks/dedup-keys";
import { keyHalves } from "../lib/clicks/key-bloom";
import { clickSettings, type ClickSettings } from "../lib/clicks/settings";
import { migrateSqlSchema, readMeta, writeMeta } from "../lib/sql-migrations";
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
];

/** Open (not yet frozen) cells and statistics carry flush_id 0. */
const OPEN = 0;

const UPSERT_CELLS =
  "INSERT INTO cells (flush_id, w, c, a, r, n) SELECT 0, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 " +
  "FROM json_each(?) WHERE true ON CONFLICT (flush_id, w, c, a, r) DO UPDATE SET n = n + excluded.n";
const UPSERT_STATS =
  "INSERT INTO stats (flush_id, minute, accepted, duplicates, invalid, too_late, future) " +
  "SELECT 0, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?) WHERE true " +
  "ON CONFLICT (flush_id, minute) DO UPDATE SET accepted = accepted + excluded.accepted, duplicates = duplicates + excluded.duplicates, " +
  "invalid = invalid + excluded.invalid, too_late = too_late + excluded.too_late, future = future + excluded.future";

const CLAIMED_BY = "SELECT printf('0x%016x', k) FROM claims WHERE k IN (SELECT value FROM json_each(?)) AND cid = ?";
const RECORD_CLAIMS = "INSERT INTO claims (k, cid, exp) SELECT value, ?, ? FROM json_each(?) WHERE true ON CONFLICT (k) DO NOTHING";
/** Analytics Engine accepts at most 250 data points per invocation. */
const AE_POINTS_PER_INVOCATION = 250;
const MAX_RETRY_MS = 30_000;
/**
 * Cells per flush (one D1 batch). Each cell is one JSON row of ≤ ~800 bytes (ids ≤ 64 characters), so a
 * flush binds ≤ ~1 MB in ≤ ~10 statements of ≤ 90 KB (MAX_JSON_PARAM_BYTES) plus the ledger and stats.
 */
export const MAX_FLUSH_CELLS = 1_000;
/** After an Analytics Engine write error, wait this long before the next attempt. */
const AE_RETRY_MS = 5_000;
/** While idle but holding dedup keys, wake up this often to sweep expired ones. */
const IDLE_SWEEP_MS = 5_000;

export interface ShardIngestResult {
  /** Events received (duplicates included). */
  accepted: number;
  duplicates: number;
  /** True when this forward was applied before (a buffer re-sending after a crash): nothing counted. */
  replayed: boolean;
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
 * pre-aggregation into one-minute cells, and an exactly-once flush to D1 (and Analytics Engine).
 */
export class ClickShard extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly settings: ClickSettings;
  /** D1; a field so that tests can put a failing one in its place. */
  private db: D1Database;
  private name: string | null = null;
  private readonly lastForward = new Map<string, number>();
  /** The scheduled alarm as this object last set it (null: none). */
  private alarmAt: number | null = null;
  /**
   * No alarm before this (epoch ms): a failed flush's backoff (or an Analytics Engine error's). Ingest
   * must not pull the alarm forward over it, or every shard would hit a failing D1 at every interval.
   */
  private backoffUntil = 0;
  private openSince: number | null = null;
  /** The durable set of dedup keys (partitions, level 0, filters): durable-objects/clicks/dedup-index.ts. */
  private readonly index: DedupIndex;
  /** True once `claims` may hold rows (resharding happened while this object lived). */
  private holdsClaims = false;
  /** The shard-count history (ClickEpochs), cached. */
  private readonly epochs: EpochCache;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.settings = clickSettings(env);
    this.db = env.DB;
    this.epochs = new EpochCache(epochLoader(env, true));
    this.index = new DedupIndex(this.sql, this.settings.horizonMs);
    void ctx.blockConcurrencyWhile(async () => {
      migrateSqlSchema(this.sql, MIGRATIONS);
      const name = readMeta(this.sql, "name");
      this.name = typeof name === "string" ? name : null;
      this.index.open();
      this.holdsClaims = this.hasRows("SELECT 1 FROM claims LIMIT 1");
      for (const r of this.sql.exec<{ source: string; last_forward: number }>("SELECT source, last_forward FROM sources")) {
        this.lastForward.set(r.source, r.last_forward);
      }
      this.alarmAt = await ctx.storage.getAlarm();
      // a restart in the middle of a backoff keeps it (the alarm was set to the retry time)
      if (this.alarmAt !== null && this.hasRows("SELECT 1 FROM flushes WHERE attempts > 0")) this.backoffUntil = this.alarmAt;
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
   */
  async ingest(name: string, source: string, forwardId: number, batch: ShardBatch): Promise<ShardIngestResult> {
    const n = batch.cellOf.length;
    if (this.replayed(source, forwardId)) return { accepted: n, duplicates: 0, replayed: true };
    const own = parseShardName(name);
    const range = own ? claimRange(await this.epochs.get(Date.now(), own.epoch), own.epoch, Date.now(), this.settings.horizonMs) : [];
    let granted: Set<string> | null = null;
    if (range.length > 1) {
      const cid = forwardId > 0 ? claimId(name, source, forwardId) : Math.floor(Math.random() * 2 ** 52);
      granted = await this.claimInEpochs(name, cid, batch.keys, range);
      if (this.replayed(source, forwardId)) return { accepted: n, duplicates: 0, replayed: true };
    }
    const now = Date.now();
    const fresh = this.atomically(() => {
      if (this.name === null) writeMeta(this.sql, "name", name);
      const fresh = granted === null ? this.dedupOwn(batch.keys, now + this.settings.horizonMs, name, source, forwardId) : firstOccurrences(batch.keys, granted);
      this.count(batch, fresh);
      if (forwardId > 0) {
        this.sql.exec(
          "INSERT INTO sources (source, last_forward) VALUES (?, ?) ON CONFLICT (source) DO UPDATE SET last_forward = excluded.last_forward",
          source,
          forwardId,
        );
      }
      return fresh.length;
    });
    if (this.name === null) this.name = name;
    if (forwardId > 0) this.lastForward.set(source, forwardId);
    this.openSince ??= now;
    this.schedule(now + this.settings.flushIntervalMs);
    return { accepted: n, duplicates: n - fresh, replayed: false };
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

  /** Adds the events at indexes `fresh` (new keys) to the open cells, and the batch to the statistics. */
  private count(batch: ShardBatch, fresh: number[]): void {
    const n = batch.cellOf.length;
    const cellCounts = new Array<number>(batch.cells.length).fill(0);
    const freshPerMinute = new Array<number>(batch.minutes.length).fill(0);
    for (const i of fresh) {
      cellCounts[batch.cellOf[i]]++;
      freshPerMinute[batch.minuteOf[i]]++;
    }
    const cells: unknown[] = [];
    for (let ci = 0; ci < cellCounts.length; ci++) if (cellCounts[ci] > 0) cells.push([...batch.cells[ci], cellCounts[ci]]);
    if (cells.length > 0) this.sql.exec(UPSERT_CELLS, JSON.stringify(cells));

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
    if (stats.size > 0) this.sql.exec(UPSERT_STATS, JSON.stringify([...stats.values()]));
  }

  /** Sizes of this shard's state (bounded-memory checks, the bench and tests). */
  state(): ShardState {
    const count = (q: string) => Number(this.sql.exec<{ n: number }>(q).one().n);
    const frozen = this.sql.exec<{ flush_id: number }>("SELECT flush_id FROM flushes LIMIT 1").toArray()[0];
    return {
      name: this.name,
      dedupKeys: this.index.size(),
      openCells: count("SELECT count(*) AS n FROM cells WHERE flush_id = 0"),
      openStats: count("SELECT count(*) AS n FROM stats WHERE flush_id = 0"),
      frozenFlush: frozen ? frozen.flush_id : null,
      aeOutbox: count("SELECT count(*) AS n FROM ae_outbox"),
      nextFlushId: Number(readMeta(this.sql, "next_flush_id") ?? 1),
    };
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    let retryAt: number | null = null;
    try {
      await this.flush();
    } catch (err) {
      const attempts = this.recordFailedAttempt();
      retryAt = Date.now() + Math.min(MAX_RETRY_MS, this.settings.flushIntervalMs * 2 ** Math.min(attempts, 10));
      console.error(`click shard ${this.name}: flush failed (attempt ${attempts}), retrying`, (err as Error)?.message ?? String(err));
    }
    this.backoffUntil = retryAt ?? 0;
    const aeFailed = !this.drainAnalytics();
    if (aeFailed) this.backoffUntil = Math.max(this.backoffUntil, Date.now() + AE_RETRY_MS);
    this.atomically(() => this.index.sweep(now));

    if (retryAt !== null) this.schedule(retryAt);
    else if (this.hasRows("SELECT 1 FROM ae_outbox LIMIT 1")) this.schedule(Date.now());
    else if (this.hasRows("SELECT 1 FROM cells WHERE flush_id = 0 LIMIT 1")) {
      // a backlog (more than one flush's worth waited) drains at once, flush after flush
      const backlog = this.hasRows(`SELECT 1 FROM cells WHERE flush_id = 0 LIMIT 1 OFFSET ${MAX_FLUSH_CELLS - 1}`);
      this.schedule(backlog ? Date.now() : (this.openSince ?? Date.now()) + this.settings.flushIntervalMs);
    }
    else if (this.index.holdsKeys()) this.schedule(Date.now() + Math.max(IDLE_SWEEP_MS, this.settings.flushIntervalMs));
  }

  private schedule(at: number): void {
    at = Math.max(at, this.backoffUntil);
    if (this.alarmAt !== null && this.alarmAt <= at) return;
    this.alarmAt = at;
    void this.ctx.storage.setAlarm(at);
  }

  private hasRows(q: string): boolean {
    return this.sql.exec(q).toArray().length > 0;
  }

  /** Applies the frozen flush, or freezes the open cells into a new one and applies that. */
  private async flush(): Promise<void> {
    let flushId = this.frozenFlushId();
    if (flushId === null) {
      if (!this.hasRows("SELECT 1 FROM cells WHERE flush_id = 0 UNION ALL SELECT 1 FROM stats WHERE flush_id = 0 LIMIT 1")) return;
      await this.ensureFlushIdFloor();
      flushId = this.freeze();
    }
    await this.applyFlush(flushId);
    this.completeFlush(flushId);
  }

  private frozenFlushId(): number | null {
    const row = this.sql.exec<{ flush_id: number }>("SELECT flush_id FROM flushes ORDER BY flush_id LIMIT 1").toArray()[0];
    return row ? row.flush_id : null;
  }

  /**
   * Flush ids only grow. Before this object's first flush, start above any id D1's ledger already has
   * for this source (e.g. the object's storage was reset while D1 kept its ledger), so a new flush is
   * never mistaken for an applied one.
   */
  private async ensureFlushIdFloor(): Promise<void> {
    if (readMeta(this.sql, "next_flush_id") !== null) return;
    const row = await this.db
      .prepare("SELECT max(flush_id) AS m FROM click_flush_ledger WHERE source = ?")
      .bind(this.source())
      .first<{ m: number | null }>();
    if (readMeta(this.sql, "next_flush_id") === null) writeMeta(this.sql, "next_flush_id", Number(row?.m ?? 0) + 1);
  }

  private source(): string {
    return this.name ?? `shard:${this.ctx.id.toString()}`;
  }

  /** Moves the open cells and statistics under a new flush id, atomically. */
  private freeze(): number {
    return this.ctx.storage.transactionSync(() => {
      const flushId = Number(readMeta(this.sql, "next_flush_id") ?? 1);
      writeMeta(this.sql, "next_flush_id", flushId + 1);
      // at most MAX_FLUSH_CELLS cells per flush: after an outage the backlog drains in bounded D1 batches
      const moved = this.sql.exec(
        "UPDATE cells SET flush_id = ? WHERE (flush_id, w, c, a, r) IN (SELECT flush_id, w, c, a, r FROM cells WHERE flush_id = ? LIMIT ?)",
        flushId,
        OPEN,
        MAX_FLUSH_CELLS,
      ).rowsWritten;
      this.sql.exec("UPDATE stats SET flush_id = ? WHERE flush_id = ?", flushId, OPEN);
      this.sql.exec("INSERT INTO flushes (flush_id, frozen_at) VALUES (?, ?)", flushId, Date.now());
      if (moved < MAX_FLUSH_CELLS || !this.hasRows("SELECT 1 FROM cells WHERE flush_id = 0 LIMIT 1")) this.openSince = null;
      return flushId;
    });
  }

  /** One D1 batch: ledger row + additive upserts. Resolves when applied now or found applied before. */
  private async applyFlush(flushId: number): Promise<"applied" | "already_applied"> {
    const counts = Array.from(this.sql.exec("SELECT w, c, a, r, n FROM cells WHERE flush_id = ?", flushId).raw()) as CountRow[];
    const stats = Array.from(
      this.sql.exec("SELECT minute, accepted, duplicates, too_late, future, invalid FROM stats WHERE flush_id = ?", flushId).raw(),
    ) as StatsRow[];
    const stmts = flushStatements(this.source(), flushId, new Date().toISOString(), counts, stats);
    try {
      await this.db.batch(stmts.map((s) => this.db.prepare(s.sql).bind(...s.params)));
      return "applied";
    } catch (err) {
      if (!isLedgerConflict(err)) throw err;
      // The ledger has this flush: an earlier attempt was applied and its answer lost. Check it is
      // really ours (same totals) before treating it as done.
      const row = await this.db
        .prepare("SELECT cells, clicks FROM click_flush_ledger WHERE source = ? AND flush_id = ?")
        .bind(this.source(), flushId)
        .first<{ cells: number; clicks: number }>();
      const ours = stmts[0].params;
      if (row && row.cells === ours[3] && row.clicks === ours[4]) return "already_applied";
      this.renumber(flushId);
      throw new Error(`flush ${flushId} of ${this.source()} collides with a different ledger row; renumbered`);
    }
  }

  private renumber(flushId: number): void {
    this.ctx.storage.transactionSync(() => {
      const next = Number(readMeta(this.sql, "next_flush_id") ?? flushId + 1);
      writeMeta(this.sql, "next_flush_id", next + 1);
      for (const t of ["cells", "stats", "flushes"]) this.sql.exec(`UPDATE ${t} SET flush_id = ? WHERE flush_id = ?`, next, flushId);
    });
  }

  /** D1 has the flush: queue its clicks for Analytics Engine and drop the frozen rows, atomically. */
  private completeFlush(flushId: number): void {
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO ae_outbox (c, a, r, n) SELECT c, a, r, sum(n) FROM cells WHERE flush_id = ? GROUP BY c, a, r", flushId);
      for (const t of ["cells", "stats", "flushes"]) this.sql.exec(`DELETE FROM ${t} WHERE flush_id = ?`, flushId);
    });
  }

  private recordFailedAttempt(): number {
    const id = this.frozenFlushId();
    if (id === null) return 1;
    this.sql.exec("UPDATE flushes SET attempts = attempts + 1 WHERE flush_id = ?", id);
    return Number(this.sql.exec<{ attempts: number }>("SELECT attempts FROM flushes WHERE flush_id = ?", id).one().attempts);
  }

  /**
   * Writes up to 250 queued cells to Analytics Engine (one data point per cell and flush; the double is
   * the click count). Each point is deleted from the outbox in the same synchronous run as its write, so
   * an error part-way never re-sends the points before it; only a crash between write and delete can
   * (AE is at-least-once, D1 is the exact record). Returns false when a write failed (the caller backs off).
   */
  private drainAnalytics(): boolean {
    const rows = this.sql
      .exec<{ id: number; c: string; a: string; r: string; n: number }>("SELECT id, c, a, r, n FROM ae_outbox ORDER BY id LIMIT ?", AE_POINTS_PER_INVOCATION)
      .toArray();
    let written = 0;
    let ok = true;
    try {
      for (const row of rows) {
        this.env.CLICKS_AE.writeDataPoint(analyticsPoint(row.c, row.a, row.r, row.n));
        written++;
      }
    } catch (err) {
      ok = false;
      console.error("analytics engine write failed", (err as Error)?.message ?? String(err));
    }
    if (written > 0) this.sql.exec("DELETE FROM ae_outbox WHERE id <= ?", rows[written - 1].id);
    return ok;
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

/** Analytics Engine limits: the index at most 96 bytes, blobs at most 16 KB together. */
export const AE_MAX_INDEX_BYTES = 96;
const utf8 = new TextEncoder();

/** The longest prefix of `s` (whole code points) that fits in `max` UTF-8 bytes. */
export function truncateUtf8(s: string, max: number): string {
  if (utf8.encode(s).byteLength <= max) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const len = utf8.encode(ch).byteLength;
    if (bytes + len > max) break;
    out += ch;
    bytes += len;
  }
  return out;
}

/** One AE data point: blobs campaign, ad, region (ids ≤ 64 chars: ≤ 256 bytes each); index campaign cut to 96 bytes. */
export function analyticsPoint(c: string, a: string, r: string, n: number): AnalyticsEngineDataPoint {
  return { blobs: [c, a, r], doubles: [n], indexes: [truncateUtf8(c, AE_MAX_INDEX_BYTES)] };
}
