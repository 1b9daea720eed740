import { partitionExpired, partitionOf, partitionSpanMs, partitionTable, sliceOfHalf as sliceOf, SLICES } from "../../lib/clicks/dedup-keys";
import { keyHex, keyListJson } from "../../lib/clicks/hash";
import { BUCKET_BITS, bucketHas, bucketOf, packHalves } from "../../lib/clicks/key-buckets";
import { KeySet, parseKeyList, type KeyHalves } from "../../lib/clicks/key-set";
import { migrateSqlSchema, readMeta, writeMeta } from "../../lib/sql-migrations";
import { DedupFilters, UNKNOWN } from "./dedup-filters";

/** Keys per level-0 row at most (≈ 380 KB of text, well under a DO SQLite row's 2 MB). */
export const LOG_ROW_KEYS = 20_000;

/**
 * The dedup index's own tables, versioned under `dedup_schema_version` (ClickShard's migrations v1–v4
 * created `dedup`, `dedup_log` and `claims` before it; `dedup_log` keeps its role, v2 changes its shape).
 * v1: partitions by expiry time; `dedup_legacy` makes open() carry the old single `dedup` B-tree over.
 * v3: `dedup_parts.bits`: the partition keeps its keys in buckets of that many bits (lib/clicks/key-buckets.ts);
 * NULL for a partition made before v3 (or adopted), a B-tree of one row per key, until it expires.
 */
const MIGRATIONS = [
  `CREATE TABLE dedup_parts (p INTEGER PRIMARY KEY, keys INTEGER NOT NULL);
   CREATE TABLE dedup_blooms (p INTEGER NOT NULL, slice INTEGER NOT NULL, keys INTEGER NOT NULL, bits BLOB NOT NULL,
     PRIMARY KEY (p, slice)) WITHOUT ROWID;
   INSERT INTO meta (key, value) VALUES ('dedup_legacy', 1) ON CONFLICT (key) DO UPDATE SET value = 1;`,
  // v2: level 0 holds one row per batch of keys (a "[0x…,…]" list) instead of one row per key. Old rows
  // are regrouped by expiry, at most LOG_ROW_KEYS per row. dedup_merging is created (old layout) when
  // absent so that the same statements convert both; open() drops it again when no merge is under way.
  ["dedup_log", "dedup_merging"].map(
    (t) => `CREATE TABLE IF NOT EXISTS ${t} (k INTEGER NOT NULL, exp INTEGER NOT NULL);
     CREATE TABLE ${t}_v2 (exp INTEGER NOT NULL, keys TEXT NOT NULL);
     INSERT INTO ${t}_v2 (exp, keys) SELECT exp, '[' || group_concat(printf('0x%016x', k), ',') || ']' FROM ${t} GROUP BY exp, rowid / ${LOG_ROW_KEYS};
     DROP TABLE ${t};
     ALTER TABLE ${t}_v2 RENAME TO ${t};`,
  ).join("\n"),
  `ALTER TABLE dedup_parts ADD COLUMN bits INTEGER;`,
];

/** Level 0 is merged once it holds max(MERGE_AT, newest partition / MERGE_RATIO) keys, at most MAX_LOG_KEYS. */
export const MERGE_AT = 4096;
export const MERGE_RATIO = 2;
export const MAX_LOG_KEYS = 65_536;
const CREATE_LOG = "CREATE TABLE dedup_log (exp INTEGER NOT NULL, keys TEXT NOT NULL)";
const APPEND_LOG = "INSERT INTO dedup_log (exp, keys) VALUES (?, ?)";
const MERGE_SLICE = "dedup_merge_slice";
/** Claims (resharding) are swept in 256 slices of 2^56 keys, one per sweep. */
export const CLAIM_SWEEP_SLICES = 256;
const SWEEP_CLAIMS = "DELETE FROM claims WHERE k BETWEEN (?1 << 56) AND ((?1 << 56) | 72057594037927935) AND exp < ?2";
/** A merge step's keys of one partition, appended to each bucket they fall in: one row written per bucket. */
const APPEND_BUCKETS = (table: string) =>
  `INSERT INTO ${table} (b, keys) SELECT value ->> 0, substr(?2, value ->> 1, value ->> 2) FROM json_each(?1) WHERE true
   ON CONFLICT (b) DO UPDATE SET keys = CAST(keys || excluded.keys AS BLOB)`;

/** Keys of level 0 by partition, then by key slice (a merge step takes one slice of every partition). */
type Level = Map<number, KeySet[]>;

export interface DedupStats {
  partitions: number;
  /** Keys in level 0: the log being appended to, and the one being merged. */
  logKeys: number;
  mergingKeys: number;
  filterBytes: number;
  /** Keys looked up in a partition's B-tree since the object started (filter positives and misses). */
  probed: number;
}

/**
 * A ClickShard's durable set of dedup keys (64-bit, keyHex form), each remembered until its expiry.
 *
 * - Partitions: keys are kept by expiry time, one table `dedup_p<end>` per partition (a span of
 *   horizon / 24, an hour by default), dropped whole once its end has passed: expiry costs one DROP
 *   per span, whatever the partition holds. A partition holds its keys in buckets (lib/clicks/key-buckets.ts):
 *   one row per bucket of 8-byte keys, so a merge writes one row per bucket it touches, not one per key.
 * - Level 0: each batch's new keys are appended to `dedup_log` as ONE row (no index, so an append
 *   dirties only the last pages, and writes one row however many keys: DO storage bills rows written)
 *   and mirrored in memory (as numbers: lib/clicks/key-set.ts). Once it holds enough keys it becomes `dedup_merging` and is merged into the
 *   partitions one key slice (1/16 of the key space) per step, in key order, so one step dirties only
 *   that slice's B-tree pages and its filter block. Ingest pays a number of steps proportional to the
 *   keys it added, so no call does unbounded work and a cycle ends before the next log fills.
 * - Filters: each (partition, slice) has a Bloom filter block stored in `dedup_blooms` (and, once full,
 *   more links in `dedup_links_p<end>`: dedup-filters.ts), written by the step that changed it; they
 *   load lazily, so opening the object reads the catalogue and level 0 only.
 *   A filter positive costs a B-tree probe; a key absent from every filter is new.
 */
export class DedupIndex {
  private active: Level = new Map();
  private activeKeys = 0;
  private merging: Level | null = null;
  private mergingKeys = 0;
  /** Live partitions → keys held (`dedup_parts`). */
  private readonly parts = new Map<number, number>();
  /** Bucket bits of the live partitions kept in buckets; the others (made before dedup schema v3) are B-trees. */
  private readonly bucketBits = new Map<number, number>();
  private readonly filters: DedupFilters;
  private readonly spanMs: number;
  private probed = 0;

  /** `filterBudget`: bytes of filters kept in memory at most (MAX_FILTER_BYTES; smaller in tests). */
  constructor(
    private readonly sql: SqlStorage,
    horizonMs: number,
    filterBudget?: number,
  ) {
    this.filters = new DedupFilters(sql, filterBudget);
    this.spanMs = partitionSpanMs(horizonMs);
  }

  /** Migrates (once, carrying the old layout over) and loads the catalogue and level 0. */
  open(): void {
    migrateSqlSchema(this.sql, MIGRATIONS, "dedup_schema_version");
    // only a merge under way has a dedup_merging (v2 makes an empty one when there was none)
    if (readMeta(this.sql, MERGE_SLICE) === null) this.sql.exec("DROP TABLE IF EXISTS dedup_merging");
    if (readMeta(this.sql, "dedup_legacy") !== null) this.carryLegacy();
    this.reload();
  }

  /** Re-reads the in-memory state from storage (after a rolled-back transaction). */
  reload(): void {
    this.parts.clear();
    this.bucketBits.clear();
    for (const [p, keys, bits] of this.sql.exec("SELECT p, keys, bits FROM dedup_parts").raw()) {
      this.parts.set(Number(p), Number(keys));
      if (bits !== null) this.bucketBits.set(Number(p), Number(bits));
    }
    this.filters.clear();
    this.active = new Map();
    this.activeKeys = this.loadLevel("dedup_log", this.active, 0);
    const step = readMeta(this.sql, MERGE_SLICE);
    this.merging = step === null ? null : new Map();
    this.mergingKeys = this.merging ? this.loadLevel("dedup_merging", this.merging, Number(step)) : 0;
  }

  /**
   * Records the keys of a batch (`[0x…,…]`) not seen before, expiring at `exp`, and returns the indexes
   * of their first occurrences. Call inside the caller's transaction (and reload() if it rolls back).
   */
  dedup(keysJson: string, exp: number, now = Date.now()): number[] {
    const { his, los } = parseKeyList(keysJson);
    const n = his.length;
    const candidates: number[] = [];
    const inBatch = new KeySet(n);
    for (let i = 0; i < n; i++) {
      if (this.inLevel0(his[i], los[i]) || !inBatch.add(his[i], los[i])) continue;
      candidates.push(i);
    }
    let fresh = candidates;
    if (this.parts.size > 0 && candidates.length > 0) {
      const seen = this.findInPartitions(his, los, candidates);
      if (seen !== null) fresh = candidates.filter((i) => seen[i] === 0);
    }
    if (fresh.length === 0) return fresh;
    if (fresh.length === n && n <= LOG_ROW_KEYS) this.sql.exec(APPEND_LOG, exp, keysJson);
    else for (let i = 0; i < fresh.length; i += LOG_ROW_KEYS) this.sql.exec(APPEND_LOG, exp, "[" + fresh.slice(i, i + LOG_ROW_KEYS).map((f) => keyHex(his[f], los[f])).join(",") + "]");
    const p = partitionOf(exp, this.spanMs);
    for (const i of fresh) add(this.active, p, his[i], los[i]);
    this.activeKeys += fresh.length;
    this.keepMerging(fresh.length, now);
    return fresh;
  }

  /**
   * Drops the partitions whose keys have all expired, advances a merge cycle by one step (so an idle
   * shard still finishes it, and a log whose keys expired is emptied), and sweeps one slice of claims.
   * Returns the partitions dropped.
   */
  sweep(now: number): number {
    let dropped = 0;
    for (const p of [...this.parts.keys()]) {
      if (!partitionExpired(p, now)) continue;
      this.sql.exec(`DROP TABLE IF EXISTS ${partitionTable(p)}`);
      this.sql.exec("DELETE FROM dedup_parts WHERE p = ?", p);
      this.filters.dropped(p);
      this.parts.delete(p);
      this.bucketBits.delete(p);
      dropped++;
    }
    if (this.merging === null && [...this.active.keys()].some((p) => partitionExpired(p, now))) this.startCycle();
    if (this.merging !== null) this.mergeStep(now);
    const slice = Number(readMeta(this.sql, "sweep_slice") ?? 0) % CLAIM_SWEEP_SLICES;
    writeMeta(this.sql, "sweep_slice", (slice + 1) % CLAIM_SWEEP_SLICES);
    this.sql.exec(SWEEP_CLAIMS, slice - CLAIM_SWEEP_SLICES / 2, now);
    return dropped;
  }

  /** Keys held (expired ones included until their partition is dropped). */
  size(): number {
    let n = this.activeKeys + this.mergingKeys;
    for (const keys of this.parts.values()) n += keys;
    return n;
  }

  /** True while anything is left to expire (the shard keeps its alarm for it). */
  holdsKeys(): boolean {
    return this.size() > 0 || this.merging !== null || this.sql.exec("SELECT 1 FROM claims LIMIT 1").toArray().length > 0;
  }

  stats(): DedupStats {
    return { partitions: this.parts.size, logKeys: this.activeKeys, mergingKeys: this.mergingKeys, filterBytes: this.filters.loadedBytes, probed: this.probed };
  }

  /**
   * Rebuilds partition `p`'s key count and filter blocks from its table, a B-tree of one row per key
   * (the legacy migration, and tools that load a partition's table directly). Reads every key of the partition.
   */
  adoptPartition(p: number): void {
    const table = partitionTable(p);
    const keys = Number(this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n);
    this.sql.exec("INSERT INTO dedup_parts (p, keys, bits) VALUES (?, ?, NULL) ON CONFLICT (p) DO UPDATE SET keys = excluded.keys, bits = NULL", p, keys);
    this.parts.set(p, keys);
    this.bucketBits.delete(p);
    this.filters.created(p);
    for (let j = 0; j < SLICES; j++) this.filters.save(p, j, this.filters.build(p, j));
  }

  private inLevel0(hi: number, lo: number): boolean {
    const j = sliceOf(hi);
    for (const sets of this.active.values()) if (sets[j].has(hi, lo)) return true;
    if (this.merging) for (const sets of this.merging.values()) if (sets[j].has(hi, lo)) return true;
    return false;
  }

  /**
   * The candidates (indexes into his/los) found in a partition: filter first, then the partition's
   * table for the filter's positives. Returns a flag per index (1: seen), or null when none was.
   */
  private findInPartitions(his: Int32Array, los: Uint32Array, candidates: number[]): Uint8Array | null {
    const parts = [...this.parts.keys()];
    const blocks = parts.map((p) => this.filters.loaded(p));
    const probes = parts.map((): number[] => []);
    for (const i of candidates) {
      const hi = his[i];
      const lo = los[i];
      const j = sliceOf(hi);
      for (let pi = 0; pi < parts.length; pi++) {
        const slot = blocks[pi][j];
        const f = slot === undefined ? this.filters.forLookup(parts[pi], j) : slot;
        if (f === null || (f !== UNKNOWN && !f.mightContain(hi, lo))) continue;
        probes[pi].push(i);
      }
    }
    let seen: Uint8Array | null = null;
    for (let pi = 0; pi < parts.length; pi++) {
      const [p, list] = [parts[pi], probes[pi]];
      if (list.length === 0) continue;
      this.probed += list.length;
      seen ??= new Uint8Array(his.length);
      const bits = this.bucketBits.get(p);
      if (bits !== undefined) {
        this.findInBuckets(p, bits, his, los, list, seen);
        continue;
      }
      const byHex = new Map(list.map((i) => [keyHex(his[i], los[i]), i]));
      const q = `SELECT printf('0x%016x', value) FROM json_each(?) WHERE EXISTS (SELECT 1 FROM ${partitionTable(p)} WHERE k = value)`;
      for (const [k] of this.sql.exec(q, "[" + [...byHex.keys()].join(",") + "]").raw()) {
        const i = byHex.get(String(k));
        if (i !== undefined) seen[i] = 1;
      }
    }
    return seen;
  }

  /** Flags in `seen` the keys of `list` that partition `p` holds in its buckets: one read of each bucket involved. */
  private findInBuckets(p: number, bits: number, his: Int32Array, los: Uint32Array, list: number[], seen: Uint8Array): void {
    const byBucket = new Map<number, number[]>();
    for (const i of list) {
      const b = bucketOf(his[i], bits);
      const ks = byBucket.get(b);
      if (ks) ks.push(i);
      else byBucket.set(b, [i]);
    }
    const q = `SELECT b, keys FROM ${partitionTable(p)} WHERE b IN (SELECT value FROM json_each(?))`;
    for (const [b, keys] of this.sql.exec(q, JSON.stringify([...byBucket.keys()])).raw()) {
      for (const i of byBucket.get(Number(b)) ?? []) if (bucketHas(keys as ArrayBuffer, his[i], los[i])) seen[i] = 1;
    }
  }

  private mergeTrigger(): number {
    const newest = Math.max(0, ...this.parts.keys());
    return Math.min(MAX_LOG_KEYS, Math.max(MERGE_AT, (this.parts.get(newest) ?? 0) / MERGE_RATIO));
  }

  /**
   * Merge work keeps pace with ingest: `added` new keys pay for added × 16 / trigger steps, so a cycle
   * (16 steps) ends before the next log reaches the trigger.
   */
  private keepMerging(added: number, now: number): void {
    const trigger = this.mergeTrigger();
    if (this.merging === null) {
      if (this.activeKeys < trigger) return;
      this.startCycle();
    }
    let steps = this.activeKeys >= 2 * trigger ? SLICES : Math.max(1, Math.ceil((added * SLICES) / trigger));
    while (steps-- > 0 && this.merging !== null) this.mergeStep(now);
  }

  /** Level 0's log becomes the one being merged; new keys go to a fresh log. */
  private startCycle(): void {
    this.sql.exec("ALTER TABLE dedup_log RENAME TO dedup_merging");
    this.sql.exec(CREATE_LOG);
    writeMeta(this.sql, MERGE_SLICE, 0);
    this.merging = this.active;
    this.mergingKeys = this.activeKeys;
    this.active = new Map();
    this.activeKeys = 0;
  }

  /** Merges the next key slice of every partition in `dedup_merging`; drops it after the last slice. */
  private mergeStep(now: number): void {
    const j = Number(readMeta(this.sql, MERGE_SLICE) ?? 0);
    for (const [p, sets] of this.merging!) {
      const keys = sets[j];
      if (keys.size === 0) continue;
      this.mergingKeys -= keys.size;
      if (!partitionExpired(p, now)) this.mergeInto(p, j, keys.halves());
      sets[j] = new KeySet();
    }
    if (j + 1 < SLICES) {
      writeMeta(this.sql, MERGE_SLICE, j + 1);
      return;
    }
    this.sql.exec("DROP TABLE dedup_merging");
    this.sql.exec("DELETE FROM meta WHERE key = ?", MERGE_SLICE);
    this.merging = null;
    this.mergingKeys = 0;
  }

  /**
   * Adds keys of slice `j` (new to partition `p`: dedup() looked for them there) to the partition's
   * buckets (or, in a B-tree partition, inserts them in key order), and to its filter block.
   */
  private mergeInto(p: number, j: number, { his, los }: KeyHalves): void {
    const table = partitionTable(p);
    if (!this.parts.has(p)) {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS ${table} (b INTEGER PRIMARY KEY, keys BLOB NOT NULL)`);
      this.sql.exec("INSERT INTO dedup_parts (p, keys, bits) VALUES (?, 0, ?) ON CONFLICT (p) DO NOTHING", p, BUCKET_BITS);
      this.parts.set(p, 0);
      this.bucketBits.set(p, BUCKET_BITS);
      this.filters.created(p);
    }
    const bits = this.bucketBits.get(p);
    let added: number;
    if (bits !== undefined) {
      const { blob, runs } = packHalves(his, los, bits);
      this.sql.exec(APPEND_BUCKETS(table), JSON.stringify(runs), blob);
      added = his.length;
    } else {
      added = this.sql.exec(`INSERT INTO ${table} (k) SELECT value FROM json_each(?) WHERE true ORDER BY value ON CONFLICT DO NOTHING`, keyListJson(his, los)).rowsWritten;
    }
    const held = (this.parts.get(p) ?? 0) + added;
    this.parts.set(p, held);
    this.sql.exec("UPDATE dedup_parts SET keys = ? WHERE p = ?", held, p);
    // a new block is sized for what the biggest partition holds per slice (traffic is similar hour to hour)
    const expect = Math.max(held, ...this.parts.values()) / SLICES;
    const bloom = this.filters.forUpdate(p, j, expect);
    for (let i = 0; i < his.length; i++) bloom.add(his[i], los[i]);
    this.filters.save(p, j, bloom);
  }

  /** Loads a log table into `level`, skipping slices below `fromSlice` (already merged). */
  private loadLevel(table: string, level: Level, fromSlice: number): number {
    let n = 0;
    const span = this.spanMs;
    for (const [exp, keys] of this.sql.exec(`SELECT exp, keys FROM ${table}`).raw()) {
      const p = partitionOf(Number(exp), span);
      const { his, los } = parseKeyList(String(keys));
      for (let i = 0; i < his.length; i++) {
        if (sliceOf(his[i]) < fromSlice) continue;
        if (add(level, p, his[i], los[i])) n++;
      }
    }
    return n;
  }

  /**
   * Migration from the single `dedup` B-tree (ClickShard schema v1–v4): its keys go into partitions
   * by expiry (one pass per partition, in key order), each partition's filter is built once, and the
   * table is dropped. `dedup_log` (level 0) keeps its role. Runs once, when the object first starts
   * after the upgrade; its cost is proportional to the keys held (documented in docs/clicks-pipeline.md).
   */
  private carryLegacy(): void {
    const ps = new Set<number>();
    for (const [exp] of this.sql.exec(`SELECT DISTINCT exp / ${this.spanMs} FROM dedup`).raw()) ps.add(partitionOf(Number(exp) * this.spanMs, this.spanMs));
    for (const p of ps) {
      const table = partitionTable(p);
      this.sql.exec(`CREATE TABLE IF NOT EXISTS ${table} (k INTEGER PRIMARY KEY)`);
      const end = p * 1000;
      this.sql.exec(`INSERT INTO ${table} (k) SELECT k FROM dedup WHERE exp >= ? AND exp < ? ORDER BY k ON CONFLICT DO NOTHING`, end - this.spanMs, end);
      this.adoptPartition(p);
    }
    this.sql.exec("DROP TABLE dedup");
    this.sql.exec("DELETE FROM meta WHERE key IN ('dedup_legacy', 'dedup_keys')");
  }
}

/** Adds a key to partition `p` of a level; false when it was there. */
function add(level: Level, p: number, hi: number, lo: number): boolean {
  let sets = level.get(p);
  // sized for a slice's share of the smallest merge trigger: a level's sets fill up to it at least
  if (!sets) level.set(p, (sets = Array.from({ length: SLICES }, () => new KeySet(MERGE_AT / SLICES))));
  return sets[sliceOf(hi)].add(hi, lo);
}
