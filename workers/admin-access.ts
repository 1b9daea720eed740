import { AuditQuery, CreateToken, TokenListQuery } from "../lib/api/admin-access";
import { appendAudit, listAudit, verifyAudit } from "./lib/audit-store";
import { assertScope, requireAuth } from "./lib/auth";
import { readJson, parseWith } from "./lib/body";
import { newSubApp } from "./lib/app-factory";
import type { Principal } from "./lib/context";
import { getToken, listTokens, mirrorToken, newTokenSecret } from "./lib/token-store";
import { ApiError, notFound } from "../lib/errors";
import { roleWithin, scopeWithin, type Role } from "../lib/roles";
import { sha256Hex } from "../lib/canonical-json";
import { drizzle } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import { tokens } from "../db/schema";

/** Admin routes for access control and the audit log: /admin/v1/tokens, /admin/v1/audit. */
export const adminAccessApp = newSubApp();

/**
 * A token manages only what lies within it: it mints tokens whose role is at most its own and whose
 * namespaces lie within its own, and it sees and revokes only tokens within its scope (so only an
 * unscoped admin manages unscoped tokens). Without `namespaces`, a new token gets its minter's scope.
 */
function assertMintable(p: Principal, role: Role, scope: readonly string[]): void {
  if (!roleWithin(role, p.role)) {
    throw new ApiError(403, "forbidden_role", `A '${p.role}' token cannot mint a '${role}' token`, { role: p.role, requested_role: role });
  }
  if (!scopeWithin(scope, p.namespaces)) {
    const outside = scope.includes("*") ? ["*"] : scope.filter((ns) => !p.namespaces.includes(ns));
    throw new ApiError(403, "forbidden_namespace", "A token can only mint tokens within its own namespace scope", {
      scope: p.namespaces,
      outside_scope: outside,
    });
  }
}

adminAccessApp.post("/tokens", requireAuth("tokens.manage"), async (c) => {
  const body = await readJson(c, CreateToken);
  const p = c.get("principal");
  const requested = body.namespaces ?? [...p.namespaces];
  const scope = requested.includes("*") ? ["*"] : [...new Set(requested)].sort();
  assertMintable(p, body.role, scope);
  const { id, token } = newTokenSecret();
  const createdAt = new Date().toISOString();
  const tokenHash = await sha256Hex(token);
  const insert = drizzle(c.env.DB).insert(tokens).values({
    id,
    name: body.name,
    role: body.role,
    namespaces: JSON.stringify(scope),
    tokenHash,
    createdAt,
    createdBy: p.actor,
  });
  await appendAudit(
    c.env.DB,
    { eventId: `token:create:${id}`, ts: createdAt, actor: p.actor, action: "token.created", details: { token_id: id, name: body.name, role: body.role, namespaces: scope } },
    [insert],
  );
  // KV mirror for token checks during a D1 outage (workers/lib/auth.ts); D1 stays the authority.
  await mirrorToken(c.env.CONFIG_KV, tokenHash, { id, name: body.name, role: body.role, namespaces: scope, revokedAt: null }).catch((e) =>
    console.error("token mirror write failed", String((e as Error)?.message ?? e)),
  );
  return c.json({ id, token, name: body.name, role: body.role, namespaces: scope, created_at: createdAt }, 201);
});

adminAccessApp.get("/tokens", requireAuth("tokens.manage"), async (c) => {
  const q = parseWith(TokenListQuery, c.req.query(), "invalid_query");
  const list = await listTokens(c.env.DB, q.limit, c.get("principal").namespaces);
  return c.json({
    tokens: list.map((t) => ({ id: t.id, name: t.name, role: t.role, namespaces: t.namespaces, created_at: t.createdAt, created_by: t.createdBy, revoked_at: t.revokedAt })),
  });
});

adminAccessApp.delete("/tokens/:id", requireAuth("tokens.manage"), async (c) => {
  const id = c.req.param("id");
  const p = c.get("principal");
  const t = await getToken(c.env.DB, id);
  // A token outside the caller's scope is invisible to it, as in the list: 404, not 403.
  if (!t || !scopeWithin(t.namespaces, p.namespaces)) throw notFound("token_not_found", `No token '${id}'`);
  if (t.revokedAt) {
    await mirrorToken(c.env.CONFIG_KV, t.tokenHash, t); // a retry after a failed mirror write completes it
    return c.json({ id, revoked_at: t.revokedAt });
  }
  const revokedAt = new Date().toISOString();
  const audit = await appendAudit(
    c.env.DB,
    { eventId: `token:revoke:${id}`, ts: revokedAt, actor: p.actor, action: "token.revoked", details: { token_id: id, name: t.name } },
    [drizzle(c.env.DB).update(tokens).set({ revokedAt }).where(eq(tokens.id, id))],
  );
  // The KV mirror must not outlive the revocation; if this write fails the 500 asks for a retry.
  await mirrorToken(c.env.CONFIG_KV, t.tokenHash, { ...t, revokedAt });
  // A concurrent revocation won the race (its audit entry and update committed, ours did not): report its time.
  return c.json({ id, revoked_at: audit.duplicate ? ((await getToken(c.env.DB, id))?.revokedAt ?? revokedAt) : revokedAt });
});

adminAccessApp.get("/audit", requireAuth("admin.read"), async (c) => {
  const q = parseWith(AuditQuery, c.req.query(), "invalid_query");
  if (q.namespace) assertScope(c, q.namespace);
  const entries = await listAudit(c.env.DB, {
    namespace: q.namespace,
    after: q.after,
    limit: q.limit,
    scope: c.get("principal").namespaces,
    newestFirst: q.order === "desc",
  });
  const last = entries[entries.length - 1];
  return c.json({ entries, next_after: q.order === "asc" && entries.length === q.limit && last ? last.seq : null });
});

adminAccessApp.get("/audit/verify", requireAuth("admin.read"), async (c) => {
  if (!c.get("principal").namespaces.includes("*")) {
    throw new ApiError(403, "forbidden_namespace", "Verifying the whole audit chain needs a token scoped to '*'");
  }
  return c.json(await verifyAudit(c.env.DB));
});
