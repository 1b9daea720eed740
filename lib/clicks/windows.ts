export const MINUTE_MS = 60_000;

/** Start (epoch ms) of the one-minute UTC window containing `ts`. */
export function windowStart(ts: number): number {
  return ts - (((ts % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
}
