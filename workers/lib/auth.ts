import type { MiddlewareHandler } from "hono";
import { ApiError } from "../../lib/errors";
import { sha256Hex } from "../../lib/canonical-json";
import { LruMap, VerdictCache } from "../../lib/lru";
import { roleAllows, scopeAllows, type Permission, type Role } from "../../lib/roles";
import { withTimeout } from "../../lib/timeout";
import type { AppContext, AppEnv, Principal } from "./context";
import { findActiveTokenByHash, mirrorToken, readTokenMirror } from "./token-store";

/**
 * Token checks (docs/security.md, docs/production.md §7). D1 is the authority; verdicts are cached per
 * isolate (valid AUTH_CACHE_MS, invalid INVALID_CACHE_MS, each LRU-bounded on its own so bad tokens
 * never evict good ones), so a revocation takes effect within AUTH_CACHE_MS everywhere. When D1 fails
 * or is slow, tokens are checked against their KV mirror instead (written on create and revoke), so
 * config reads and click ingest keep working through a D1 outage.
 */
const AUTH_CACHE_MS = 2000;
const INVALID_CACHE_MS = 500;
const AUTH_CACHE_MAX = 10_000;
const MAX_TOKEN_LENGTH = 512;
const D1_TIMEOUT_MS = 1000;
/** After a D1 failure, this isolate checks tokens against the KV mirror only, for this long. */
const D1_BACKOFF_MS = 5000;
// Keyed by the presented token itself (memory only, never logged or stored) so that a cache hit on
// the hot edge path costs a map lookup, not a SHA-256.
const cache = new VerdictCache<Principal>(AUTH_CACHE_MAX, AUTH_CACHE_MAX);
/** Hashes whose KV mirror this isolate has confirmed. */
const mirrored = new LruMap<string, true>(AUTH_CACHE_MAX);
let d1DownUntil = 0;

export function clearAuthCache(): void {
  cache.clear();
  mirrored.clear();
  d1DownUntil = 0;
}

const principalOf = (t: { id: string; name: string; role: Role; namespaces: readonly string[] }): Principal => ({
  tokenId: t.id,
  name: t.name,
  role: t.role,
  namespaces: t.namespaces,
  actor: `token:${t.id} (${t.name})`,
});

const message = (e: unknown) => String((e as Error)?.message ?? e).slice(0, 200);

/** Mirrors a token D1 knows into KV once per isolate if the mirror is missing (tokens older than the mirror). */
async function backfillMirror(env: Env, hash: string, t: Parameters<typeof mirrorToken>[2]): Promise<void> {
  if (mirrored.get(hash)) return;
  try {
    if (!(await readTokenMirror(env.CONFIG_KV, hash))) await mirrorToken(env.CONFIG_KV, hash, t);
    mirrored.set(hash, true);
  } catch (e) {
    console.error("token mirror backfill failed", message(e));
  }
}

async function lookup(env: Env, hash: string): Promise<Principal | null> {
  if (Date.now() >= d1DownUntil) {
    try {
      const row = await withTimeout(findActiveTokenByHash(env.DB, hash), D1_TIMEOUT_MS, "D1 token lookup");
      if (!row) return null;
      await backfillMirror(env, hash, row);
      return principalOf(row);
    } catch (e) {
      console.error("D1 token lookup failed; checking the KV mirror", message(e));
      d1DownUntil = Date.now() + D1_BACKOFF_MS;
    }
  }
  let m;
  try {
    m = await readTokenMirror(env.CONFIG_KV, hash);
  } catch (e) {
    throw new ApiError(503, "auth_unavailable", "Tokens cannot be checked right now; retry shortly", { cause: message(e) });
  }
  return m && m.revoked_at === null ? principalOf(m) : null;
}

async function resolve(env: Env, token: string): Promise<Principal | null> {
  const now = Date.now();
  const hit = cache.get(token, now);
  if (hit.hit) return hit.value;
  const hash = await sha256Hex(token);
  let principal: Principal | null;
  if (env.ADMIN_TOKEN && hash === (await sha256Hex(env.ADMIN_TOKEN))) {
    principal = { tokenId: "bootstrap", name: "bootstrap admin", role: "admin", namespaces: ["*"], actor: "admin:bootstrap" };
  } else {
    principal = await lookup(env, hash);
  }
  // Failed lookups are cached too, but briefly, so a flood of bad tokens does not hammer D1.
  if (principal) cache.setValid(token, principal, now + AUTH_CACHE_MS);
  else cache.setInvalid(token, now + INVALID_CACHE_MS);
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
