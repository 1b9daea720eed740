/** UTC window arithmetic for the metrics API: minutes are stored, hours and days are rolled up at query time. */

export const GRANULARITIES = ["minute", "hour", "day"] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export const GRANULARITY_MS: Record<Granularity, number> = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS };

/** Epoch ms of 9999-12-31T23:59:59.999Z: the last instant RFC 3339 (four-digit years) can name. */
export const MAX_INSTANT_MS = 253_402_300_799_999;

/**
 * Start of the UTC window containing `ms`. Epoch 0 is a UTC midnight and UTC has no DST, so plain
 * modular arithmetic is exact (leap seconds do not exist in epoch time).
 */
export function windowStart(ms: number, granularity: Granularity): number {
  const size = GRANULARITY_MS[granularity];
  return ms - mod(ms, size);
}

/** The smallest window boundary at or after `ms`. */
export function windowCeil(ms: number, granularity: Granularity): number {
  const floor = windowStart(ms, granularity);
  return floor === ms ? ms : floor + GRANULARITY_MS[granularity];
}

/** Widens [from, to) outward to whole windows, so every window answered is complete. */
export function alignRange(from: number, to: number, granularity: Granularity): { from: number; to: number } {
  return { from: windowStart(from, granularity), to: windowCeil(to, granularity) };
}

/** Number of windows in an aligned range. */
export function windowCount(from: number, to: number, granularity: Granularity): number {
  return Math.max(0, Math.ceil((to - from) / GRANULARITY_MS[granularity]));
}

function mod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/**
 * The range a click query really answers when every day before `dailyBefore` (a UTC midnight; 0 = none)
 * is kept only as a whole day (rolled up by the retention job): widened outward to whole days where it
 * reaches into that zone, unchanged elsewhere.
 */
export function withDailyZone(from: number, to: number, dailyBefore: number): { from: number; to: number } {
  return {
    from: from < dailyBefore ? windowStart(from, "day") : from,
    to: to < dailyBefore ? windowCeil(to, "day") : to,
  };
}
