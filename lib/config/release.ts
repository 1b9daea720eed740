import { inCandidate } from "./bucket";

/** Per-region release state as served to the edge and shown by GET /release. */
export interface RegionRelease {
  stable: number | null;
  candidate: number | null;
  percent: number;
  rollout_id: string | null;
}

export interface ReleaseState {
  namespace: string;
  generation: number;
  /** The version every region falls back to, and what clients of an unknown region get. */
  stable: number | null;
  regions: Record<string, RegionRelease>;
  updated_at: string;
}

/**
 * Which version a client gets: the region's candidate when the client's bucket is inside the
 * candidate percent, otherwise the stable version. No client id, or an unknown region → stable.
 */
export function resolveVersion(release: ReleaseState, region: string | null, clientId: string | null): number | null {
  const r = region ? release.regions[region] : undefined;
  if (!r) return release.stable;
  if (r.candidate !== null && r.rollout_id && clientId && r.percent > 0) {
    if (r.percent >= 100 || inCandidate(release.namespace, r.rollout_id, clientId, r.percent)) return r.candidate;
  }
  return r.stable;
}
