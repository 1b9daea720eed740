import { z } from "zod";
import { ApiError, badRequest } from "../lib/errors";
import { CLICK_ID_RE, LINK_ID_RE, MAX_LINK_ID_LENGTH, MAX_TOKEN_LENGTH, newClickId, signLink, verifyLink } from "../lib/clicks/link-token";
import { checkLandingUrl } from "../lib/clicks/link-url";
import { NO_REJECTIONS } from "../lib/clicks/types";
import { newSubApp } from "./lib/app-factory";
import { requireAuth } from "./lib/auth";
import { readJson } from "./lib/body";
import { ingestClicks } from "./lib/click-ingest";
import { limitClickClient } from "./lib/click-rate-limit";
import { requestRegion } from "./lib/region";

/** Signed click-through links: POST /admin/v1/click-links (publisher) mints them, GET /c/:token (public) follows them. */
export const clickLinksApp = newSubApp();

export const MIN_TTL_SECONDS = 1;
export const MAX_TTL_SECONDS = 30 * 86_400;
export const DEFAULT_TTL_SECONDS = 7 * 86_400;

function signingKey(env: Env): string {
  const key = env.CLICK_SIGNING_KEY;
  if (!key) throw new ApiError(503, "click_links_unconfigured", "The CLICK_SIGNING_KEY secret is not set");
  return key;
}

const linkId = z.string().regex(LINK_ID_RE, `must be 1-${MAX_LINK_ID_LENGTH} characters without control characters`);

const CreateLink = z.strictObject({
  campaign_id: linkId,
  ad_id: linkId,
  url: z.string().transform((raw, ctx) => {
    const check = checkLandingUrl(raw);
    if (!check.ok) {
      ctx.addIssue({ code: "custom", message: `url ${check.reason}` });
      return z.NEVER;
    }
    return check.url;
  }),
  ttl_seconds: z.number().int().min(MIN_TTL_SECONDS).max(MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
  /** Optional: the caller's own impression id; a random one otherwise. */
  click_id: z.string().regex(CLICK_ID_RE, "must be 8-128 characters of A-Z a-z 0-9 _ - : .").optional(),
});

clickLinksApp.post("/admin/v1/click-links", requireAuth("config.publish"), async (c) => {
  const body = await readJson(c, CreateLink, 16 * 1024);
  const key = signingKey(c.env);
  const clickId = body.click_id ?? newClickId();
  const expiresAtSeconds = Math.floor(Date.now() / 1000) + body.ttl_seconds;
  const token = await signLink(key, { c: body.campaign_id, a: body.ad_id, u: body.url, i: clickId, e: expiresAtSeconds });
  // Only reachable with JSON-escaped characters (e.g. backslashes in the query); never mint a link GET /c would refuse.
  if (token.length > MAX_TOKEN_LENGTH) {
    throw badRequest("invalid_request", "Request body is invalid", [{ path: "/url", message: `url makes the link longer than ${MAX_TOKEN_LENGTH} characters` }]);
  }
  const origin = new URL(c.req.url).origin;
  return c.json(
    {
      url: `${origin}/c/${token}`,
      click_id: clickId,
      expires_at: new Date(expiresAtSeconds * 1000).toISOString(),
      campaign_id: body.campaign_id,
      ad_id: body.ad_id,
      landing_url: body.url,
    },
    201,
  );
});

clickLinksApp.get("/c/:token", async (c) => {
  // The same per-client budget as anonymous POST /v1/clicks.
  await limitClickClient(c, "anonymous");
  const token = c.req.param("token");
  if (token.length > MAX_TOKEN_LENGTH) throw new ApiError(400, "invalid_link", "This link is not valid", { reason: "token is too long" });
  const result = await verifyLink(signingKey(c.env), token, Date.now());
  if (!result.ok) {
    const message = result.code === "link_expired" ? "This link has expired" : "This link is not valid";
    throw new ApiError(400, result.code, message, { reason: result.reason });
  }
  const { payload } = result;
  // HEAD (link checkers, prefetchers) learns where the link goes but is not a click.
  if (c.req.method !== "HEAD") {
    try {
      // Awaited: the click is durable before the visitor is sent on; a replayed link dedups on click_id.
      const cf = (c.req.raw as { cf?: { continent?: unknown } }).cf;
      await ingestClicks(
        c.env,
        [{ click_id: payload.i, campaign_id: payload.c, ad_id: payload.a, region: requestRegion(c) ?? "unknown", ts: Date.now() }],
        NO_REJECTIONS,
        { continent: typeof cf?.continent === "string" ? cf.continent : null },
      );
    } catch (err) {
      // Never strand a visitor on an error page because the pipeline is unwell; nothing was
      // acknowledged, so no count is wrong. Log ids only, never the token.
      console.error("click link: recording failed", JSON.stringify({ click_id: payload.i, campaign_id: payload.c }), (err as Error)?.message);
    }
  }
  return new Response(null, { status: 302, headers: { Location: payload.u, "Cache-Control": "no-store" } });
});
