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

  /**
   * `bits` is rounded up to a multiple of 32 (at least 1024); `words` restores a stored filter;
   * `bitsPerKey` sets its capacity (more bits per key: fewer false positives at capacity).
   */
  constructor(bits: number, words?: Uint32Array, added = 0, readonly bitsPerKey = BITS_PER_KEY) {
    const size = Math.max(MIN_BITS, Math.ceil(bits / 32) * 32);
    this.words = words ?? new Uint32Array(size / 32);
    this.bits = this.words.length * 32;
    this.added = added;
  }

  /** A filter for `keys` keys (at about 1 % false positives with the default 10 bits per key). */
  static forKeys(keys: number, bitsPerKey = BITS_PER_KEY): KeyBloom {
    return new KeyBloom(keys * bitsPerKey, undefined, 0, bitsPerKey);
  }

  /** A stored filter (`bytes()` of one), with its count of added keys. */
  static fromBytes(bytes: ArrayBuffer, added: number, bitsPerKey = BITS_PER_KEY): KeyBloom {
    return new KeyBloom(bytes.byteLength * 8, new Uint32Array(bytes.slice(0)), added, bitsPerKey);
  }

  /** The number of keys this filter holds at its intended false-positive rate. */
  get capacity(): number {
    return Math.floor(this.bits / this.bitsPerKey);
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

/** A link is at most this big (one DO SQLite row holds ≤ 2 MB). */
export const MAX_LINK_BYTES = 2 ** 20;

/**
 * Bits per key of a chain's link `i`: 10, 12, 14, then 16. With 7 probes a link at capacity answers
 * "maybe" for ≈ 0.8 %, 0.3 %, 0.15 %, 0.07 % of absent keys, so a chain of a few links stays ≈ 1.5 %.
 */
export function linkBitsPerKey(i: number): number {
  return Math.min(16, BITS_PER_KEY + 2 * i);
}

/**
 * A Bloom filter that grows without its keys: when its newest link is full, a new link (tighter, sized
 * for twice the keys held so far, at most MAX_LINK_BYTES) takes the next keys; a key may be in any link.
 * Growing costs O(1) per key — nothing is re-read — and the chain stays short (each link ≥ 2× the rest).
 * `dirty` holds the links changed since the owner last stored them.
 */
export class BloomChain {
  readonly dirty = new Set<number>();

  constructor(readonly links: KeyBloom[]) {
    if (links.length === 0) throw new Error("a Bloom chain needs a link");
  }

  /** A one-link chain for `keys` keys. */
  static forKeys(keys: number): BloomChain {
    const chain = new BloomChain([KeyBloom.forKeys(Math.min(keys, linkMaxKeys(0)), linkBitsPerKey(0))]);
    chain.dirty.add(0);
    return chain;
  }

  get added(): number {
    let n = 0;
    for (const l of this.links) n += l.added;
    return n;
  }

  get byteLength(): number {
    let n = 0;
    for (const l of this.links) n += l.byteLength;
    return n;
  }

  add(hi: number, lo: number): void {
    let i = this.links.length - 1;
    if (this.links[i].added >= this.links[i].capacity) {
      i++;
      this.links.push(KeyBloom.forKeys(Math.min(2 * this.added, linkMaxKeys(i)), linkBitsPerKey(i)));
    }
    this.links[i].add(hi, lo);
    this.dirty.add(i);
  }

  mightContain(hi: number, lo: number): boolean {
    for (const l of this.links) if (l.mightContain(hi, lo)) return true;
    return false;
  }
}

function linkMaxKeys(i: number): number {
  return Math.floor((MAX_LINK_BYTES * 8) / linkBitsPerKey(i));
}

/** The halves of a key in keyHex form (`0x` + 16 hex digits). */
export function keyHalves(hex: string): [hi: number, lo: number] {
  return [parseInt(hex.slice(2, 10), 16) | 0, parseInt(hex.slice(10, 18), 16) >>> 0];
}
