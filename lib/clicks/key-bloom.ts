/**
 * A Bloom filter over 64-bit dedup keys (given as their two 32-bit halves). The keys are already
 * uniformly distributed hashes, so the k probe positions come from double hashing on the halves
 * themselves. With 10 bits per key and 7 probes about 1 % of absent keys test positive.
 */
export const BITS_PER_KEY = 10;
const PROBES = 7;

export class KeyBloom {
  private readonly words: Uint32Array;
  private readonly mask: number;
  /** Keys added since the filter was built (deletions elsewhere do not lower it). */
  added = 0;

  /** `bits` is rounded up to a power of two (at least 1024). */
  constructor(bits: number) {
    let size = 1024;
    while (size < bits && size < 2 ** 31) size *= 2;
    this.words = new Uint32Array(size / 32);
    this.mask = size - 1;
  }

  get bits(): number {
    return this.mask + 1;
  }

  /** The number of keys this filter holds at about 1 % false positives. */
  get capacity(): number {
    return Math.floor(this.bits / BITS_PER_KEY);
  }

  add(hi: number, lo: number): void {
    const step = hi | 1;
    for (let i = 0; i < PROBES; i++) {
      const b = (lo + Math.imul(i, step)) & this.mask;
      this.words[b >>> 5] |= 1 << (b & 31);
    }
    this.added++;
  }

  mightContain(hi: number, lo: number): boolean {
    const step = hi | 1;
    for (let i = 0; i < PROBES; i++) {
      const b = (lo + Math.imul(i, step)) & this.mask;
      if ((this.words[b >>> 5] & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

/** The halves of a key in keyHex form (`0x` + 16 hex digits). */
export function keyHalves(hex: string): [hi: number, lo: number] {
  return [parseInt(hex.slice(2, 10), 16) | 0, parseInt(hex.slice(10, 18), 16) >>> 0];
}
