import { REGION_RE } from "../../lib/regions";
import type { AppContext } from "./context";

export { configuredRegions } from "../../lib/regions";

/**
 * The region of a request: `X-Region` when TRUST_REGION_HEADER=true (local dev and tests only),
 * else Cloudflare's continent code lowercased. Null when neither is known.
 */
export function requestRegion(c: AppContext): string | null {
  if (String(c.env.TRUST_REGION_HEADER) === "true") {
    const h = c.req.header("x-region")?.trim().toLowerCase();
    if (h && REGION_RE.test(h)) return h;
  }
  const cf = (c.req.raw as { cf?: { continent?: unknown } }).cf;
  const cont = typeof cf?.continent === "string" ? cf.continent.toLowerCase() : null;
  return cont && REGION_RE.test(cont) ? cont : null;
}
