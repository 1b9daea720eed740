import { cors } from "hono/cors";
import { ApiError, badRequest } from "../lib/errors";
import { clickBodyFormat, parseClickBody } from "../lib/clicks/body";
import { clickSettings } from "../lib/clicks/settings";
import type { NormalizedClick, RejectionCounts } from "../lib/clicks/types";
import { isRejection, MAX_BODY_BYTES, UNKNOWN_REGION, validateEvent, type Rejection } from "../lib/clicks/validate";
import { newSubApp } from "./lib/app-factory";
import { optionalPrincipal } from "./lib/auth";
import type { AppContext } from "./lib/context";
import { readBodyText } from "./lib/body";
import { ingestClicks } from "./lib/click-ingest";
import { limitClickClient } from "./lib/click-rate-limit";
import { requestRegion } from "./lib/region";

export const clicksApp = newSubApp();

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * The body as text, ≤ MAX_BODY_BYTES. With a declared Content-Length (what beacons and servers send)
 * one native read; otherwise the streaming reader that stops at the limit.
 */
async function readClickBody(c: AppContext): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (!Number.isInteger(declared) || declared < 0) return readBodyText(c, MAX_BODY_BYTES);
  if (declared > MAX_BODY_BYTES) return readBodyText(c, MAX_BODY_BYTES); // throws 413
  const buf = await c.req.raw.arrayBuffer();
  if (buf.byteLength > MAX_BODY_BYTES) throw new ApiError(413, "payload_too_large", `Request body exceeds ${MAX_BODY_BYTES} bytes`, { limit_bytes: MAX_BODY_BYTES });
  try {
    return utf8.decode(buf);
  } catch {
    throw badRequest("invalid_encoding", "Request body is not valid UTF-8");
  }
}

// Beacons come from any page: every answer (errors included) allows any origin; preflights are answered.
const preflight = cors({ origin: "*", allowMethods: ["POST", "OPTIONS"], allowHeaders: ["Content-Type", "Authorization"], maxAge: 86400 });
clicksApp.use("/v1/clicks", async (c, next) => {
  if (c.req.method === "OPTIONS") return preflight(c, next);
  // One header on the final answer. hono's cors() sets it before the handler runs, on a placeholder
  // Response that is then copied into the real one: ≈ 2 % of the Worker thread at batch 100.
  await next();
  c.res.headers.set("Access-Control-Allow-Origin", "*");
});

clicksApp.post("/v1/clicks", async (c) => {
  const settings = clickSettings(c.env);
  const now = Date.now();

  // Rate limit first, then authenticate: a bad token costs a SHA-256 and a D1 query, so it must not be
  // free to try. Requests with a token draw on their own, larger budget (server-to-server relays).
  const hasToken = c.req.header("authorization") !== undefined;
  await limitClickClient(c, hasToken ? "token" : "anonymous");
  // Server-to-server callers (publisher/admin token) may set each event's region.
  let trusted = false;
  if (hasToken) {
    const principal = await optionalPrincipal(c);
    if (!principal) throw new ApiError(401, "unauthorized", "Invalid or revoked token (omit Authorization for anonymous beacons)");
    trusted = principal.role === "publisher" || principal.role === "admin";
  }

  const format = clickBodyFormat(c.req.header("content-type"));
  const events = parseClickBody(format, await readClickBody(c));

  const ctx = {
    now,
    latenessMs: settings.latenessMs,
    skewMs: settings.skewMs,
    region: requestRegion(c) ?? UNKNOWN_REGION,
    trustEventRegion: trusted,
  };
  const accepted: NormalizedClick[] = [];
  const rejected: Rejection[] = [];
  const counts: RejectionCounts = { invalid: 0, too_late: 0, future: 0 };
  for (let i = 0; i < events.length; i++) {
    const v = validateEvent(events[i], i, ctx);
    if (isRejection(v)) {
      rejected.push(v);
      counts[v.code]++;
    } else {
      accepted.push(v);
    }
  }
  const cf = (c.req.raw as { cf?: { continent?: unknown } }).cf;
  const result = await ingestClicks(c.env, accepted, counts, { continent: typeof cf?.continent === "string" ? cf.continent : null });
  return c.json(result.duplicates === undefined ? { accepted: accepted.length, rejected } : { accepted: accepted.length, rejected, duplicates: result.duplicates });
});
