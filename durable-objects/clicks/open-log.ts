/**
 * Open counts as an append-only log, for the ClickShard (one row per counted forward) and the
 * ClickAggregator (one row per applied part): appending costs one insert whatever the number of cells,
 * where an upsert per cell cost a B-tree search and write each, and was repeated at every hop. A freeze
 * takes the oldest rows, merges them per cell and per minute in memory and deletes them, in the caller's
 * transaction.
 */

/**
 * `n` = cell entries, first so that summing it reads no text. The migration moves the open rows of the
 * `cells` / `stats` tables (flush_id 0, the schema before the log) into one log row.
 */
export const OPEN_LOG_TABLE = `CREATE TABLE open_log (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, cells TEXT NOT NULL, stats TEXT NOT NULL);
  INSERT INTO open_log (n, cells, stats)
    SELECT (SELECT count(*) FROM cells WHERE flush_id = 0),
      (SELECT json_group_array(json_array(w, c, a, r, n)) FROM cells WHERE flush_id = 0),
      (SELECT json_group_array(json_array(minute, accepted, duplicates, invalid, too_late, future)) FROM stats WHERE flush_id = 0)
    WHERE EXISTS (SELECT 1 FROM cells WHERE flush_id = 0) OR EXISTS (SELECT 1 FROM stats WHERE flush_id = 0);
  DELETE FROM cells WHERE flush_id = 0;
  DELETE FROM stats WHERE flush_id = 0;`;

/** A cell: window start (epoch ms), campaign, ad, region, clicks. */
export type Cell = [number, string, string, string, number];
/** Per arrival minute: accepted, duplicates, invalid, too_late, future. */
export type MinuteStats = [number, number, number, number, number];

export interface Merged {
  /** Keyed by window, campaign, ad and region (`cellKey`). */
  cells: Map<string, Cell>;
  minutes: Map<number, MinuteStats>;
  /** Log entries taken (cells as appended, before merging). */
  entries: number;
}

/** Sorts as (window, campaign, ad, region): window starts are 13-digit epoch ms until 2286. */
export const cellKey = (w: number, c: string, a: string, r: string): string => `${w}\u0000${c}\u0000${a}\u0000${r}`;

export class OpenLog {
  constructor(private readonly sql: SqlStorage) {}

  /** Appends counted cells (`[[w, c, a, r, n], …]`) and statistics (`[[minute, accepted, duplicates, invalid, too_late, future], …]`). */
  append(cells: unknown[][], stats: unknown[][]): void {
    if (cells.length === 0 && stats.length === 0) return;
    this.sql.exec("INSERT INTO open_log (n, cells, stats) VALUES (?, ?, ?)", cells.length, JSON.stringify(cells), JSON.stringify(stats));
  }

  /** As `append`, for cells and statistics already in JSON (an aggregator's parts). */
  appendJson(cellsJson: string, statsJson: string): void {
    if (cellsJson === "[]" && statsJson === "[]") return;
    this.sql.exec("INSERT INTO open_log (n, cells, stats) VALUES (json_array_length(?1), ?1, ?2)", cellsJson, statsJson);
  }

  isEmpty(): boolean {
    return this.sql.exec("SELECT 1 FROM open_log LIMIT 1").toArray().length === 0;
  }

  /** Cell entries in the log (a cell appended twice is two entries until a freeze merges them). */
  entries(): number {
    return Number(this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM open_log").one().n);
  }

  /** Statistics entries in the log. */
  statsEntries(): number {
    return Number(this.sql.exec<{ n: number }>("SELECT coalesce(sum(json_array_length(stats)), 0) AS n FROM open_log").one().n);
  }

  /**
   * Takes the oldest rows — at least one, then while the entries stay ≤ `maxEntries` — merged, and
   * deletes them (inside the caller's transaction). Null when the log is empty.
   */
  take(maxEntries: number): Merged | null {
    const cells = new Map<string, Cell>();
    const minutes = new Map<number, MinuteStats>();
    let entries = 0;
    let last: number | null = null;
    for (const row of this.sql.exec<{ id: number; n: number; cells: string; stats: string }>("SELECT id, n, cells, stats FROM open_log ORDER BY id")) {
      if (last !== null && entries + row.n > maxEntries) break;
      last = row.id;
      entries += row.n;
      for (const [w, c, a, r, n] of JSON.parse(row.cells) as Cell[]) {
        const key = cellKey(w, c, a, r);
        const cell = cells.get(key);
        if (cell) cell[4] += n;
        else cells.set(key, [w, c, a, r, n]);
      }
      for (const [minute, ...counts] of JSON.parse(row.stats) as number[][]) {
        const sum = minutes.get(minute);
        if (sum) counts.forEach((v, i) => (sum[i] += v));
        else minutes.set(minute, counts as MinuteStats);
      }
    }
    if (last === null) return null;
    this.sql.exec("DELETE FROM open_log WHERE id <= ?", last);
    return { cells, minutes, entries };
  }
}
