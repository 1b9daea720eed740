import { ApiError } from "../../lib/errors";
import { rateLimitKey } from "../../lib/clicks/rate-limit";
import { clickSettings } from "../../lib/clicks/settings";
import type { AppContext } from "./context";

/** The binding's window (wrangler.toml `simple.period`): the longest a refused client must wait. */
const PERIOD_SECONDS = 60;

/**
 * Counts one request against the client IP's budget in a Workers Rate Limiting binding and refuses it
 * with 429 past the limit. `anonymous`: POST /v1/clicks without a token and GET /c/:token (one budget
 * per client for both); `token`: POST /v1/clicks with an Authorization header, counted before the token
 * is checked. Each request draws CLICK_RATE_LIMIT_WEIGHT tokens (default 1). Loopback and missing client addresses are not limited (local callers only).
 */
export async function limitClickClient(c: AppContext, budget: "anonymous" | "token"): Promise<void> {
  const settings = clickSettings(c.env);
  if (!settings.rateLimit) return;
  const ip = rateLimitKey(c.req.header("cf-connecting-ip"));
  if (ip === null) return;
  const limiter = budget === "anonymous" ? c.env.CLICK_RATE_LIMITER : c.env.CLICK_TOKEN_RATE_LIMITER;
  const outcomes = await Promise.all(Array.from({ length: settings.rateLimitWeight }, () => limiter.limit({ key: ip })));
  if (!outcomes.every((o) => o.success)) {
    throw new ApiError(429, "rate_limited", `Too many requests from this client; retry in ${PERIOD_SECONDS} s`, {
      retry_after_seconds: PERIOD_SECONDS,
      budget,
    });
  }
}
