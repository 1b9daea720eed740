/**
 * A 64-bit hash of a click_id as two 32-bit halves (cyrb53's mixing, both halves kept). The shard's
 * durable dedup key is `(hi << 32) | lo` as a SQLite INTEGER PRIMARY KEY, so the key is computed in
 * SQL from the halves and JavaScript never needs BigInt.
 */
export function clickKey(clickId: string): [hi: number, lo: number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < clickId.length; i++) {
    const ch = clickId.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 | 0, h2 >>> 0];
}

/** The shard (0..shards-1) that owns a click key: the top bits of the low half, scaled. */
export function shardOfKey(lo: number, shards: number): number {
  return Math.floor((lo / 4294967296) * shards);
}

export function shardOf(clickId: string, shards: number): number {
  return shardOfKey(clickKey(clickId)[1], shards);
}

/** Durable Object names. */
export const shardName = (i: number): string => `shard:${i}`;
