import { IN_SLICE, partitionTable, sliceSigned, SLICES } from "../../lib/clicks/dedup-keys";
import { KeyBloom } from "../../lib/clicks/key-bloom";

/**
 * Filters in memory at most (all partitions' blocks together). Past it, the least recently used
 * blocks are dropped from memory (they stay stored) and a block that does not fit is not loaded: its
 * keys are looked up in the partition's B-tree instead. docs/production.md §4 sizes shards below it.
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
  private readonly used = new Map<number, number[]>();
  private bytes = 0;
  private clock = 0;

  constructor(private readonly sql: SqlStorage) {}

  /** Forgets everything in memory (after a rollback, or when the object reloads). */
  clear(): void {
    this.slots.clear();
    this.used.clear();
    this.bytes = 0;
  }

  /** A new, empty partition: all its blocks are known to be empty, nothing to load. */
  created(p: number): void {
    this.slots.set(p, new Array<Slot>(SLICES).fill(null));
    this.used.set(p, new Array<number>(SLICES).fill(0));
  }

  dropped(p: number): void {
    for (const b of this.slots.get(p) ?? []) if (b) this.bytes -= b.byteLength;
    this.slots.delete(p);
    this.used.delete(p);
    this.sql.exec("DELETE FROM dedup_blooms WHERE p = ?", p);
  }

  /** Starts a lookup round: blocks used in it are not evicted during it. */
  round(): void {
    this.clock++;
  }

  /** The filter of partition `p`, slice `j` for a lookup: null when the slice is empty. */
  forLookup(p: number, j: number): KeyBloom | null | typeof UNKNOWN {
    const slot = this.slot(p, j);
    const used = this.used.get(p);
    if (used) used[j] = this.clock;
    if (slot !== undefined) return slot;
    const row = this.read(p, j);
    if (row === null) return this.keep(p, j, null);
    if (!this.makeRoom(row.bits.byteLength)) return UNKNOWN;
    return this.keep(p, j, KeyBloom.fromBytes(row.bits, row.keys));
  }

  /** The filter of (p, j) to add keys to (loaded whatever the budget: a merge step must update it). */
  forUpdate(p: number, j: number, expectKeys: number): KeyBloom {
    let slot = this.slot(p, j);
    if (slot === undefined) {
      const row = this.read(p, j);
      slot = row === null ? null : KeyBloom.fromBytes(row.bits, row.keys);
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
    if (!slots) {
      this.slots.set(p, (slots = new Array<Slot>(SLICES).fill(undefined)));
      this.used.set(p, new Array<number>(SLICES).fill(0));
    }
    slots[j] = bloom;
    this.used.get(p)![j] = this.clock;
    if (bloom) this.bytes += bloom.byteLength;
    return bloom;
  }

  private replace(p: number, j: number, bloom: KeyBloom): KeyBloom {
    const old = this.slot(p, j);
    if (old) this.bytes -= old.byteLength;
    return this.keep(p, j, bloom);
  }

  /** Evicts least recently used blocks (not used in this round) until `need` more bytes fit. */
  private makeRoom(need: number): boolean {
    while (this.bytes + need > MAX_FILTER_BYTES) {
      let victimP = -1;
      let victimJ = -1;
      let oldest = this.clock;
      for (const [p, slots] of this.slots) {
        const used = this.used.get(p)!;
        for (let j = 0; j < SLICES; j++) {
          if (slots[j] && used[j] < oldest) [oldest, victimP, victimJ] = [used[j], p, j];
        }
      }
      if (victimP < 0) return false;
      this.bytes -= this.slots.get(victimP)![victimJ]!.byteLength;
      this.slots.get(victimP)![victimJ] = undefined;
    }
    return true;
  }
}
