import { IN_SLICE, partitionTable, sliceSigned, SLICES } from "../../lib/clicks/dedup-keys";
import { KeyBloom } from "../../lib/clicks/key-bloom";

/**
 * Filters in memory at most (all partitions' blocks together, plus the one block a merge step is
 * updating). Past it, the oldest partitions' blocks leave memory (they stay stored) and are not
 * loaded again: their keys are looked up in the partition's B-tree instead — correct, but a B-tree read
 * per key per such partition. Every lookup probes every partition, so recency of use says nothing;
 * the oldest partition is the next to expire. docs/production.md §4 sizes shards to stay below it.
 */
export const MAX_FILTER_BYTES = 48 * 2 ** 20;
/** One block is one row; DO SQLite rows are at most 2 MB. 1 MiB holds ≈ 840 000 keys at 1 %. */
export const MAX_BLOCK_BYTES = 2 ** 20;
/** Headroom when a block is sized, and the smallest block (in keys). */
const GROWTH = 1.5;
const MIN_BLOCK_KEYS = 1024;

/** A block not in memory and too big for the budget: probe the B-tree. */
export const UNKNOWN = "unknown";
type Slot = KeyBloom | null | undefined; // null: the slice holds no keys; undefined: not loaded

/**
 * The Bloom filters of the dedup partitions: one per (partition, key slice), stored as a row of
 * `dedup_blooms` in the same transaction as the keys it summarizes, loaded lazily on first use, and
 * rewritten only for the slice a merge step touched.
 */
export class DedupFilters {
  private readonly slots = new Map<number, Slot[]>();
  /** Partitions whose blocks did not fit: probed in their B-tree (until a partition is dropped). */
  private readonly unloadable = new Set<number>();
  private bytes = 0;

  constructor(
    private readonly sql: SqlStorage,
    private readonly budget = MAX_FILTER_BYTES,
  ) {}

  /** Forgets everything in memory (after a rollback, or when the object reloads). */
  clear(): void {
    this.slots.clear();
    this.unloadable.clear();
    this.bytes = 0;
  }

  /** A new, empty partition: all its blocks are known to be empty, nothing to load. */
  created(p: number): void {
    this.slots.set(p, new Array<Slot>(SLICES).fill(null));
  }

  dropped(p: number): void {
    for (const b of this.slots.get(p) ?? []) if (b) this.bytes -= b.byteLength;
    this.slots.delete(p);
    this.unloadable.clear(); // memory freed: the others may fit now
    this.sql.exec("DELETE FROM dedup_blooms WHERE p = ?", p);
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
  forLookup(p: number, j: number): KeyBloom | null | typeof UNKNOWN {
    const slot = this.slot(p, j);
    if (slot !== undefined) return slot;
    if (this.unloadable.has(p)) return UNKNOWN;
    const row = this.read(p, j);
    if (row === null) return this.keep(p, j, null);
    if (!this.makeRoom(row.bits.byteLength, p)) {
      this.unloadable.add(p); // not read again until memory frees up (a partition dropped)
      return UNKNOWN;
    }
    return this.keep(p, j, KeyBloom.fromBytes(row.bits, row.keys));
  }

  /** The filter of (p, j) to add keys to (loaded whatever the budget: a merge step must update it). */
  forUpdate(p: number, j: number, expectKeys: number): KeyBloom {
    let slot = this.slot(p, j);
    if (slot === undefined) {
      const row = this.read(p, j);
      slot = row === null ? null : KeyBloom.fromBytes(row.bits, row.keys);
      this.makeRoom(row?.bits.byteLength ?? 0, p);
      this.keep(p, j, slot);
    }
    return slot ?? this.replace(p, j, KeyBloom.forKeys(Math.max(MIN_BLOCK_KEYS, expectKeys * GROWTH)));
  }

  /** Stores (p, j) after keys were added, first rebuilding it larger from the partition if it is full. */
  save(p: number, j: number, bloom: KeyBloom): void {
    if (bloom.added > bloom.capacity && bloom.byteLength < MAX_BLOCK_BYTES) bloom = this.rebuild(p, j);
    this.sql.exec(
      "INSERT INTO dedup_blooms (p, slice, keys, bits) VALUES (?, ?, ?, ?) ON CONFLICT (p, slice) DO UPDATE SET keys = excluded.keys, bits = excluded.bits",
      p,
      j,
      bloom.added,
      bloom.bytes(),
    );
  }

  /**
   * Builds (p, j) from the keys in the partition's slice (an index range scan of that slice only),
   * sized with headroom. Growing by GROWTH each time keeps the rebuilds' total work a constant per key.
   */
  rebuild(p: number, j: number): KeyBloom {
    const table = partitionTable(p);
    const n = Number(this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${IN_SLICE}`, sliceSigned(j)).one().n);
    const bloom = KeyBloom.forKeys(Math.min(Math.max(MIN_BLOCK_KEYS, n * GROWTH), (MAX_BLOCK_BYTES * 8) / 10));
    for (const [hi, lo] of this.sql.exec(`SELECT k >> 32, k & 4294967295 FROM ${table} WHERE ${IN_SLICE}`, sliceSigned(j)).raw()) {
      bloom.add(Number(hi), Number(lo));
    }
    return this.replace(p, j, bloom);
  }

  /** Bytes of filters in memory now. */
  get loadedBytes(): number {
    return this.bytes;
  }

  private slot(p: number, j: number): Slot {
    return this.slots.get(p)?.[j];
  }

  private read(p: number, j: number): { keys: number; bits: ArrayBuffer } | null {
    const row = this.sql.exec<{ keys: number; bits: ArrayBuffer }>("SELECT keys, bits FROM dedup_blooms WHERE p = ? AND slice = ?", p, j).toArray()[0];
    return row ?? null;
  }

  private keep<T extends KeyBloom | null>(p: number, j: number, bloom: T): T {
    let slots = this.slots.get(p);
    if (!slots) this.slots.set(p, (slots = new Array<Slot>(SLICES).fill(undefined)));
    slots[j] = bloom;
    if (bloom) this.bytes += bloom.byteLength;
    return bloom;
  }

  private replace(p: number, j: number, bloom: KeyBloom): KeyBloom {
    const old = this.slot(p, j);
    if (old) this.bytes -= old.byteLength;
    return this.keep(p, j, bloom);
  }

  /** Evicts blocks of partitions older than `p`, oldest first, until `need` more bytes fit. */
  private makeRoom(need: number, p: number): boolean {
    while (this.bytes + need > this.budget) {
      let victim = -1;
      for (const [q, slots] of this.slots) if (q < p && (victim < 0 || q < victim) && slots.some((b) => b)) victim = q;
      if (victim < 0) return false;
      const slots = this.slots.get(victim)!;
      const j = slots.findIndex((b) => b);
      this.bytes -= slots[j]!.byteLength;
      slots[j] = undefined;
      this.unloadable.add(victim);
    }
    return true;
  }
}
