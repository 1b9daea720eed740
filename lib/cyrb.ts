/**
 * cyrb53's mixing (a fast, well-distributed, synchronous string hash), returning both 32-bit state
 * words so callers can take 53 bits (cohort buckets) or all 64 (click dedup keys).
 */
export function cyrbMix(str: string): [h1: number, h2: number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1, h2];
}

/** cyrb53: the 53-bit hash as a safe integer. */
export function cyrb53(str: string): number {
  const [h1, h2] = cyrbMix(str);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
