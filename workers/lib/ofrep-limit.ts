import { ofrepError } from "./ofrep-eval";
import type { AppContext } from "./context";

/** The OFREP_LIMITER binding's period (wrangler.toml): what Retry-After tells a limited client. */
const PERIOD_SECONDS = 60;

/** The limiter key of one (namespace, client, flag); `who` is `k:<targeting key>` or `ip:<address>`. */
export function ofrepLimitKey(ns: string, who: string, flag: string | null): string {
  return `${ns}\u0000${who}\u0000${flag ?? "*bulk*"}`;
}

/**
 * Workers Rate Limiting binding (counters local to each Cloudflare location, no Durable Object on the
 * path) keyed by namespace, client (targeting key, else the caller's IP) and flag (or bulk).
 */
export async function ofrepRateLimit(c: AppContext, ns: string, targetingKey: string | null, flag: string | null): Promise<void> {
  const limiter: RateLimit | undefined = c.env.OFREP_LIMITER;
  if (!limiter) return;
  const who = targetingKey !== null ? "k:" + targetingKey : "ip:" + (c.req.header("cf-connecting-ip") ?? "unknown");
  const { success } = await limiter.limit({ key: ofrepLimitKey(ns, who, flag) });
  if (!success) {
    throw ofrepError(429, "GENERAL", "rate_limited", `Too many evaluations for this client; retry in ${PERIOD_SECONDS} s`, {
      retry_after_seconds: PERIOD_SECONDS,
    });
  }
}
