import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { tokens } from "../../db/schema";
import type { Role } from "../../lib/roles";

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  namespaces: string[];
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
  /** SHA-256 (hex) of the secret; the key of the token's KV mirror. */
  tokenHash: string;
}

function toRecord(r: typeof tokens.$inferSelect): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    role: r.role as Role,
    namespaces: JSON.parse(r.namespaces) as string[],
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    revokedAt: r.revokedAt,
    tokenHash: r.tokenHash,
  };
}

export async function findActiveTokenByHash(db: D1Database, hash: string): Promise<TokenRecord | null> {
  const rows = await drizzle(db)
    .select()
    .from(tokens)
    .where(and(eq(tokens.tokenHash, hash), isNull(tokens.revokedAt)))
    .limit(1);
  return rows[0] ? toRecord(rows[0]) : null;
}

/** Newest first; with a namespace scope, only tokens whose namespaces all lie within it (never `*` ones). */
export async function listTokens(db: D1Database, limit: number, scope: readonly string[] = ["*"]): Promise<TokenRecord[]> {
  // The scope travels as one JSON parameter (D1 binds at most 100 per query; a scope holds up to 100).
  const within = scope.includes("*")
    ? undefined
    : sql`NOT EXISTS (SELECT 1 FROM json_each(${tokens.namespaces}) WHERE value NOT IN (SELECT value FROM json_each(${JSON.stringify(scope)})))`;
  const rows = await drizzle(db).select().from(tokens).where(within).orderBy(desc(tokens.createdAt)).limit(limit);
  return rows.map(toRecord);
}

export async function getToken(db: D1Database, id: string): Promise<TokenRecord | null> {
  const rows = await drizzle(db).select().from(tokens).where(eq(tokens.id, id)).limit(1);
  return rows[0] ? toRecord(rows[0]) : null;
}

function randomBase64Url(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function newTokenSecret(): { id: string; token: string } {
  return { id: "tok_" + randomBase64Url(9), token: "ept_" + randomBase64Url(32) };
}

/**
 * KV mirror of a token (`tok:<sha256>`), so that token checks keep working while D1 is unreachable
 * (workers/lib/auth.ts). Written on create and revoke, and on a token's first successful D1 check in
 * an isolate when missing (tokens older than the mirror).
 */
export const tokenMirrorKey = (hash: string): string => `tok:${hash}`;

export interface TokenMirror {
  id: string;
  name: string;
  role: Role;
  namespaces: string[];
  revoked_at: string | null;
}

export async function mirrorToken(kv: KVNamespace, hash: string, t: { id: string; name: string; role: Role; namespaces: string[]; revokedAt: string | null }): Promise<void> {
  const m: TokenMirror = { id: t.id, name: t.name, role: t.role, namespaces: t.namespaces, revoked_at: t.revokedAt };
  await kv.put(tokenMirrorKey(hash), JSON.stringify(m));
}

export async function readTokenMirror(kv: KVNamespace, hash: string): Promise<TokenMirror | null> {
  return kv.get<TokenMirror>(tokenMirrorKey(hash), "json");
}
