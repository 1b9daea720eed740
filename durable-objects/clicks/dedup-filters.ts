import { IN_SLICE, linksTable, partitionOfLinksTable, partitionTable, sliceSigned, SLICES } from "../../lib/clicks/dedup-keys";
import { BloomChain, KeyBloom, linkBitsPerKey } from "../../lib/clicks/key-bloom";

/**
 * Filters in memory at most (all partitions' blocks together, plus the one block a merge step is
 * updating). Past it, the oldest partitions' blocks leave memory (they stay stored) and are not
 * loaded again: their keys are looked up in the partition's B-tree instead — correct, but a B-tree read
 * per key per such partition. Every lookup probes every partition, so recency of use says nothing;
 * the oldest partition is the next to expire. docs/production.md §4 sizes shards to stay below it.
 */
export const MAX_FILTER_BYTES = 48 * 2 ** 20;
/** Headroom when a block is sized, and the smallest block (in keys). */
const GROWTH = 1.5;
const MIN_BLOCK_KEYS = 1024;

/** A block not in memory and too big for the budget: probe the B-tree. */
export const UNKNOWN = "unknown";
type Slot = BloomChain | null | undefined; // null: the slice holds no keys; undefined: not loaded

/**
 * The Bloom filters of the dedup partitions: one per (partition, key slice), a chain of links (lib/
 * clicks/key-bloom.ts BloomChain: a full block grows by a new link, never by re-reading its keys),
 * stored as rows — link 0 in `dedup_blooms`, later links in the partition's own `dedup_links_p<end>`
 * (dropped whole with the partition, so expiry stays one DROP whatever the filters grew to) — in the
 * same transaction as the keys they summarize, loaded lazily on first use; a merge step rewrites only
 * the links it changed.
 */
export class DedupFilters {
  private readonly slots = new Map<number, Slot[]>();
  /** Partitions whose blocks did not fit: probed in their B-tree (until a partition is dropped). */
  private readonly unloadable = new Set<number>();
  private bytes = 0;
  /** The bytes each chain in memory was counted at (a chain grows in place when a link is added). */
  private readonly counted = new WeakMap<BloomChain, number>();
  /** Partitions that have a links table (read from the schema by clear(), so a rollback cannot fool it). */
  private readonly withLinks = new Set<number>();

  constructor(
    private readonly sql: SqlStorage,
    private readonly budget = MAX_FILTER_BYTES,
  ) {}

  /** Forgets everything in memory (after a rollback, or when the object reloads). */
  clear(): void {
    this.slots.clear();
    this.unloadable.clear();
    this.bytes = 0;
    this.withLinks.clear();
    for (const [name] of this.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dedup_links_p%'").raw()) {
      const p = partitionOfLinksTable(String(name));
      if (p !== null) this.withLinks.add(p);
    }
  }

  /** A new, empty partition: all its blocks are known to be empty, nothing to load; its links table. */
  created(p: number): void {
    this.slots.set(p, new Array<Slot>(SLICES).fill(null));
    this.ensureLinksTable(p);
  }

  dropped(p: number): void {
    for (const b of this.slots.get(p) ?? []) if (b) this.bytes -= this.counted.get(b) ?? 0;
    this.slots.delete(p);
    this.unloadable.clear(); // memory freed: the others may fit now
    this.sql.exec("DELETE FROM dedup_blooms WHERE p = ?", p);
    this.sql.exec(`DROP TABLE IF EXISTS ${linksTable(p)}`);
    this.withLinks.delete(p);
  }

  /**
   * The blocks of partition `p` as they are in memory (undefined: not loaded; null: empty slice), for a
   * lookup loop; call forLookup for a slot that is undefined.
   */
  loaded(p: number): readonly Slot[] {
    let slots = this.slots.get(p);
    if (!slots) this.slots.set(p, (slots = new Array<Slot>(SLICES).fill(undefined)));
    return slots;
  }

  /** The filter of partition `p`, slice `j` for a lookup (loaded if it fits): null when the slice is empty. */
  forLookup(p: number, j: number): BloomChain | null | typeof UNKNOWN {
    const slot = this.slot(p, j);
    if (slot !== undefined) return slot;
    if (this.unloadable.has(p)) return UNKNOWN;
    const chain = this.read(p, j);
    if (chain === null) return this.keep(p, j, null);
    if (!this.makeRoom(chain.byteLength, p)) {
      this.unloadable.add(p); // not read again until memory frees up (a partition dropped)
      return UNKNOWN;
    }
    return this.keep(p, j, chain);
  }

  /** The filter of (p, j) to add keys to (loaded whatever the budget: a merge step must update it). */
  forUpdate(p: number, j: number, expectKeys: number): BloomChain {
    let slot = this.slot(p, j);
    if (slot === undefined) {
      slot = this.read(p, j);
      this.makeRoom(slot?.byteLength ?? 0, p);
      this.keep(p, j, slot);
    }
    return slot ?? this.replace(p, j, BloomChain.forKeys(Math.max(MIN_BLOCK_KEYS, expectKeys * GROWTH)));
  }

  /** Stores the links of (p, j) that changed since they were last stored. */
  save(p: number, j: number, chain: BloomChain): void {
    for (const i of chain.dirty) {
      const link = chain.links[i];
      if (i === 0) {
        this.sql.exec(
          "INSERT INTO dedup_blooms (p, slice, keys, bits) VALUES (?, ?, ?, ?) ON CONFLICT (p, slice) DO UPDATE SET keys = excluded.keys, bits = excluded.bits",
          p,
          j,
          link.added,
          link.bytes(),
        );
      } else {
        this.ensureLinksTable(p); // a partition made before links existed has none yet
        this.sql.exec(
          `INSERT INTO ${linksTable(p)} (slice, link, keys, bits) VALUES (?, ?, ?, ?) ON CONFLICT (slice, link) DO UPDATE SET keys = excluded.keys, bits = excluded.bits`,
          j,
          i,
          link.added,
          link.bytes(),
        );
      }
    }
    chain.dirty.clear();
    const before = this.counted.get(chain);
    if (before !== undefined && before !== chain.byteLength) {
      this.bytes += chain.byteLength - before;
      this.counted.set(chain, chain.byteLength);
    }
  }

  /**
   * Builds (p, j) as one link from the keys in the partition's slice (an index range scan of that slice
   * only), sized with headroom: for a partition whose table was filled directly (the legacy migration,
   * tools). Ingest never calls it: a full block grows by a link.
   */
  build(p: number, j: number): BloomChain {
    const table = partitionTable(p);
    const n = Number(this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${IN_SLICE}`, sliceSigned(j)).one().n);
    const chain = BloomChain.forKeys(Math.max(MIN_BLOCK_KEYS, n * GROWTH));
    for (const [hi, lo] of this.sql.exec(`SELECT k >> 32, k & 4294967295 FROM ${table} WHERE ${IN_SLICE}`, sliceSigned(j)).raw()) {
      chain.add(Number(hi), Number(lo));
    }
    if (this.withLinks.has(p)) this.sql.exec(`DELETE FROM ${linksTable(p)} WHERE slice = ?`, j);
    return this.replace(p, j, chain);
  }

  /** Bytes of filters in memory now. */
  get loadedBytes(): number {
    return this.bytes;
  }

  private ensureLinksTable(p: number): void {
    if (this.withLinks.has(p)) return;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS ${linksTable(p)} (slice INTEGER NOT NULL, link INTEGER NOT NULL, keys INTEGER NOT NULL, bits BLOB NOT NULL, PRIMARY KEY (slice, link)) WITHOUT ROWID`);
    this.withLinks.add(p);
  }

  private slot(p: number, j: number): Slot {
    return this.slots.get(p)?.[j];
  }

  /** The stored chain of (p, j): link 0 and any later links; null when the slice holds no keys. */
  private read(p: number, j: number): BloomChain | null {
    const first = this.sql.exec<{ keys: number; bits: ArrayBuffer }>("SELECT keys, bits FROM dedup_blooms WHERE p = ? AND slice = ?", p, j).toArray()[0];
    if (!first) return null;
    const links = [KeyBloom.fromBytes(first.bits, first.keys, linkBitsPerKey(0))];
    if (this.withLinks.has(p)) {
      const rows = this.sql.exec<{ link: number; keys: number; bits: ArrayBuffer }>(`SELECT link, keys, bits FROM ${linksTable(p)} WHERE slice = ? ORDER BY link`, j).toArray();
      // every stored link counts (a key may be in any): skipping one would make its keys look new
      for (const r of rows) links.push(KeyBloom.fromBytes(r.bits, r.keys, linkBitsPerKey(r.link)));
    }
    return new BloomChain(links);
  }

  private keep<T extends BloomChain | null>(p: number, j: number, chain: T): T {
    let slots = this.slots.get(p);
    if (!slots) this.slots.set(p, (slots = new Array<Slot>(SLICES).fill(undefined)));
    slots[j] = chain;
    if (chain) {
      this.bytes += chain.byteLength;
      this.counted.set(chain, chain.byteLength);
    }
    return chain;
  }

  private replace(p: number, j: number, chain: BloomChain): BloomChain {
    const old = this.slot(p, j);
    if (old) this.bytes -= this.counted.get(old) ?? 0;
    return this.keep(p, j, chain);
  }

  /** Evicts blocks of partitions older than `p`, oldest first, until `need` more bytes fit. */
  private makeRoom(need: number, p: number): boolean {
    while (this.bytes + need > this.budget) {
      let victim = -1;
      for (const [q, slots] of this.slots) if (q < p && (victim < 0 || q < victim) && slots.some((b) => b)) victim = q;
      if (victim < 0) return false;
      const slots = this.slots.get(victim)!;
      const j = slots.findIndex((b) => b);
      this.bytes -= this.counted.get(slots[j]!) ?? 0;
      slots[j] = undefined;
      this.unloadable.add(victim);
    }
    return true;
  }
}
