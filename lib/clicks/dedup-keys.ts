/**
 * Pure helpers of the shard's dedup index (durable-objects/clicks/dedup-index.ts): keys in keyHex form
 * (`0x` + 16 lowercase hex digits, as SQLite's `printf('0x%016x', k)` prints them), partitions by
 * expiry time, and key slices (the top 4 bits of the key, which the shard choice does not use: it
 * takes the top bits of the low half).
 */

/**
 * A partition holds the keys whose expiry falls in one span of time: a 24th of the dedup horizon in
 * whole seconds, at most an hour (the default 24 h 5 min horizon gives hour partitions). A key is then
 * remembered for at least the horizon and at most a span longer, and about 25 partitions are live.
 */
export const MAX_PARTITION_MS = 3_600_000;
export function partitionSpanMs(horizonMs: number): number {
  return Math.min(MAX_PARTITION_MS, Math.max(1000, Math.floor(horizonMs / 24 / 1000) * 1000));
}

/** Each partition's Bloom filter is kept in 16 blocks, one per key slice, and merges go slice by slice. */
export const SLICES = 16;

/**
 * The partition of a key expiring at `exp` (epoch ms), named by its end in epoch seconds (the first
 * moment at which all its keys have expired), so partitions of different spans (the horizon changed)
 * never mix.
 */
export function partitionOf(exp: number, spanMs: number): number {
  return ((Math.floor(exp / spanMs) + 1) * spanMs) / 1000;
}

/** True once every key of partition `p` has expired. */
export function partitionExpired(p: number, now: number): boolean {
  return p * 1000 <= now;
}

/** A partition's table: `p` is checked because it is part of the SQL text. */
export function partitionTable(p: number): string {
  if (!Number.isSafeInteger(p) || p < 0) throw new Error(`bad dedup partition ${p}`);
  return `dedup_p${p}`;
}

/** Partition `p`'s filter links after the first (durable-objects/clicks/dedup-filters.ts), dropped with it. */
export function linksTable(p: number): string {
  return `dedup_links_${partitionTable(p).slice("dedup_".length)}`;
}

/** The partition of a links table's name, or null for any other name. */
export function partitionOfLinksTable(name: string): number | null {
  const m = /^dedup_links_p(\d+)$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** The slice (0–15) of a keyHex key: its first hex digit. */
export function sliceOfKey(hex: string): number {
  const c = hex.charCodeAt(2);
  return c <= 57 ? c - 48 : c - 87;
}

/** The slice of a key given by its high half (as lib/clicks/key-set.ts holds it): its top 4 bits, as sliceOfKey. */
export function sliceOfHalf(hi: number): number {
  return hi >>> 28;
}

/**
 * The slice's first key as SQLite's signed 64-bit integer is `sliceSigned << 60`, its last that value
 * with the 60 low bits set (slices 8–15 are the negative keys).
 */
export function sliceSigned(slice: number): number {
  return slice < 8 ? slice : slice - 16;
}

/** `k` within slice ?1 (given as sliceSigned). */
export const IN_SLICE = "k BETWEEN (?1 << 60) AND ((?1 << 60) | 1152921504606846975)";

/** The keys of a `[0x…,…]` list. */
export function splitKeys(keysJson: string): string[] {
  return keysJson.length > 2 ? keysJson.slice(1, -1).split(",") : [];
}
