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

/** The bucket of a key — given by its high half, as keyHalves reads it — when a partition uses `bits` (≤ 32) bits: its top bits. */
export function bucketOf(hi: number, bits = BUCKET_BITS): number {
  return hi >>> (32 - bits);
}

/** Keys packed by bucket: `blob` holds every key (8 bytes each, bucket by bucket); `runs` is `[bucket, 1-based offset, bytes]` per bucket, as SQL's substr() takes them. */
export interface PackedKeys {
  blob: ArrayBuffer;
  runs: [bucket: number, offset: number, bytes: number][];
}

/**
 * Packs keys, given as their halves (lib/clicks/key-set.ts parseKeyList), by bucket, buckets in ascending
 * order (a merge appends to each bucket once): a counting sort by bucket (bits ≤ 24), stable, so each
 * bucket's keys keep their given order.
 */
export function packHalves(his: Int32Array, los: Uint32Array, bits = BUCKET_BITS): PackedKeys {
  if (!Number.isInteger(bits) || bits < 1 || bits > 24) throw new RangeError(`bucket bits ${bits} not in 1..24`);
  const n = his.length;
  const shift = 32 - bits;
  const buckets = 1 << bits;
  const start = new Uint32Array(buckets + 1);
  for (let i = 0; i < n; i++) start[(his[i] >>> shift) + 1]++;
  for (let b = 1; b <= buckets; b++) start[b] += start[b - 1];
  const runs: PackedKeys["runs"] = [];
  for (let b = 0; b < buckets; b++) if (start[b + 1] > start[b]) runs.push([b, start[b] * 8 + 1, (start[b + 1] - start[b]) * 8]);
  const blob = new ArrayBuffer(n * 8);
  const view = new DataView(blob);
  for (let i = 0; i < n; i++) {
    const at = start[his[i] >>> shift]++ * 8;
    view.setInt32(at, his[i]);
    view.setUint32(at + 4, los[i]);
  }
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
