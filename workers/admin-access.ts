import { AuditQuery, CreateToken, TokenListQuery } from "../lib/api/admin-access";
import { appendAudit, listAudit, verifyAudit } from "./lib/audit-store";
import { assertScope, requireAuth } from "./lib/auth";
import { readJson, parseWith } from "./lib/body";
import { newSubApp } from "./lib/app-factory";
import { getToken, listTokens, newTokenSecret } from "./lib/token-store";
import { ApiError, notFound } from "../lib/errors";
import { sha256Hex } from "../lib/canonical-json";
import { drizzle } from "drizzle-orm/d1";
import { eq } from "drizzle-orm";
import { tokens } from "../db/schema";

/** Admin routes for access control and the audit log: /admin/v1/tokens, /admin/v1/audit. */
export const adminAccessApp = newSubApp();

adminAccessApp.post("/tokens", requireAuth("tokens.manage"), async (c) => {
  const body = await readJson(c, CreateToken);
  const p = c.get("principal");
  const { id, token } = newTokenSecret();
  const createdAt = new Date().toISOString();
  const scope = body.namespaces.includes("*") ? ["*"] : [...new Set(body.namespaces)].sort();
  const insert = drizzle(c.env.DB).insert(tokens).values({
    id,
    name: body.name,
    role: body.role,
    namespaces: JSON.stringify(scope),
    tokenHash: await sha256Hex(token),
    createdAt,
    createdBy: p.actor,
  });
  await appendAudit(
    c.env.DB,
    { eventId: `token:create:${id}`, ts: createdAt, actor: p.actor, action: "token.created", details: { token_id: id, name: body.name, role: body.role, namespaces: scope } },
    [insert],
  );
  return c.json({ id, token, name: body.name, role: body.role, namespaces: scope, created_at: createdAt }, 201);
});

adminAccessApp.get("/tokens", requireAuth("tokens.manage"), async (c) => {
  const q = parseWith(TokenListQuery, c.req.query(), "invalid_query");
  const list = await listTokens(c.env.DB, q.limit);
  return c.json({
    tokens: list.map((t) => ({ id: t.id, name: t.name, role: t.role, namespaces: t.namespaces, created_at: t.createdAt, created_by: t.createdBy, revoked_at: t.revokedAt })),
  });
});

adminAccessApp.delete("/tokens/:id", requireAuth("tokens.manage"), async (c) => {
  const id = c.req.param("id");
  const t = await getToken(c.env.DB, id);
  if (!t) throw notFound("token_not_found", `No token '${id}'`);
  if (t.revokedAt) return c.json({ id, revoked_at: t.revokedAt });
  const p = c.get("principal");
  const revokedAt = new Date().toISOString();
  const audit = await appendAudit(
    c.env.DB,
    { eventId: `token:revoke:${id}`, ts: revokedAt, actor: p.actor, action: "token.revoked", details: { token_id: id, name: t.name } },
    [drizzle(c.env.DB).update(tokens).set({ revokedAt }).where(eq(tokens.id, id))],
  );
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
