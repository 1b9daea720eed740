/**
 * Sticky, monotone cohorts. A client's bucket is a pure function of (namespace, rollout, client), so
 * it never changes during a rollout; a client is on the candidate iff bucket < percent × 100, so
 * raising the percent only ever adds clients.
 */
export const BUCKETS = 10_000;

/**
 * cyrb53: a fast, well-distributed 53-bit string hash (synchronous, so the edge read path stays
 * cheap; cryptographic strength is not needed — clients cannot gain anything by choosing their id).
 */
function cyrb53(str: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Integer in [0, 10000). */
export function bucket(namespace: string, rolloutId: string, clientId: string): number {
  return cyrb53(namespace + "\0" + rolloutId + "\0" + clientId) % BUCKETS;
}

/** Percent (0–100, two decimals) → bucket threshold in [0, 10000]. */
export function percentThreshold(percent: number): number {
  return Math.round(percent * 100);
}

export function inCandidate(namespace: string, rolloutId: string, clientId: string, percent: number): boolean {
  return bucket(namespace, rolloutId, clientId) < percentThreshold(percent);
}
