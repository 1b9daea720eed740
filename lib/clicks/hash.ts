import { cyrbMix } from "../cyrb";

/**
 * A 64-bit hash of a click_id as two 32-bit halves (cyrb53's mixing, both halves kept). The shard's
 * durable dedup key is the 64-bit integer `hi:lo`, a SQLite INTEGER PRIMARY KEY; it travels as a JSON5
 * hex literal (see keyHex), which SQLite's json_each reads as that exact integer, so JavaScript never
 * needs BigInt.
 */
export function clickKey(clickId: string): [hi: number, lo: number] {
  const [h1, h2] = cyrbMix(clickId);
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

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function hex32(x: number): string {
  return HEX_BYTE[(x >>> 24) & 255] + HEX_BYTE[(x >>> 16) & 255] + HEX_BYTE[(x >>> 8) & 255] + HEX_BYTE[x & 255];
}

/**
 * The key as a JSON5 hexadecimal integer literal of 16 digits, e.g. `0x00ab…`; it equals SQLite's
 * `printf('0x%016x', k)` of the stored key (negative keys print as their 64-bit two's complement).
 * Table-driven: Number#toString(16) is several times slower and this runs once per click.
 */
export function keyHex(hi: number, lo: number): string {
  return "0x" + hex32(hi) + hex32(lo);
}

const HEX_DIGIT = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const ascii = new TextDecoder();

/**
 * `[k0,k1,…]` with each key as keyHex writes it (what a ClickShard's dedup takes), written into one
 * buffer: building it key by key made about ten short-lived strings per click.
 */
export function keyListJson(his: ArrayLike<number>, los: ArrayLike<number>): string {
  const n = his.length;
  if (n === 0) return "[]";
  const out = new Uint8Array(n * 19 + 1);
  out[0] = 91; // [
  let at = 1;
  for (let i = 0; i < n; i++) {
    out[at] = 48; // 0
    out[at + 1] = 120; // x
    const hi = his[i];
    const lo = los[i];
    for (let d = 0; d < 8; d++) {
      out[at + 2 + d] = HEX_DIGIT[(hi >>> (28 - 4 * d)) & 15];
      out[at + 10 + d] = HEX_DIGIT[(lo >>> (28 - 4 * d)) & 15];
    }
    out[at + 18] = i === n - 1 ? 93 : 44; // ] or ,
    at += 19;
  }
  return ascii.decode(out);
}
