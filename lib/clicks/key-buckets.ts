import { keyHalves } from "./key-bloom";

/**
 * A dedup partition's keys in buckets (durable-objects/clicks/dedup-index.ts): one row per bucket, the
 * bucket being a key's top BUCKET_BITS bits, holding its keys as 8-byte big-endian values appended one
 * after another. Durable Object SQLite bills rows written: a merge appends to each bucket it touches in
 * one row write, where a B-tree of one row per key wrote one row per key.
 *
 * 12 bits: at the documented 54 million keys a day per shard a partition (an hour) holds ≈ 2.25 M keys,
 * ≈ 550 per bucket (4.4 KB); a merge step (one key slice, 256 buckets) of 4 096 keys writes ≤ 256 rows.
 * A bucket reaches SQLite's 2 MB per value at 262 144 keys: 1 billion keys in one partition of one shard.
 */
export const BUCKET_BITS = 12;

/** The bucket of a keyHex key (`0x` + 16 hex digits) when a partition uses `bits` (≤ 32) bits. */
export function bucketOfKey(hex: string, bits = BUCKET_BITS): number {
  return parseInt(hex.slice(2, 10), 16) >>> (32 - bits);
}

/** Keys packed by bucket: `blob` holds every key (8 bytes each, bucket by bucket); `runs` is `[bucket, 1-based offset, bytes]` per bucket, as SQL's substr() takes them. */
export interface PackedKeys {
  blob: ArrayBuffer;
  runs: [bucket: number, offset: number, bytes: number][];
}

/** Packs keyHex keys by bucket, buckets in ascending order (a merge appends to each bucket once). */
export function packByBucket(keys: readonly string[], bits = BUCKET_BITS): PackedKeys {
  const buckets = keys.map((k) => bucketOfKey(k, bits));
  const order = keys.map((_, i) => i).sort((a, b) => buckets[a] - buckets[b]);
  const blob = new ArrayBuffer(keys.length * 8);
  const view = new DataView(blob);
  const runs: PackedKeys["runs"] = [];
  order.forEach((i, n) => {
    const [hi, lo] = keyHalves(keys[i]);
    view.setInt32(n * 8, hi);
    view.setUint32(n * 8 + 4, lo);
    const last = runs[runs.length - 1];
    if (last && last[0] === buckets[i]) last[2] += 8;
    else runs.push([buckets[i], n * 8 + 1, 8]);
  });
  return { blob, runs };
}

/** True when a bucket's keys (8-byte big-endian values) hold the key with halves `hi`, `lo` (keyHalves). */
export function bucketHas(bucket: ArrayBuffer, hi: number, lo: number): boolean {
  const view = new DataView(bucket);
  for (let o = 0; o + 8 <= bucket.byteLength; o += 8) {
    if (view.getUint32(o + 4) === lo && view.getInt32(o) === hi) return true;
  }
  return false;
}
