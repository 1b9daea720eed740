import { and, asc, desc, eq, gt, inArray, type SQL } from "drizzle-orm";
import { drizzle, type DrizzleD1Database } from "drizzle-orm/d1";
import type { BatchItem } from "drizzle-orm/batch";
import { auditLog } from "../db/schema";
import { chainHash, GENESIS_HASH, verifyChain, type AuditFields, type VerifyResult } from "./audit-chain";
import { canonicalJson } from "./canonical-json";

export interface AuditInput {
  /** Producer's idempotency key: appending the same eventId twice appends once. */
  eventId: string;
  ts?: string;
  actor: string;
  action: string;
  namespace?: string | null;
  version?: number | null;
  rolloutId?: string | null;
  details?: unknown;
}

export interface AuditEntry extends AuditFields {
  prev_hash: string;
  hash: string;
}

const MAX_ATTEMPTS = 40;

/**
 * Appends one entry to the global hash chain, optionally in the same D1 transaction as other writes
 * (`alongWith`), so a change and its audit entry commit together. Concurrent appenders race on the
 * seq primary key; the loser re-reads the head and tries again.
 */
export async function appendAudit(
  d1: D1Database,
  input: AuditInput,
  alongWith: BatchItem<"sqlite">[] = [],
): Promise<{ seq: number; hash: string; duplicate: boolean }> {
  const db = drizzle(d1);
  const ts = input.ts ?? new Date().toISOString();
  const detailsJson = canonicalJson(input.details ?? null);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await db.select({ seq: auditLog.seq, hash: auditLog.hash }).from(auditLog).where(eq(auditLog.eventId, input.eventId)).limit(1);
    if (existing[0]) return { ...existing[0], duplicate: true };
    const head = await db.select({ seq: auditLog.seq, hash: auditLog.hash }).from(auditLog).orderBy(desc(auditLog.seq)).limit(1);
    const seq = (head[0]?.seq ?? 0) + 1;
    const prevHash = head[0]?.hash ?? GENESIS_HASH;
    const fields = {
      seq,
      ts,
      actor: input.actor,
      action: input.action,
      namespace: input.namespace ?? null,
      version: input.version ?? null,
      rollout_id: input.rolloutId ?? null,
      details: JSON.parse(detailsJson) as unknown,
    };
    const hash = await chainHash(prevHash, fields);
    const insert = db.insert(auditLog).values({
      seq,
      eventId: input.eventId,
      ts,
      actor: fields.actor,
      action: fields.action,
      namespace: fields.namespace,
      version: fields.version,
      rolloutId: fields.rollout_id,
      details: detailsJson,
      prevHash,
      hash,
    });
    try {
      await db.batch([insert, ...alongWith]);
      return { seq, hash, duplicate: false };
    } catch (e) {
      if (!/UNIQUE constraint failed: audit_log/i.test(String((e as Error)?.message ?? e))) throw e;
      // Full-jitter exponential backoff (capped): linear backoff kept many writers colliding until they gave up.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(250, 4 * 2 ** attempt)));
    }
  }
  throw new Error("audit append: too much contention");
}

function toEntry(r: typeof auditLog.$inferSelect): AuditEntry {
  return {
    seq: r.seq,
    ts: r.ts,
    actor: r.actor,
    action: r.action,
    namespace: r.namespace,
    version: r.version,
    rollout_id: r.rolloutId,
    details: JSON.parse(r.details) as unknown,
    prev_hash: r.prevHash,
    hash: r.hash,
  };
}

/**
 * Entries after `after` (seq), oldest first, optionally for one namespace; `scope` limits what a
 * namespace-scoped token can see (entries without a namespace are shown only to `*` tokens).
 */
export async function listAudit(
  d1: D1Database,
  opts: { namespace?: string; after?: number; limit: number; scope: readonly string[]; newestFirst?: boolean },
): Promise<AuditEntry[]> {
  const db = drizzle(d1);
  const conds: SQL[] = [];
  if (opts.after !== undefined) conds.push(gt(auditLog.seq, opts.after));
  if (opts.namespace) conds.push(eq(auditLog.namespace, opts.namespace));
  if (!opts.scope.includes("*")) conds.push(inArray(auditLog.namespace, [...opts.scope]));
  const rows = await db
    .select()
    .from(auditLog)
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(opts.newestFirst ? desc(auditLog.seq) : asc(auditLog.seq))
    .limit(opts.limit);
  return rows.map(toEntry);
}

/** Recomputes the whole chain from the genesis hash, a page at a time. */
export async function verifyAudit(d1: D1Database): Promise<VerifyResult> {
  const db: DrizzleD1Database = drizzle(d1);
  const PAGE = 1000;
  let anchor = { seq: 0, hash: GENESIS_HASH };
  let checked = 0;
  for (;;) {
    const rows = await db.select().from(auditLog).where(gt(auditLog.seq, anchor.seq)).orderBy(asc(auditLog.seq)).limit(PAGE);
    if (rows.length === 0) break;
    const entries = rows.map(toEntry);
    const r = await verifyChain(entries, anchor);
    checked += r.checked;
    if (!r.ok) return { ...r, checked };
    // prev_hash stored in each row must agree too (it is redundant but a tamperer could edit it).
    const last = entries[entries.length - 1];
    anchor = { seq: last.seq, hash: last.hash };
    if (rows.length < PAGE) break;
  }
  return { ok: true, checked, head: anchor.hash, first_bad_seq: null, reason: null };
}
