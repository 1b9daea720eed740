// Every operation of the HTTP API, described from the zod schemas in lib/api. workers/openapi.ts turns
// this table into the OpenAPI 3.1 document (hono-openapi); test/workerd/openapi.test.ts checks that
// it names exactly the routes the Worker mounts, and that the examples and real answers match the
// schemas. Adding a route means adding its operation here.
import { z } from "zod";
import * as access from "../../lib/api/admin-access";
import * as cfg from "../../lib/api/admin-config";
import * as clicks from "../../lib/api/clicks";
import * as edge from "../../lib/api/config-edge";
import * as ofrep from "../../lib/api/ofrep";
import type { Permission } from "../../lib/roles";
import { ErrorBody } from "../../lib/api/common";

export interface Operation {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Hono path, as mounted (`:param`). */
  path: string;
  tag: "config" | "config admin" | "access" | "clicks" | "metrics" | "service";
  summary: string;
  description?: string;
  /** The permission the route requires (docs/api.md lists which roles have it); null: public. */
  permission: Permission | null;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** A request body that parses with `body`. */
  example?: unknown;
  headers?: { name: string; description: string }[];
  /** Status → schema (JSON) or a description of a non-JSON answer. */
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
}

const ok = <S extends z.ZodType>(schema: S, description = "OK") => ({ description, schema });

export const OPERATIONS: Operation[] = [
  // ---- service
  { method: "GET", path: "/healthz", tag: "service", summary: "Liveness", permission: null, responses: { 200: ok(z.object({ ok: z.literal(true) })) } },
  { method: "GET", path: "/noop", tag: "service", summary: "The benchmark's floor: the cheapest route", permission: null, responses: { 200: { description: "`ok`", contentType: "text/plain" } } },
  { method: "GET", path: "/openapi.json", tag: "service", summary: "This document", permission: null, responses: { 200: { description: "OpenAPI 3.1", contentType: "application/json" } } },

  // ---- config at the edge
  {
    method: "GET",
    path: "/v1/configs/:ns",
    tag: "config",
    summary: "Read the config a client gets",
    description:
      "The version is the region's candidate when the client's cohort bucket is inside the rollout percent, else the stable one. Send back `X-Config-Generation` for monotonic reads and `If-None-Match` for 304s.",
    permission: "config.read",
    query: edge.ConfigReadQuery,
    headers: [
      { name: "X-Client-Id", description: "cohort key (or ?client_id=)" },
      { name: "X-Config-Generation", description: "the highest generation this client has seen" },
      { name: "If-None-Match", description: "an ETag from an earlier answer" },
    ],
    responses: { 200: ok(edge.ConfigRead), 304: { description: "Not modified (ETag matched)" } },
  },
  {
    method: "POST",
    path: "/v1/configs/:ns/reports",
    tag: "config",
    summary: "Report how a version works for clients (health gate input)",
    permission: "config.read",
    body: edge.Reports,
    example: { reports: [{ client_id: "device-42", version: 2, status: "ok" }] },
    responses: { 202: ok(edge.ReportsAccepted, "Accepted") },
  },

  // ---- OpenFeature Remote Evaluation Protocol (base URL <origin>/v1/configs/<ns>; docs/clients.md)
  {
    method: "POST",
    path: "/v1/configs/:ns/ofrep/v1/evaluate/flags/:key",
    tag: "config",
    summary: "OFREP: evaluate one flag (a top-level key of the namespace's values)",
    permission: "config.read",
    body: ofrep.OfrepEvaluationRequest,
    example: { context: { targetingKey: "device-42" } },
    responses: { 200: ok(ofrep.OfrepFlag), 400: ok(ofrep.OfrepError, "PARSE_ERROR, INVALID_CONTEXT or TARGETING_KEY_MISSING"), 404: ok(ofrep.OfrepError, "FLAG_NOT_FOUND"), 429: { description: "rate limited; Retry-After in seconds" } },
  },
  {
    method: "POST",
    path: "/v1/configs/:ns/ofrep/v1/evaluate/flags",
    tag: "config",
    summary: "OFREP: evaluate every flag (bulk), with the event stream to watch",
    permission: "config.read",
    body: ofrep.OfrepEvaluationRequest,
    example: { context: { targetingKey: "device-42" } },
    headers: [{ name: "If-None-Match", description: "the ETag of an earlier bulk answer" }],
    responses: { 200: ok(ofrep.OfrepBulk), 304: { description: "Not modified (ETag matched)" }, 400: ok(ofrep.OfrepError, "PARSE_ERROR or INVALID_CONTEXT"), 429: { description: "rate limited; Retry-After in seconds" } },
  },
  {
    method: "GET",
    path: "/v1/configs/:ns/ofrep/v1/events",
    tag: "config",
    summary: "OFREP event stream (SSE): refetchEvaluation on every release change; the URL's signed credential is the auth",
    permission: null,
    responses: { 200: { description: "text/event-stream", contentType: "text/event-stream" }, 401: { description: "missing, bad or expired stream credential" } },
  },

  // ---- namespaces
  { method: "GET", path: "/admin/v1/namespaces", tag: "config admin", summary: "List namespaces", permission: "admin.read", query: cfg.NamespaceListQuery, responses: { 200: ok(cfg.NamespaceList) } },
  { method: "GET", path: "/admin/v1/namespaces/:ns", tag: "config admin", summary: "A namespace with its schema", permission: "admin.read", responses: { 200: ok(cfg.NamespaceInfo) } },
  {
    method: "PUT",
    path: "/admin/v1/namespaces/:ns",
    tag: "config admin",
    summary: "Create or change a namespace",
    permission: "namespace.write",
    body: cfg.PutNamespace,
    example: { schema: { type: "object", properties: { max_items: { type: "integer", maximum: 100 } }, required: ["max_items"] }, description: "checkout limits", approvals_required: 0 },
    responses: { 200: ok(cfg.NamespaceInfo, "Changed"), 201: ok(cfg.NamespaceInfo, "Created"), 422: ok(ErrorBody, "`invalid_schema`") },
  },

  // ---- versions
  {
    method: "POST",
    path: "/admin/v1/namespaces/:ns/versions",
    tag: "config admin",
    summary: "Publish a version",
    permission: "config.publish",
    body: cfg.CreateVersion,
    example: { values: { max_items: 20 }, message: "raise the limit" },
    headers: [{ name: "Idempotency-Key", description: "1-255 printable ASCII: the same key publishes once (the answer then carries Idempotency-Replayed: true)" }],
    responses: { 201: ok(cfg.VersionCreated, "Published"), 413: ok(ErrorBody, "values over 256 KiB"), 422: ok(ErrorBody, "`validation_failed`: every schema error, with JSON pointers") },
  },
  {
    method: "POST",
    path: "/admin/v1/namespaces/:ns/validate",
    tag: "config admin",
    summary: "Check values against the schema without publishing",
    permission: "config.publish",
    body: cfg.ValidateValues,
    example: { values: { max_items: 500 } },
    responses: { 200: ok(cfg.ValidateResult), 422: ok(ErrorBody, "`validation_failed`") },
  },
  { method: "GET", path: "/admin/v1/namespaces/:ns/versions", tag: "config admin", summary: "List versions, newest first", permission: "admin.read", query: cfg.VersionListQuery, responses: { 200: ok(cfg.VersionList) } },
  { method: "GET", path: "/admin/v1/namespaces/:ns/versions/:v", tag: "config admin", summary: "A version with its values", permission: "admin.read", responses: { 200: ok(cfg.VersionDetail) } },
  {
    method: "GET",
    path: "/admin/v1/namespaces/:ns/versions/:v/diff",
    tag: "config admin",
    summary: "RFC 6902 JSON Patch from `against` to `v`",
    permission: "admin.read",
    query: cfg.DiffQuery,
    responses: { 200: ok(cfg.VersionDiff) },
  },

  // ---- rollouts and release
  {
    method: "POST",
    path: "/admin/v1/namespaces/:ns/rollouts",
    tag: "config admin",
    summary: "Start a staged rollout of a version",
    description: "One active rollout per namespace. Stages advance by the coordinator's alarm after their bake time while the health gate holds.",
    permission: "config.publish",
    body: cfg.StartRolloutBody,
    example: { version: 2, plan: { stages: [{ regions: ["eu"], percent: 5, bake_seconds: 300 }, { regions: "*", percent: 100, bake_seconds: 0 }], auto_rollback: { max_error_rate: 0.02, min_samples: 200 } } },
    responses: { 201: ok(cfg.RolloutDetail, "Started"), 409: ok(ErrorBody, "another rollout is active"), 422: ok(ErrorBody, "`invalid_plan`") },
  },
  { method: "GET", path: "/admin/v1/namespaces/:ns/rollouts", tag: "config admin", summary: "Recent rollouts", permission: "admin.read", query: cfg.RolloutListQuery, responses: { 200: ok(cfg.RolloutList) } },
  {
    method: "GET",
    path: "/admin/v1/namespaces/:ns/rollouts/:id",
    tag: "config admin",
    summary: "A rollout: stages, health, clients (`current`: the active or latest one)",
    permission: "admin.read",
    responses: { 200: ok(cfg.RolloutDetail) },
  },
  {
    method: "POST",
    path: "/admin/v1/namespaces/:ns/rollouts/:id/:action",
    tag: "config admin",
    summary: "Control a rollout: pause, resume, promote, approve (role approver), abort",
    permission: "rollout.control",
    responses: { 200: ok(cfg.RolloutDetail), 409: ok(ErrorBody, "not possible in the rollout's state") },
  },
  {
    method: "POST",
    path: "/admin/v1/namespaces/:ns/rollback",
    tag: "config admin",
    summary: "Emergency rollback: every region to a version at once",
    permission: "rollout.control",
    body: cfg.Rollback,
    example: { to_version: 1, reason: "checkout errors" },
    responses: { 200: ok(cfg.ReleaseState) },
  },
  { method: "GET", path: "/admin/v1/namespaces/:ns/release", tag: "config admin", summary: "What every region serves now", permission: "admin.read", responses: { 200: ok(cfg.ReleaseState) } },

  // ---- tokens and audit
  {
    method: "POST",
    path: "/admin/v1/tokens",
    tag: "access",
    summary: "Create a token (the secret is shown once)",
    permission: "tokens.manage",
    body: access.CreateToken,
    example: { name: "app", role: "reader", namespaces: ["checkout"] },
    responses: { 201: ok(access.TokenCreated, "Created") },
  },
  { method: "GET", path: "/admin/v1/tokens", tag: "access", summary: "List tokens (never their secrets)", permission: "tokens.manage", query: access.TokenListQuery, responses: { 200: ok(access.TokenList) } },
  { method: "DELETE", path: "/admin/v1/tokens/:id", tag: "access", summary: "Revoke a token", permission: "tokens.manage", responses: { 200: ok(access.TokenRevoked) } },
  { method: "GET", path: "/admin/v1/audit", tag: "access", summary: "The audit log (hash chain)", permission: "admin.read", query: access.AuditQuery, responses: { 200: ok(access.AuditList) } },
  { method: "GET", path: "/admin/v1/audit/verify", tag: "access", summary: "Recompute the whole chain (token scoped to *)", permission: "admin.read", responses: { 200: ok(access.AuditVerify) } },

  // ---- clicks
  {
    method: "POST",
    path: "/v1/clicks",
    tag: "clicks",
    summary: "Ingest click events (public, CORS open)",
    description:
      "A JSON envelope, NDJSON, or text/plain from navigator.sendBeacon; ≤ 1000 events, ≤ 1 MiB. Each event is validated on its own: one bad event never fails the others. The 200 means every accepted event is durable.",
    permission: null,
    body: clicks.ClickBatch,
    example: { events: [{ click_id: "clk-0001-example", campaign_id: "spring", ad_id: "banner-1", ts: 1_764_489_600_000 }] },
    responses: { 200: ok(clicks.IngestResult), 429: ok(ErrorBody, "rate limited (Retry-After)") },
  },
  {
    method: "POST",
    path: "/admin/v1/click-links",
    tag: "clicks",
    summary: "Mint a signed click-through link",
    permission: "config.publish",
    body: clicks.CreateClickLink,
    example: { campaign_id: "spring", ad_id: "banner-1", url: "https://example.com/landing" },
    responses: { 201: ok(clicks.ClickLinkCreated, "Created") },
  },
  { method: "GET", path: "/c/:token", tag: "clicks", summary: "Follow a signed link: records the click, redirects (public)", permission: null, responses: { 302: { description: "To the landing URL" } } },
  { method: "GET", path: "/api/v1/clicks/metrics", tag: "metrics", summary: "Click counts per window", permission: "metrics.read", query: clicks.MetricsParams, responses: { 200: ok(clicks.MetricsSeries) } },
  { method: "GET", path: "/api/v1/clicks/top", tag: "metrics", summary: "Top campaigns or ads", permission: "metrics.read", query: clicks.TopParams, responses: { 200: ok(clicks.TopClicks) } },
  { method: "GET", path: "/api/v1/clicks/pipeline", tag: "metrics", summary: "The pipeline's shard epochs (CLICK_SHARDS history) and what waits at each hop (buffers, shards, aggregators)", permission: "metrics.read", responses: { 200: ok(clicks.PipelineState) } },
  { method: "GET", path: "/api/v1/clicks/ingest-stats", tag: "metrics", summary: "Accepted, duplicate, late, future and invalid events per window", permission: "metrics.read", query: clicks.IngestStatsParams, responses: { 200: ok(clicks.IngestStats) } },

  // ---- dashboard
  { method: "GET", path: "/dashboard", tag: "service", summary: "The live dashboard (HTML; the page asks for a viewer token)", permission: null, responses: { 200: { description: "HTML", contentType: "text/html" } } },
];

/** Failures every operation may answer (as `{"error": …}`), besides the ones it lists. */
export const COMMON_ERRORS: Record<number, string> = {
  400: "Invalid input (`details` names every problem)",
  401: "Missing or unknown token",
  403: "The token's role or namespace scope does not allow it",
  404: "Not found",
  429: "Rate limited (Retry-After)",
};

/** An operation's responses with the common errors added (public routes cannot answer 401/403). */
export function responsesOf(op: Operation): Operation["responses"] {
  const out: Operation["responses"] = { ...op.responses };
  for (const [status, description] of Object.entries(COMMON_ERRORS)) {
    const s = Number(status);
    if (op.permission === null && (s === 401 || s === 403)) continue;
    out[s] ??= { description, schema: ErrorBody };
  }
  return out;
}

/** Mounted routes that are not operations: the dashboard's static files. */
export const STATIC_ROUTES = ["GET /dashboard/", "GET /dashboard/*", "GET /vendor/*"];
