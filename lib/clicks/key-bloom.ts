/**
 * A Bloom filter over 64-bit dedup keys (given as their two 32-bit halves). The keys are already
 * uniformly distributed hashes, so the k probe positions come from double hashing on the halves
 * themselves. With 10 bits per key and 7 probes about 1 % of absent keys test positive.
 * Any size (a multiple of 32 bits): positions are taken modulo the size, so a filter can be sized for
 * the keys it will hold instead of the next power of two; its words serialize as they are (`bytes()`),
 * so it can be stored and loaded without touching the keys.
 */
export const BITS_PER_KEY = 10;
const PROBES = 7;
const MIN_BITS = 1024;

export class KeyBloom {
  readonly words: Uint32Array;
  readonly bits: number;
  /** Keys added since the filter was built (deletions elsewhere do not lower it). */
  added: number;

  /** `bits` is rounded up to a multiple of 32 (at least 1024); `words` restores a stored filter. */
  constructor(bits: number, words?: Uint32Array, added = 0) {
    const size = Math.max(MIN_BITS, Math.ceil(bits / 32) * 32);
    this.words = words ?? new Uint32Array(size / 32);
    this.bits = this.words.length * 32;
    this.added = added;
  }

  /** A filter for `keys` keys at about 1 % false positives. */
  static forKeys(keys: number): KeyBloom {
    return new KeyBloom(keys * BITS_PER_KEY);
  }

  /** A stored filter (`bytes()` of one), with its count of added keys. */
  static fromBytes(bytes: ArrayBuffer, added: number): KeyBloom {
    return new KeyBloom(bytes.byteLength * 8, new Uint32Array(bytes.slice(0)), added);
  }

  /** The number of keys this filter holds at about 1 % false positives. */
  get capacity(): number {
    return Math.floor(this.bits / BITS_PER_KEY);
  }

  get byteLength(): number {
    return this.words.byteLength;
  }

  bytes(): ArrayBuffer {
    return this.words.buffer.slice(this.words.byteOffset, this.words.byteOffset + this.words.byteLength) as ArrayBuffer;
  }

  add(hi: number, lo: number): void {
    const step = hi | 1;
    for (let i = 0; i < PROBES; i++) {
      const b = ((lo + Math.imul(i, step)) >>> 0) % this.bits;
      this.words[b >>> 5] |= 1 << (b & 31);
    }
    this.added++;
  }

  mightContain(hi: number, lo: number): boolean {
    const step = hi | 1;
    for (let i = 0; i < PROBES; i++) {
      const b = ((lo + Math.imul(i, step)) >>> 0) % this.bits;
      if ((this.words[b >>> 5] & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

/** The halves of a key in keyHex form (`0x` + 16 hex digits). */
export function keyHalves(hex: string): [hi: number, lo: number] {
  return [parseInt(hex.slice(2, 10), 16) | 0, parseInt(hex.slice(10, 18), 16) >>> 0];
}
