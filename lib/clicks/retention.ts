import { DAY_MS, windowStart } from "./metrics-window";

/**
 * Retention of the click tables in D1 (pure: settings, cut-offs and the statements of one slice).
 * The Cron Trigger in workers/retention.ts runs the slices; docs/STORAGE.md ("Retention") argues
 * why each step is exactly once and bounded.
 */

export interface RetentionSettings {
  /** Minute cells of days older than this are rolled up into `click_counts_daily`. */
  minuteDays: number;
  /** Daily cells (and ingest statistics) of days older than this are deleted. */
  dailyDays: number;
}

/** The vars this module reads (a Worker's Env satisfies it). */
export interface RetentionVars {
  CLICK_MINUTE_RETENTION_DAYS?: unknown;
  CLICK_DAILY_RETENTION_DAYS?: unknown;
}

export const DEFAULT_MINUTE_DAYS = 35;
export const DEFAULT_DAILY_DAYS = 800;

/**
 * Ledger rows younger than this are never pruned. Only a source's newest flush can be re-sent (flushes
 * are applied in order and dropped once acknowledged), and its row is the source's highest, which
 * pruning always keeps; the age is a margin on top (docs/STORAGE.md, "Retention").
 */
export const LEDGER_SAFE_AGE_MS = 7 * DAY_MS;

/** Rows one statement of a slice may touch: well inside D1's per-query time limit. */
export const SLICE_ROWS = 10_000;
/**
 * Rounds one run may take (a round sends one slice per step that still has work: at most 4 batches),
 * and the wall time after which it starts no new round.
 */
export const MAX_ROUNDS_PER_RUN = 12;
export const RUN_BUDGET_MS = 20_000;

function days(v: unknown, dflt: number, min: number): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : typeof v === "number" ? v : NaN;
  return Number.isFinite(n) ? Math.min(100_000, Math.max(min, Math.floor(n))) : dflt;
}

export function retentionSettings(vars: RetentionVars): RetentionSettings {
  // A day of minutes is the least: the cut-off is a whole day behind the newest data anyway.
  const minuteDays = days(vars.CLICK_MINUTE_RETENTION_DAYS, DEFAULT_MINUTE_DAYS, 1);
  // Daily rows never go before the minutes they came from would have.
  const dailyDays = Math.max(minuteDays, days(vars.CLICK_DAILY_RETENTION_DAYS, DEFAULT_DAILY_DAYS, 1));
  return { minuteDays, dailyDays };
}

export interface Cutoffs {
  /** Minute rows with window_start below this (a UTC midnight) are rolled up. */
  rollupBefore: number;
  /** Daily rows (and ingest statistics) with a day below this (a UTC midnight) are deleted. */
  deleteBefore: number;
  /** Ledger rows flushed before this instant (ISO 8601, as flushes write it) may be pruned. */
  ledgerBefore: string;
}

export function cutoffs(now: number, s: RetentionSettings): Cutoffs {
  const today = windowStart(now, "day");
  return {
    rollupBefore: today - s.minuteDays * DAY_MS,
    deleteBefore: today - s.dailyDays * DAY_MS,
    ledgerBefore: new Date(now - LEDGER_SAFE_AGE_MS).toISOString(),
  };
}

export interface SliceStatement {
  sql: string;
  params: (string | number)[];
}

/** One retention step: the statements of one slice, sent as one D1 batch (one transaction). */
export interface RetentionStep {
  name: "rollup" | "expire_daily" | "expire_stats" | "prune_ledger";
  statements: SliceStatement[];
  /** Index of the statement whose `changes` count the rows the slice handled. */
  counted: number;
}

/**
 * The oldest `limit` minute rows before the cut-off, in primary-key order: a total order on a unique
 * key, so both statements of a slice (in one transaction) pick exactly the same rows.
 */
const OLDEST_MINUTES =
  "SELECT rowid FROM click_counts WHERE window_start < ?1 ORDER BY window_start, campaign_id, ad_id, region LIMIT ?2";

const ROLLUP_INSERT =
  "INSERT INTO click_counts_daily (day, campaign_id, ad_id, region, clicks) " +
  `SELECT window_start - window_start % ${DAY_MS}, campaign_id, ad_id, region, sum(clicks) FROM click_counts ` +
  `WHERE rowid IN (${OLDEST_MINUTES}) GROUP BY 1, 2, 3, 4 ` +
  "ON CONFLICT (day, campaign_id, ad_id, region) DO UPDATE SET clicks = clicks + excluded.clicks";

const ROLLUP_DELETE = `DELETE FROM click_counts WHERE rowid IN (${OLDEST_MINUTES})`;

const EXPIRE_DAILY =
  "DELETE FROM click_counts_daily WHERE rowid IN " +
  "(SELECT rowid FROM click_counts_daily WHERE day < ?1 ORDER BY day, campaign_id, ad_id, region LIMIT ?2)";

const EXPIRE_STATS =
  "DELETE FROM ingest_stats WHERE rowid IN (SELECT rowid FROM ingest_stats WHERE window_start < ?1 ORDER BY window_start, source LIMIT ?2)";

/**
 * Ledger rows past the safe age, except each source's highest flush_id: a flushing object that lost
 * its storage starts its flush ids above that row (ensureFlushIdFloor in durable-objects/clicks/flush-pipeline.ts), so it must stay.
 */
const PRUNE_LEDGER =
  "DELETE FROM click_flush_ledger WHERE rowid IN (SELECT l.rowid FROM click_flush_ledger AS l " +
  "WHERE l.flushed_at < ?1 AND l.flush_id < (SELECT max(m.flush_id) FROM click_flush_ledger AS m WHERE m.source = l.source) " +
  "ORDER BY l.flushed_at LIMIT ?2)";

export function retentionSteps(c: Cutoffs, limit = SLICE_ROWS): RetentionStep[] {
  return [
    {
      name: "rollup",
      statements: [
        { sql: ROLLUP_INSERT, params: [c.rollupBefore, limit] },
        { sql: ROLLUP_DELETE, params: [c.rollupBefore, limit] },
      ],
      counted: 1,
    },
    { name: "expire_daily", statements: [{ sql: EXPIRE_DAILY, params: [c.deleteBefore, limit] }], counted: 0 },
    { name: "expire_stats", statements: [{ sql: EXPIRE_STATS, params: [c.deleteBefore, limit] }], counted: 0 },
    { name: "prune_ledger", statements: [{ sql: PRUNE_LEDGER, params: [c.ledgerBefore, limit] }], counted: 0 },
  ];
}
