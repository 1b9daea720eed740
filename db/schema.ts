/**
 * D1 schema (drizzle). Migrations in migrations/ are generated from this file by `npm run db:generate`.
 * docs/STORAGE.md describes every table.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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

/** Clicks per one-minute event-time window (UTC) and dimension cell. Only flushes write it (additively). */
export const clickCounts = sqliteTable(
  "click_counts",
  {
    /** Epoch milliseconds of the start of the UTC minute. */
    windowStart: integer("window_start").notNull(),
    campaignId: text("campaign_id").notNull(),
    adId: text("ad_id").notNull(),
    region: text("region").notNull(),
    clicks: integer("clicks").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.windowStart, t.campaignId, t.adId, t.region] }),
    index("click_counts_campaign_idx").on(t.campaignId, t.windowStart),
  ],
);

/**
 * Clicks per UTC day and dimension cell: minute rows of `click_counts` older than
 * CLICK_MINUTE_RETENTION_DAYS, added here and deleted there in one D1 batch by the retention job
 * (lib/clicks/retention.ts); deleted past CLICK_DAILY_RETENTION_DAYS.
 */
export const clickCountsDaily = sqliteTable(
  "click_counts_daily",
  {
    /** Epoch milliseconds of the start of the UTC day. */
    day: integer("day").notNull(),
    campaignId: text("campaign_id").notNull(),
    adId: text("ad_id").notNull(),
    region: text("region").notNull(),
    clicks: integer("clicks").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.day, t.campaignId, t.adId, t.region] }),
    index("click_counts_daily_campaign_idx").on(t.campaignId, t.day),
  ],
);

/**
 * One row per applied flush, written in the same D1 batch as the counts it applies: replaying a flush
 * whose answer was lost hits the primary key and rolls the whole batch back, so nothing counts twice.
 */
export const clickFlushLedger = sqliteTable(
  "click_flush_ledger",
  {
    /** The flushing object, e.g. `shard:3` or `buffer:1`. */
    source: text("source").notNull(),
    flushId: integer("flush_id").notNull(),
    flushedAt: text("flushed_at").notNull(),
    cells: integer("cells").notNull().default(0),
    clicks: integer("clicks").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.source, t.flushId] }),
    // The retention job finds rows past the safe age through it without scanning the ledger.
    index("click_flush_ledger_flushed_idx").on(t.flushedAt),
  ],
);

/** Ingest health per arrival minute and source: accepted, duplicates, too_late, future, invalid. */
export const ingestStats = sqliteTable(
  "ingest_stats",
  {
    windowStart: integer("window_start").notNull(),
    source: text("source").notNull(),
    accepted: integer("accepted").notNull().default(0),
    duplicates: integer("duplicates").notNull().default(0),
    tooLate: integer("too_late").notNull().default(0),
    future: integer("future").notNull().default(0),
    invalid: integer("invalid").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.windowStart, t.source] })],
);
