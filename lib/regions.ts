export const REGION_RE = /^[a-z][a-z0-9-]{0,31}$/;

/** The configured region set (var REGIONS), e.g. ["na","sa","eu",...]. */
export function configuredRegions(env: { REGIONS?: string }): string[] {
  return String(env.REGIONS ?? "na,sa,eu,af,as,oc,an")
    .split(",")
    .map((r) => r.trim().toLowerCase())
    .filter((r) => REGION_RE.test(r));
}
