import type { Context } from "hono";
import { cors } from "hono/cors";
import { badRequest, asApiError } from "../lib/errors";
import { NAMESPACE_RE } from "../lib/roles";
import { bulkJson, flagJson, generationFromTag, type Evaluated, type FlagTable, type OfrepErrorCode } from "../lib/ofrep/evaluate";
import { requireAuth } from "./lib/auth";
import { newSubApp } from "./lib/app-factory";
import { matchesEtag, namespaceParam } from "./lib/config-request";
import type { AppContext, AppEnv } from "./lib/context";
import { renderError } from "./lib/errors-handler";
import { evaluateNamespace, ofrepError, readEvalRequest } from "./lib/ofrep-eval";
import { ofrepRateLimit } from "./lib/ofrep-limit";
import { openStream, streamUrl } from "./lib/ofrep-stream";

/**
 * OpenFeature Remote Evaluation Protocol (open-feature/protocol, service/openapi.yaml) for config
 * namespaces. The OFREP base URL of a namespace is `<origin>/v1/configs/<ns>`. See docs/clients.md.
 */
export const ofrepApp = newSubApp();

const JSON_TYPE = "application/json; charset=UTF-8";

// Browser SDKs call from any origin with a reader token (no cookies), so `*` is safe and enough.
ofrepApp.use(
  "/:ns/ofrep/*",
  cors({
    origin: "*",
    allowMethods: ["GET", "POST", "OPTIONS"],
    // X-Region only matters with TRUST_REGION_HEADER=true (local dev and tests).
    allowHeaders: ["Authorization", "Content-Type", "If-None-Match", "Last-Event-ID", "X-Region"],
    exposeHeaders: ["ETag", "Retry-After", "X-Config-Stale"],
    maxAge: 86400,
  }),
);

/**
 * OFREP error bodies (`{key?, errorCode, errorDetails}`, what the providers parse) that also carry
 * this API's usual `{"error": {code, message, details}}`.
 */
ofrepApp.onError((err, c: Context<AppEnv>) => {
  const res = renderError(err, c);
  const api = asApiError(err);
  const details = (api?.details ?? null) as Record<string, unknown> | null;
  const status = res.status;
  const errorCode: OfrepErrorCode =
    (details?.ofrep_error_code as OfrepErrorCode | undefined) ?? (status === 400 ? "PARSE_ERROR" : status === 404 ? "FLAG_NOT_FOUND" : "GENERAL");
  let cleanDetails: unknown = api?.details ?? null;
  if (details && "ofrep_error_code" in details) {
    const { ofrep_error_code: _drop, ...rest } = details;
    cleanDetails = Object.keys(rest).length > 0 ? rest : null;
  }
  const key = c.req.param("key");
  const message = api?.message ?? "Internal server error";
  const body = {
    ...(key !== undefined ? { key } : {}),
    errorCode,
    errorDetails: message,
    error: { code: api?.code ?? "internal_error", message, details: cleanDetails },
  };
  const headers = new Headers(res.headers);
  headers.set("Content-Type", JSON_TYPE);
  return new Response(JSON.stringify(body), { status, headers });
});

/** As on GET /v1/configs/:ns: the answer came from the last known release (coordinator unreachable). */
const staleHeader = (stale: boolean): Record<string, string> => (stale ? { "X-Config-Stale": "1" } : {});


async function sha256Prefix(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest, 0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Digest of a version's evaluated flags per reason, computed once per cached blob (bodies can be 256 KiB). */
// Values, not promises: a promise shared between requests would resume in another request's context.
const flagDigests = new WeakMap<FlagTable, Map<string, string>>();

async function flagsDigest(table: FlagTable, e: Evaluated): Promise<string> {
  let byReason = flagDigests.get(table);
  if (!byReason) flagDigests.set(table, (byReason = new Map()));
  let d = byReason.get(e.reason);
  if (d === undefined) {
    d = await sha256Prefix(bulkJson(table, { ...e, generation: 0 }, 0, null));
    byReason.set(e.reason, d);
  }
  return d;
}

/**
 * Weak tag over what the client acts on (flags, values, variants, reasons, versions, stream URL),
 * without the generation bookkeeping: after a change that leaves this client's answer as it was
 * (another region, another cohort), the re-fetch the stream triggers is a 304.
 */
async function bulkEtag(table: FlagTable | null, e: Evaluated | null, url: string | null): Promise<string> {
  const flags = table && e ? await flagsDigest(table, e) : "none";
  return `W/"${await sha256Prefix(`${flags}\n${url ?? ""}`)}"`;
}

ofrepApp.post("/:ns/ofrep/v1/evaluate/flags/:key", requireAuth("config.read"), async (c) => {
  const ns = namespaceParam(c);
  const key = c.req.param("key");
  const req = await readEvalRequest(c);
  await ofrepRateLimit(c, ns, req.targetingKey, key);
  const { result, stale } = await evaluateNamespace(c, ns, req, null);
  if (!result) throw ofrepError(404, "FLAG_NOT_FOUND", "no_release", `Namespace '${ns}' has no released version yet`, { namespace: ns });
  if (!result.table.json.has(key)) throw ofrepError(404, "FLAG_NOT_FOUND", "flag_not_found", `Flag '${key}' was not found`, { namespace: ns, version: result.evaluated.version });
  return c.body(flagJson(result.table, key, result.evaluated), 200, { "Content-Type": JSON_TYPE, "Cache-Control": "private, no-store", ...staleHeader(stale) });
});

ofrepApp.post("/:ns/ofrep/v1/evaluate/flags", requireAuth("config.read"), async (c) => {
  const ns = namespaceParam(c);
  const req = await readEvalRequest(c);
  await ofrepRateLimit(c, ns, req.targetingKey, null);
  // A re-fetch triggered by a stream event names the generation it announced: never answer older.
  const minGeneration = generationFromTag(c.req.query("flagConfigEtag"));
  const { release, stale, result } = await evaluateNamespace(c, ns, req, minGeneration);
  // The stream URL is stable for one client within its credential window, so the ETag is too.
  const clientKey = req.targetingKey ?? c.req.header("cf-connecting-ip") ?? "";
  const url = await streamUrl(c, ns, clientKey);
  const table = result?.table ?? null;
  const evaluated = result?.evaluated ?? null;
  const body = bulkJson(table, evaluated, release.generation, url === null ? null : `${url}&g=${release.generation}`);
  const etag = await bulkEtag(table, evaluated, url);
  const headers = { ETag: etag, "Cache-Control": "private, no-cache", ...staleHeader(stale) };
  if (matchesEtag(c.req.header("if-none-match"), etag)) return c.body(null, 304, headers);
  return c.body(body, 200, { ...headers, "Content-Type": JSON_TYPE });
});

/** The event stream (SSE) a bulk answer names in `eventStreams[0].url`; its credential is in the URL. */
ofrepApp.get("/:ns/ofrep/v1/events", async (c) => {
  const ns = c.req.param("ns");
  if (!NAMESPACE_RE.test(ns)) throw badRequest("invalid_namespace", `'${ns}' is not a valid namespace name`, { pattern: NAMESPACE_RE.source });
  return openStream(c, ns);
});
