/**
 * D1 schema (drizzle). Migrations in migrations/ are generated from this file by `npm run db:generate`.
 * docs/STORAGE.md describes every table.
 */
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** API tokens. Only the SHA-256 of a token is stored; the token itself is shown once. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    role: text("role").notNull(),
    /** JSON array of namespace names, or ["*"]. */
    namespaces: text("namespaces").notNull(),
    tokenHash: text("token_hash").notNull(),
    createdAt: text("created_at").notNull(),
    createdBy: text("created_by").notNull(),
    revokedAt: text("revoked_at"),
  },
  (t) => [uniqueIndex("tokens_hash_idx").on(t.tokenHash)],
);

/** A read model of every namespace for listing; the namespace's RolloutCoordinator is the authority. */
export const namespaces = sqliteTable("namespaces", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  approvalsRequired: integer("approvals_required").notNull().default(0),
  latestVersion: integer("latest_version").notNull().default(0),
  activeRolloutId: text("active_rollout_id"),
  generation: integer("generation").notNull().default(0),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/** The tamper-evident audit log: one global hash chain ordered by seq. Append-only. */
export const auditLog = sqliteTable(
  "audit_log",
  {
    seq: integer("seq").primaryKey(),
    /** Idempotency key of the producer (e.g. `ns:checkout:42`), so redelivery appends nothing. */
    eventId: text("event_id").notNull(),
    ts: text("ts").notNull(),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    namespace: text("namespace"),
    version: integer("version"),
    rolloutId: text("rollout_id"),
    /** Canonical JSON. */
    details: text("details").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull(),
  },
  (t) => [uniqueIndex("audit_event_idx").on(t.eventId), index("audit_ns_idx").on(t.namespace, t.seq)],
);
