import type { MiddlewareHandler } from "hono";
import { ApiError } from "../../lib/errors";
import { sha256Hex } from "../../lib/canonical-json";
import { roleAllows, scopeAllows, type Permission, type Role } from "../../lib/roles";
import type { AppContext, AppEnv, Principal } from "./context";
import { findActiveTokenByHash } from "./token-store";

/**
 * Positive lookups are cached per isolate for a short time so that hot edge reads do not query D1 on
 * every request. A revoked token therefore stops working within AUTH_CACHE_MS on every isolate.
 */
const AUTH_CACHE_MS = 2000;
const AUTH_CACHE_MAX = 10_000;
const MAX_TOKEN_LENGTH = 512;
const cache = new Map<string, { principal: Principal | null; until: number }>();

export function clearAuthCache(): void {
  cache.clear();
}

async function resolve(env: Env, token: string): Promise<Principal | null> {
  // Keyed by the presented token itself (memory only, never logged or stored) so that a cache hit on
  // the hot edge path costs a map lookup, not a SHA-256.
  const now = Date.now();
  const hit = cache.get(token);
  if (hit && hit.until > now) return hit.principal;
  const hash = await sha256Hex(token);

  let principal: Principal | null = null;
  if (env.ADMIN_TOKEN && hash === (await sha256Hex(env.ADMIN_TOKEN))) {
    principal = { tokenId: "bootstrap", name: "bootstrap admin", role: "admin", namespaces: ["*"], actor: "admin:bootstrap" };
  } else {
    const row = await findActiveTokenByHash(env.DB, hash);
    if (row) principal = { tokenId: row.id, name: row.name, role: row.role, namespaces: row.namespaces, actor: `token:${row.id} (${row.name})` };
  }
  if (cache.size >= AUTH_CACHE_MAX) cache.clear();
  // Failed lookups are cached too, but briefly, so a flood of bad tokens does not hammer D1.
  cache.set(token, { principal, until: now + (principal ? AUTH_CACHE_MS : 500) });
  return principal;
}

function bearer(c: AppContext): string {
  const h = c.req.header("authorization");
  if (!h) throw new ApiError(401, "unauthorized", "Missing Authorization: Bearer <token> header");
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  if (!m) throw new ApiError(401, "unauthorized", "Authorization header must be 'Bearer <token>'");
  if (m[1].length > MAX_TOKEN_LENGTH) throw new ApiError(401, "unauthorized", "Invalid or revoked token");
  return m[1];
}

/** Optional authentication: the principal if a valid bearer token is present, else null (never throws 401). */
export async function optionalPrincipal(c: AppContext): Promise<Principal | null> {
  const h = c.req.header("authorization");
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? resolve(c.env, m[1]) : null;
}

/** Middleware: 401 without a valid token, 403 when the token's role lacks `perm`. */
export function requireAuth(perm: Permission): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = await resolve(c.env, bearer(c));
    if (!principal) throw new ApiError(401, "unauthorized", "Invalid or revoked token");
    if (!roleAllows(principal.role, perm)) {
      throw new ApiError(403, "forbidden", `Role '${principal.role}' may not do this (needs ${perm})`, { role: principal.role, permission: perm });
    }
    c.set("principal", principal);
    await next();
  };
}

/** Checks a second permission inside a handler (after requireAuth has run). */
export function assertRole(c: AppContext, perm: Permission): Principal {
  const p = c.get("principal");
  if (!roleAllows(p.role, perm)) {
    throw new ApiError(403, "forbidden", `Role '${p.role}' may not do this (needs ${perm})`, { role: p.role, permission: perm });
  }
  return p;
}

/** 403 unless the caller's token is scoped to `namespace`. */
export function assertScope(c: AppContext, namespace: string): Principal {
  const p = c.get("principal");
  if (!scopeAllows(p.namespaces, namespace)) {
    throw new ApiError(403, "forbidden_namespace", `Token is not scoped to namespace '${namespace}'`, { namespace });
  }
  return p;
}

export function isRole(x: string): x is Role {
  return ["reader", "viewer", "publisher", "approver", "admin"].includes(x);
}
