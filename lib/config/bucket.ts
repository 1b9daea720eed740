import { cyrb53 } from "../cyrb";

/**
 * Sticky, monotone cohorts. A client's bucket is a pure function of (namespace, rollout, client), so
 * it never changes during a rollout; a client is on the candidate iff bucket < percent × 100, so
 * raising the percent only ever adds clients.
 */
export const BUCKETS = 10_000;

// cyrb53 is synchronous, so the edge read path stays cheap; cryptographic strength is not needed:
// clients gain nothing by choosing their id.

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
