import { badRequest } from "../lib/errors";
import { MAX_CLIENT_ID, Reports } from "../lib/api/config-edge";
import { requireAuth } from "./lib/auth";
import { readJson } from "./lib/body";
import { newSubApp } from "./lib/app-factory";
import { matchesEtag, namespaceParam } from "./lib/config-request";
import type { AppContext } from "./lib/context";
import { responseBody } from "./lib/config-cache";
import { configHeaders, readConfig } from "./lib/config-read";
import { submitReports } from "./lib/config-reports";
import { configuredRegions, requestRegion } from "./lib/region";

/** Client-facing config reads and health reports: /v1/configs/:namespace. */
export const configEdgeApp = newSubApp();

const VERSION_RE = /^[1-9][0-9]{0,9}$/;
const GENERATION_RE = /^[0-9]{1,15}$/;
const REPORTS_BODY_LIMIT = 1024 * 1024;


configEdgeApp.get("/:ns", requireAuth("config.read"), async (c) => {
  const ns = namespaceParam(c);
  const pinned = c.req.query("version");
  if (pinned !== undefined && !VERSION_RE.test(pinned)) throw badRequest("invalid_version", "version must be a positive integer", { version: pinned });
  const genHeader = c.req.header("x-config-generation");
  if (genHeader !== undefined && !GENERATION_RE.test(genHeader.trim())) {
    throw badRequest("invalid_generation", "X-Config-Generation must be a non-negative integer", { value: genHeader });
  }
  const clientId = c.req.query("client_id") ?? c.req.header("x-client-id") ?? null;
  if (clientId !== null && (clientId.length === 0 || clientId.length > MAX_CLIENT_ID)) {
    throw badRequest("invalid_client_id", `client id must be 1-${MAX_CLIENT_ID} characters`);
  }

  const read = await readConfig(c.env, {
    ns,
    pinned: pinned === undefined ? null : Number(pinned),
    minGeneration: genHeader === undefined ? null : Number(genHeader.trim()),
    region: requestRegion(c),
    clientId,
  });
  const headers = configHeaders(read);
  if (matchesEtag(c.req.header("if-none-match"), read.blob.etag)) return c.body(null, 304, headers);
  return c.body(responseBody(ns, read.blob, read.release.generation), 200, { ...headers, "Content-Type": "application/json; charset=UTF-8" });
});

configEdgeApp.post("/:ns/reports", requireAuth("config.read"), async (c) => {
  const ns = namespaceParam(c);
  const body = await readJson(c, Reports, REPORTS_BODY_LIMIT);
  const reports = "reports" in body ? body.reports : [body];
  // Regions outside the configured set are counted together, so the figures stay bounded.
  const requested = requestRegion(c);
  const region = requested && configuredRegions(c.env).includes(requested) ? requested : "other";
  const r = await submitReports(c.env, (p) => c.executionCtx.waitUntil(p), ns, region, reports);
  return c.json(r.ignored > 0 ? { accepted: r.accepted, ignored: r.ignored } : { accepted: r.accepted }, 202);
});
