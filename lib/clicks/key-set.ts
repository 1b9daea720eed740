/**
 * Dedup keys as numbers: a 64-bit key (lib/clicks/hash.ts clickKey) is held as its halves, `hi` (int32)
 * and `lo` (uint32), in typed arrays. The shard's level 0 (durable-objects/clicks/dedup-index.ts) keeps
 * tens of thousands of keys per shard; as strings in `Set`s each was an object to hash, allocate and
 * trace at every garbage collection, which cost more of the Worker's thread than the lookups.
 */

/** Keys as parallel arrays of halves. */
export interface KeyHalves {
  his: Int32Array;
  los: Uint32Array;
}

/** Per isolate, drawn on first use (random values cannot be drawn in a Worker's global scope). */
let seed: Uint32Array | null = null;

/**
 * A set of 64-bit keys: open addressing with linear probing, at most half full. The slot of a key mixes
 * both halves with a random per-isolate seed: click_ids come from clients and the key hash is not keyed,
 * so without it a client could pick ids whose keys share a slot and make every probe walk a long run.
 */
export class KeySet {
  private his: Int32Array;
  private los: Uint32Array;
  private used: Uint8Array;
  private shift: number;
  private count = 0;
  private readonly s0: number;
  private readonly s1: number;

  constructor(expected = 8) {
    seed ??= crypto.getRandomValues(new Uint32Array(2));
    this.s0 = seed[0] | 1;
    this.s1 = seed[1] | 1;
    const bits = Math.max(4, Math.ceil(Math.log2(Math.max(1, expected) * 2)));
    this.his = new Int32Array(1 << bits);
    this.los = new Uint32Array(1 << bits);
    this.used = new Uint8Array(1 << bits);
    this.shift = 32 - bits;
  }

  get size(): number {
    return this.count;
  }

  has(hi: number, lo: number): boolean {
    const mask = this.used.length - 1;
    for (let i = this.slot(hi, lo); this.used[i] === 1; i = (i + 1) & mask) {
      if (this.los[i] === lo >>> 0 && this.his[i] === (hi | 0)) return true;
    }
    return false;
  }

  /** Adds a key; false when it was there already. */
  add(hi: number, lo: number): boolean {
    const mask = this.used.length - 1;
    let i = this.slot(hi, lo);
    for (; this.used[i] === 1; i = (i + 1) & mask) {
      if (this.los[i] === lo >>> 0 && this.his[i] === (hi | 0)) return false;
    }
    this.used[i] = 1;
    this.his[i] = hi;
    this.los[i] = lo;
    if (++this.count * 2 > this.used.length) this.grow();
    return true;
  }

  /** Every key, in slot order. */
  halves(): KeyHalves {
    const his = new Int32Array(this.count);
    const los = new Uint32Array(this.count);
    let n = 0;
    for (let i = 0; i < this.used.length; i++) {
      if (this.used[i] !== 1) continue;
      his[n] = this.his[i];
      los[n++] = this.los[i];
    }
    return { his, los };
  }

  private slot(hi: number, lo: number): number {
    return (Math.imul(lo ^ this.s0, 0x9e3779b1) ^ Math.imul(hi ^ this.s1, 0x85ebca6b)) >>> this.shift;
  }

  private grow(): void {
    const { his, los } = this.halves();
    const size = this.used.length * 2;
    this.his = new Int32Array(size);
    this.los = new Uint32Array(size);
    this.used = new Uint8Array(size);
    this.shift--;
    this.count = 0;
    for (let i = 0; i < his.length; i++) this.add(his[i], los[i]);
  }
}

/** Each key of a `[0x…,…]` list in the fixed width keyHex writes: `0x` + 16 hex digits, and a separator. */
const KEY_STRIDE = 19;

/**
 * The keys of a `[0x…,…]` list (keyHex form, as a ClickBuffer builds it and `dedup_log` stores it) as
 * halves, without a string per key. Keys of another width (`0x1f`) take a slower path; anything that is
 * not such a list throws.
 */
export function parseKeyList(json: string): KeyHalves {
  const len = json.length;
  if (len < 2 || json.charCodeAt(0) !== 91 || json.charCodeAt(len - 1) !== 93) throw new TypeError("dedup keys must be a [0x…,…] list");
  const n = len === 2 ? 0 : (len - 1) / KEY_STRIDE;
  if (!Number.isInteger(n)) return parseLoose(json);
  const his = new Int32Array(n);
  const los = new Uint32Array(n);
  for (let i = 0, at = 1; i < n; i++, at += KEY_STRIDE) {
    const hi = hex8(json, at + 2);
    const lo = hex8(json, at + 10);
    const sep = json.charCodeAt(at + 18);
    if (json.charCodeAt(at) !== 48 || (json.charCodeAt(at + 1) | 32) !== 120 || hi < 0 || lo < 0 || sep !== (i === n - 1 ? 93 : 44)) return parseLoose(json);
    his[i] = hi;
    los[i] = lo;
  }
  return { his, los };
}

/** 8 hex digits from `at` as an unsigned number; -1 when one is not a hex digit. */
function hex8(s: string, at: number): number {
  let v = 0;
  for (let k = at; k < at + 8; k++) {
    const c = s.charCodeAt(k);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

const LOOSE_KEY = /^0[xX]([0-9a-fA-F]{1,16})$/;

function parseLoose(json: string): KeyHalves {
  const parts = json.slice(1, -1).trim() === "" ? [] : json.slice(1, -1).split(",");
  const his = new Int32Array(parts.length);
  const los = new Uint32Array(parts.length);
  parts.forEach((part, i) => {
    const m = LOOSE_KEY.exec(part.trim());
    if (!m) throw new TypeError(`dedup key ${JSON.stringify(part.slice(0, 40))} is not a 0x… hexadecimal of at most 16 digits`);
    const digits = m[1].padStart(16, "0");
    his[i] = parseInt(digits.slice(0, 8), 16);
    los[i] = parseInt(digits.slice(8), 16);
  });
  return { his, los };
}
