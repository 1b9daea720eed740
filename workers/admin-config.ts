import { and, asc, gt, inArray, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createPatch } from "rfc6902";
import { z } from "zod";
import { namespaces as namespacesTable } from "../db/schema";
import { ApiError, badRequest, unprocessable } from "../lib/errors";
import { NAMESPACE_RE } from "../lib/roles";
import { checkSchema, validateValues, ValidationTooComplex } from "../lib/config/json-schema";
import { canonicalJson, sha256Hex } from "../lib/canonical-json";
import { validatePlan } from "../lib/config/plan";
import type { ControlAction } from "../lib/config/types";
import {
  CreateVersion,
  NamespaceListQuery as ListQuery,
  PutNamespace,
  Rollback,
  ROLLOUT_ACTIONS as ACTIONS,
  RolloutListQuery,
  StartRollout,
  ValidateValues,
  VersionListQuery as VersionsQuery,
} from "../lib/api/admin-config";
import { assertRole, assertScope, requireAuth } from "./lib/auth";
import { parseWith, readJson } from "./lib/body";
import { newSubApp } from "./lib/app-factory";
import type { AppContext } from "./lib/context";
import { coordinator } from "./lib/config-coordinator";
import { configuredRegions } from "./lib/region";

/** Admin API of the config product: namespaces, versions, rollouts, release — /admin/v1/namespaces/... */
export const adminConfigApp = newSubApp();

/** 256 KiB of values plus the envelope (message, JSON punctuation). */
export const MAX_VALUES_BYTES = 256 * 1024;
const VERSION_BODY_LIMIT = 300 * 1024;
const SCHEMA_BODY_LIMIT = 256 * 1024;

const PositiveInt = z.coerce.number().int().min(1).max(2 ** 31);

function nsOf(c: AppContext): { ns: string; stub: ReturnType<typeof coordinator> } {
  const ns = c.req.param("ns") ?? "";
  if (!NAMESPACE_RE.test(ns)) throw badRequest("invalid_namespace", `'${ns}' is not a valid namespace name`, { pattern: NAMESPACE_RE.source });
  assertScope(c, ns);
  return { ns, stub: coordinator(c.env, ns) };
}

function versionParam(raw: string | undefined, name = "version"): number {
  const r = PositiveInt.safeParse(raw);
  if (!r.success || !/^[0-9]+$/.test(raw ?? "")) throw badRequest("invalid_version", `${name} must be a positive integer`, { [name]: raw ?? null });
  return r.data;
}

function assertValuesSize(values: Record<string, unknown>): void {
  const bytes = new TextEncoder().encode(JSON.stringify(values)).byteLength;
  if (bytes > MAX_VALUES_BYTES) throw new ApiError(413, "payload_too_large", `values are ${bytes} bytes; the limit is ${MAX_VALUES_BYTES}`, { limit_bytes: MAX_VALUES_BYTES, bytes });
}

// ------------------------------------------------------------------ namespaces

adminConfigApp.put("/namespaces/:ns", requireAuth("namespace.write"), async (c) => {
  const { ns, stub } = nsOf(c);
  const body = await readJson(c, PutNamespace, SCHEMA_BODY_LIMIT);
  const issues = await checkSchema(body.schema);
  if (issues.length > 0) throw unprocessable("invalid_schema", "schema is not a usable JSON Schema (2020-12)", issues);
  const r = await stub.putNamespace(ns, { schema: body.schema, description: body.description, approvals_required: body.approvals_required }, c.get("principal").actor);
  return c.json(r.namespace, r.created ? 201 : 200);
});

adminConfigApp.get("/namespaces", requireAuth("admin.read"), async (c) => {
  const q = parseWith(ListQuery, c.req.query(), "invalid_query", "Invalid query");
  const scope = c.get("principal").namespaces;
  const conds: SQL[] = [];
  if (q.cursor) conds.push(gt(namespacesTable.name, q.cursor));
  if (!scope.includes("*")) conds.push(inArray(namespacesTable.name, [...scope]));
  const rows = await drizzle(c.env.DB)
    .select()
    .from(namespacesTable)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(asc(namespacesTable.name))
    .limit(q.limit + 1);
  const page = rows.slice(0, q.limit);
  return c.json({
    namespaces: page.map((r) => ({
      name: r.name,
      description: r.description,
      approvals_required: r.approvalsRequired,
      latest_version: r.latestVersion,
      active_rollout_id: r.activeRolloutId,
      generation: r.generation,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
    })),
    next_cursor: rows.length > q.limit ? page[page.length - 1].name : null,
  });
});

adminConfigApp.get("/namespaces/:ns", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  return c.json(await stub.getNamespace(ns));
});

// ------------------------------------------------------------------ versions

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

const MAX_ISSUES = 100;

/**
 * Validates values against the namespace's schema here, in the Worker, not in the namespace's
 * single-writer coordinator: a slow validation then holds up only its own request (and it is bounded
 * by SCHEMA_LIMITS). Returns the hash of the schema used, which the coordinator re-checks on commit.
 */
async function validateAtEdge(stub: ReturnType<typeof coordinator>, ns: string, values: Record<string, unknown>): Promise<string> {
  const { schema } = await stub.getNamespace(ns);
  let issues: ReturnType<typeof validateValues>;
  try {
    issues = validateValues(schema, values);
  } catch (err) {
    if (err instanceof ValidationTooComplex) throw unprocessable("value_too_complex", err.message, { limits: "docs/security.md" });
    throw err;
  }
  // At most MAX_ISSUES are listed: a 256 KiB value can violate a schema in ~100,000 places.
  if (issues.length > 0) throw unprocessable("validation_failed", `values do not match the namespace schema (${issues.length} error(s))`, issues.slice(0, MAX_ISSUES));
  return sha256Hex(canonicalJson(schema));
}

adminConfigApp.post("/namespaces/:ns/versions", requireAuth("config.publish"), async (c) => {
  const { ns, stub } = nsOf(c);
  const key = c.req.header("idempotency-key");
  if (key !== undefined && !IDEMPOTENCY_KEY_RE.test(key)) throw badRequest("invalid_idempotency_key", "Idempotency-Key must be 1-255 printable ASCII characters");
  const body = await readJson(c, CreateVersion, VERSION_BODY_LIMIT);
  assertValuesSize(body.values);
  for (let attempt = 1; ; attempt++) {
    const schemaHash = await validateAtEdge(stub, ns, body.values);
    try {
      const r = await stub.createVersion(ns, { values: body.values, message: body.message, idempotencyKey: key ?? null, schemaHash }, c.get("principal").actor);
      return c.json({ version: r.version, hash: r.hash, created_at: r.created_at }, 201, r.replayed ? { "Idempotency-Replayed": "true" } : {});
    } catch (err) {
      // The schema changed between our validation and the commit: validate against the new one.
      if (!(err instanceof ApiError && err.code === "schema_changed" && attempt < 3)) throw err;
    }
  }
});

adminConfigApp.post("/namespaces/:ns/validate", requireAuth("config.publish"), async (c) => {
  const { ns, stub } = nsOf(c);
  const body = await readJson(c, ValidateValues, VERSION_BODY_LIMIT);
  assertValuesSize(body.values);
  await validateAtEdge(stub, ns, body.values);
  return c.json({ valid: true });
});

adminConfigApp.get("/namespaces/:ns/versions", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  const q = parseWith(VersionsQuery, c.req.query(), "invalid_query", "Invalid query");
  return c.json(await stub.listVersions(ns, { before: q.cursor ? Number(q.cursor) : undefined, limit: q.limit }));
});

adminConfigApp.get("/namespaces/:ns/versions/:v", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  return c.json(await stub.getVersion(ns, versionParam(c.req.param("v"))));
});

adminConfigApp.get("/namespaces/:ns/versions/:v/diff", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  const to = versionParam(c.req.param("v"));
  const against = versionParam(c.req.query("against"), "against");
  const [a, b] = await Promise.all([stub.getVersion(ns, against), stub.getVersion(ns, to)]);
  return c.json({ namespace: ns, from: against, to, from_hash: a.hash, to_hash: b.hash, patch: createPatch(a.values, b.values) });
});

// ------------------------------------------------------------------ rollouts and release

adminConfigApp.post("/namespaces/:ns/rollouts", requireAuth("config.publish"), async (c) => {
  const { ns, stub } = nsOf(c);
  const body = await readJson(c, StartRollout);
  if (body.plan === undefined) throw unprocessable("invalid_plan", "plan is required", [{ path: "/plan", message: "required" }]);
  const v = validatePlan(body.plan, configuredRegions(c.env));
  if (!v.ok) throw unprocessable("invalid_plan", "The rollout plan is invalid", v.issues);
  const r = await stub.startRollout(ns, { version: body.version, plan: v.plan }, c.get("principal").actor);
  return c.json(r, 201);
});

adminConfigApp.get("/namespaces/:ns/rollouts", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  const q = parseWith(RolloutListQuery, c.req.query(), "invalid_query", "Invalid query");
  return c.json({ rollouts: await stub.listRollouts(ns, q.limit) });
});

adminConfigApp.get("/namespaces/:ns/rollouts/:id", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  return c.json(await stub.getRollout(ns, c.req.param("id")));
});

adminConfigApp.post("/namespaces/:ns/rollouts/:id/:action", requireAuth("rollout.control"), async (c) => {
  const action = c.req.param("action") as string;
  if (!(ACTIONS as readonly string[]).includes(action)) throw new ApiError(404, "not_found", `Unknown rollout action '${action}'`, { actions: ACTIONS });
  if (action === "approve") assertRole(c, "rollout.approve");
  const { ns, stub } = nsOf(c);
  return c.json(await stub.control(ns, action as ControlAction, c.req.param("id"), c.get("principal").actor));
});

adminConfigApp.post("/namespaces/:ns/rollback", requireAuth("rollout.control"), async (c) => {
  const { ns, stub } = nsOf(c);
  const body = await readJson(c, Rollback);
  return c.json(await stub.rollback(ns, body.to_version, body.reason, c.get("principal").actor));
});

adminConfigApp.get("/namespaces/:ns/release", requireAuth("admin.read"), async (c) => {
  const { ns, stub } = nsOf(c);
  return c.json(await stub.getRelease(ns));
});
