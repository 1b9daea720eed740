/**
 * The statements of one exactly-once flush to D1, as plain {sql, params}: the ledger row first
 * (a plain INSERT: replaying an applied flush hits its primary key and D1 rolls the whole batch back),
 * then set-based additive upserts of the counts and ingest statistics, chunked so that no bound
 * JSON document exceeds D1's statement limits.
 */
export interface SqlStatement {
  sql: string;
  params: (string | number)[];
}

/** [window_start, campaign_id, ad_id, region, clicks] */
export type CountRow = [number, string, string, string, number];
/** [minute, accepted, duplicates, too_late, future, invalid] */
export type StatsRow = [number, number, number, number, number, number];

export const MAX_JSON_PARAM_BYTES = 90_000;

const INSERT_LEDGER = "INSERT INTO click_flush_ledger (source, flush_id, flushed_at, cells, clicks) VALUES (?, ?, ?, ?, ?)";

const UPSERT_COUNTS =
  "INSERT INTO click_counts (window_start, campaign_id, ad_id, region, clicks) " +
  "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?) WHERE true " +
  "ON CONFLICT (window_start, campaign_id, ad_id, region) DO UPDATE SET clicks = clicks + excluded.clicks";

const UPSERT_STATS =
  "INSERT INTO ingest_stats (window_start, source, accepted, duplicates, too_late, future, invalid) " +
  "SELECT value ->> 0, ?, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 FROM json_each(?) WHERE true " +
  "ON CONFLICT (window_start, source) DO UPDATE SET accepted = accepted + excluded.accepted, " +
  "duplicates = duplicates + excluded.duplicates, too_late = too_late + excluded.too_late, " +
  "future = future + excluded.future, invalid = invalid + excluded.invalid";

/** Splits rows into JSON arrays of at most `maxBytes` (UTF-8) each. */
export function chunkJson(rows: unknown[], maxBytes = MAX_JSON_PARAM_BYTES): string[] {
  const out: string[] = [];
  let parts: string[] = [];
  let size = 2;
  const enc = new TextEncoder();
  for (const r of rows) {
    const s = JSON.stringify(r);
    const len = enc.encode(s).byteLength + 1;
    if (parts.length > 0 && size + len > maxBytes) {
      out.push("[" + parts.join(",") + "]");
      parts = [];
      size = 2;
    }
    parts.push(s);
    size += len;
  }
  if (parts.length > 0) out.push("[" + parts.join(",") + "]");
  return out;
}

export function flushStatements(source: string, flushId: number, flushedAt: string, counts: CountRow[], stats: StatsRow[]): SqlStatement[] {
  const clicks = counts.reduce((s, r) => s + r[4], 0);
  const out: SqlStatement[] = [{ sql: INSERT_LEDGER, params: [source, flushId, flushedAt, counts.length, clicks] }];
  for (const chunk of chunkJson(counts)) out.push({ sql: UPSERT_COUNTS, params: [chunk] });
  for (const chunk of chunkJson(stats)) out.push({ sql: UPSERT_STATS, params: [source, chunk] });
  return out;
}

/** True when a D1 error says the flush's ledger row already exists (the flush was applied before). */
export function isLedgerConflict(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return /UNIQUE constraint failed: click_flush_ledger\./.test(msg);
}
