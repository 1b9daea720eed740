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
