import { Map3 } from "../../lib/clicks/cell-table";
import type { CountRow } from "../../lib/clicks/flush-sql";
import { hasRows } from "../../lib/sql-migrations";

/**
 * The Analytics Engine outbox of a flush pipeline (ClickAggregator; a ClickShard for flushes it wrote
 * to D1 before the aggregators): the clicks of every flush D1 took, summed per (campaign, ad, region),
 * queued in the transaction that records the flush as done, and written to AE at most 250 points per
 * invocation.
 *
 * `ae_batches` (v3 of the pipeline tables): one row per flush, its points as one JSON array and how many
 * of them were written. One insert per flush; `ae_outbox` (one row per point, a JSON extraction per
 * column) cost about 5 % of the Worker thread under the bench's load, and is now only drained.
 */
// IF NOT EXISTS: the upgrade tests rewind an object's schema version and replay the later migrations on it.
export const AE_BATCHES_TABLE = `CREATE TABLE IF NOT EXISTS ae_batches (id INTEGER PRIMARY KEY, points TEXT NOT NULL, n INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0);`;

/** Analytics Engine accepts at most 250 data points per invocation. */
export const AE_POINTS_PER_INVOCATION = 250;

/** After an Analytics Engine write error, the object waits this long before the next attempt. */
export const AE_RETRY_MS = 5_000;

type Point = [string, string, string, number];

/** Queues a delivered flush's clicks for Analytics Engine, summed per (campaign, ad, region) (inside the caller's transaction). */
export function queueAnalytics(sql: SqlStorage, counts: Iterable<CountRow>): void {
  const points = new Map3<Point>();
  for (const [, c, a, r, n] of counts) {
    const p = points.get(c, a, r);
    if (p) p[3] += n;
    else points.set(c, a, r, [c, a, r, n]);
  }
  const list = [...points.values()];
  if (list.length === 0) return;
  sql.exec("INSERT INTO ae_batches (points, n) VALUES (?, ?)", JSON.stringify(list), list.length);
}

/** True while points wait for Analytics Engine. */
export function hasAnalytics(sql: SqlStorage): boolean {
  return hasRows(sql, "SELECT 1 FROM ae_batches LIMIT 1") || hasRows(sql, "SELECT 1 FROM ae_outbox LIMIT 1");
}

/** Points waiting for Analytics Engine. */
export function analyticsPending(sql: SqlStorage): number {
  return Number(sql.exec<{ n: number }>("SELECT (SELECT count(*) FROM ae_outbox) + (SELECT coalesce(sum(n - sent), 0) FROM ae_batches) AS n").one().n);
}

/**
 * Writes up to 250 queued points to Analytics Engine (one data point per cell and flush; the double is
 * the click count), oldest first. What was written is marked (deleted, or counted in `sent`) in the
 * same synchronous run as the writes, so an error part-way never re-sends the points before it; only a
 * crash between write and mark can (AE is at-least-once, D1 is the exact record). Returns false when a
 * write failed (the caller backs off).
 */
export function drainAnalytics(sql: SqlStorage, ae: AnalyticsEngineDataset): boolean {
  let budget = AE_POINTS_PER_INVOCATION;
  // rows of the per-point outbox, queued before ae_batches
  const legacy = sql.exec<{ id: number; c: string; a: string; r: string; n: number }>("SELECT id, c, a, r, n FROM ae_outbox ORDER BY id LIMIT ?", budget).toArray();
  let written = 0;
  try {
    for (const row of legacy) {
      ae.writeDataPoint(analyticsPoint(row.c, row.a, row.r, row.n));
      written++;
    }
  } catch (err) {
    return failed(err);
  } finally {
    if (written > 0) sql.exec("DELETE FROM ae_outbox WHERE id <= ?", legacy[written - 1].id);
  }
  budget -= written;
  while (budget > 0) {
    const row = sql.exec<{ id: number; n: number; sent: number }>("SELECT id, n, sent FROM ae_batches ORDER BY id LIMIT 1").toArray()[0];
    if (!row) break;
    const points = batchPoints(sql, row);
    const end = Math.min(points.length, row.sent + budget);
    let i = row.sent;
    try {
      for (; i < end; i++) ae.writeDataPoint(analyticsPoint(...points[i]));
    } catch (err) {
      return failed(err);
    } finally {
      if (i >= points.length) {
        sql.exec("DELETE FROM ae_batches WHERE id = ?", row.id);
        parsedBatches.delete(sql);
      } else if (i > row.sent) sql.exec("UPDATE ae_batches SET sent = ? WHERE id = ?", i, row.id);
    }
    budget -= end - row.sent;
  }
  return true;
}

/**
 * The batch being drained, parsed once: a flush's row holds up to ~1 000 points and is written 250 per
 * invocation, so reading and parsing its JSON at every invocation cost more than the writes (≈ 2 % of
 * the Worker thread under the bench's load). Keyed by the object's SqlStorage; checked against the row's
 * id and point count, and forgotten when the row is deleted (a later row may reuse its id).
 */
const parsedBatches = new WeakMap<SqlStorage, { id: number; points: Point[] }>();

function batchPoints(sql: SqlStorage, row: { id: number; n: number }): Point[] {
  const cached = parsedBatches.get(sql);
  if (cached && cached.id === row.id && cached.points.length === row.n) return cached.points;
  const text = sql.exec<{ points: string }>("SELECT points FROM ae_batches WHERE id = ?", row.id).one().points;
  const points = JSON.parse(text) as Point[];
  parsedBatches.set(sql, { id: row.id, points });
  return points;
}

function failed(err: unknown): false {
  console.error("analytics engine write failed", (err as Error)?.message ?? String(err));
  return false;
}

/** Analytics Engine limits: the index at most 96 bytes, blobs at most 16 KB together. */
export const AE_MAX_INDEX_BYTES = 96;
const utf8 = new TextEncoder();

/** The longest prefix of `s` (whole code points) that fits in `max` UTF-8 bytes. */
export function truncateUtf8(s: string, max: number): string {
  // a UTF-16 code unit is at most 3 UTF-8 bytes: short strings need no encoding
  if (s.length * 3 <= max || utf8.encode(s).byteLength <= max) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const len = utf8.encode(ch).byteLength;
    if (bytes + len > max) break;
    out += ch;
    bytes += len;
  }
  return out;
}

/** One AE data point: blobs campaign, ad, region (ids ≤ 64 chars: ≤ 256 bytes each); index campaign cut to 96 bytes. */
export function analyticsPoint(c: string, a: string, r: string, n: number): AnalyticsEngineDataPoint {
  return { blobs: [c, a, r], doubles: [n], indexes: [truncateUtf8(c, AE_MAX_INDEX_BYTES)] };
}
