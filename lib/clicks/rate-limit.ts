/**
 * A fixed-window request counter per key (client IP), in memory. Time is passed in, so it is pure.
 * Memory is bounded: the map is dropped at every window change and never holds more than `maxKeys`
 * (beyond that, unseen keys are not limited until the next window — fail open, never fail closed).
 */
export class FixedWindowLimiter {
  private window = -1;
  private counts = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** Counts one request; returns 0 when allowed, else the seconds until the window resets. */
  hit(key: string, limit: number, now: number): number {
    const w = Math.floor(now / this.windowMs);
    if (w !== this.window) {
      this.window = w;
      this.counts.clear();
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    if (n > limit) return Math.max(1, Math.ceil(((w + 1) * this.windowMs - now) / 1000));
    if (this.counts.size < this.maxKeys || this.counts.has(key)) this.counts.set(key, n);
    return 0;
  }
}

/**
 * The client IP to rate-limit by, from CF-Connecting-IP (set by Cloudflare to the real client on every
 * request; a client cannot forge it). Null — not limited — when absent or a loopback address: that only
 * happens locally (wrangler dev, tests, the benchmark on 127.0.0.1), never behind Cloudflare.
 */
export function rateLimitKey(cfConnectingIp: string | undefined): string | null {
  const ip = cfConnectingIp?.trim();
  if (!ip) return null;
  if (/^127\./.test(ip) || ip === "::1" || ip === "::ffff:127.0.0.1") return null;
  return ip;
}
