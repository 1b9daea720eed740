import { CellTable, type Cell } from "../../lib/clicks/cell-table";
import { hasRows } from "../../lib/sql-migrations";

/**
 * Open counts as an append-only log, for the ClickShard (one row per counted forward) and the
 * ClickAggregator (one row per applied part): appending costs one insert whatever the number of cells,
 * where an upsert per cell cost a B-tree search and write each, and was repeated at every hop. A freeze
 * takes the oldest rows, merges them per cell and per minute in memory and deletes them, in the caller's
 * transaction.
 */

/**
 * `n` = cell entries, first so that summing it reads no text. The migration moves the open rows of the
 * `cells` / `stats` tables (flush_id 0, the schema before the log) into log rows of ≤ 1 000 cells each
 * (≤ ~1 MB however long the ids: one row must fit in a SQLite value) and one row of statistics.
 */
export const OPEN_LOG_TABLE = `CREATE TABLE open_log (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, cells TEXT NOT NULL, stats TEXT NOT NULL);
  INSERT INTO open_log (n, cells, stats)
    SELECT count(*), json_group_array(json_array(w, c, a, r, n)), '[]'
    FROM (SELECT w, c, a, r, n, (row_number() OVER (ORDER BY w, c, a, r) - 1) / 1000 AS g FROM cells WHERE flush_id = 0)
    GROUP BY g ORDER BY g;
  INSERT INTO open_log (n, cells, stats)
    SELECT 0, '[]', json_group_array(json_array(minute, accepted, duplicates, invalid, too_late, future)) FROM stats WHERE flush_id = 0
    HAVING count(*) > 0;
  DELETE FROM cells WHERE flush_id = 0;
  DELETE FROM stats WHERE flush_id = 0;`;

export type { Cell } from "../../lib/clicks/cell-table";
/** Per arrival minute: accepted, duplicates, invalid, too_late, future. */
export type MinuteStats = [number, number, number, number, number];

export interface Merged {
  cells: CellTable;
  minutes: Map<number, MinuteStats>;
  /** Log entries taken (cells as appended, before merging). */
  entries: number;
}

/**
 * A log row's JSON, in UTF-16 code units (≤ 3 bytes each): ≤ 768 KB, under Durable Object SQLite's 2 MB
 * per value with room to spare. A longer forward is appended as several rows; a freeze takes rows up to
 * this much in all (at least one), so a part or a frozen batch stays under it too.
 */
export const MAX_ROW_CHARS = 256 * 1024;

/** A part as an aggregator receives it: cells and statistics as JSON arrays, and its cell count when the sender knows it. */
export interface JsonPart {
  cells: string;
  stats: string;
  entries?: number;
}

const isCount = (n: number | undefined): n is number => n !== undefined && Number.isSafeInteger(n) && n >= 0;

/** Throws unless a part's cells and statistics are bracketed like JSON arrays (what joining them needs). */
export function checkJsonPart(part: JsonPart): void {
  arrayItems(part.cells);
  arrayItems(part.stats);
}

/** The text between a JSON array's brackets ("" for an empty one); throws when `json` is not bracketed. */
function arrayItems(json: string): string {
  const t = json.trim();
  if (!t.startsWith("[") || !t.endsWith("]")) throw new TypeError("a part's cells and statistics must be JSON arrays");
  return t.slice(1, -1).trim();
}

/** Adds statistics rows (`[minute, accepted, duplicates, invalid, too_late, future]`) into per-minute sums. */
export function addMinuteStats(minutes: Map<number, MinuteStats>, stats: readonly number[][]): void {
  for (const [minute, ...counts] of stats) {
    const sum = minutes.get(minute);
    if (sum) counts.forEach((v, i) => (sum[i] += v));
    else minutes.set(minute, counts as MinuteStats);
  }
}

export class OpenLog {
  constructor(private readonly sql: SqlStorage) {}

  /** Appends counted cells (`[[w, c, a, r, n], …]`) and statistics (`[[minute, accepted, duplicates, invalid, too_late, future], …]`). */
  append(cells: unknown[][], stats: unknown[][]): void {
    if (cells.length === 0 && stats.length === 0) return;
    const json = JSON.stringify(cells);
    if (json.length > MAX_ROW_CHARS && cells.length > 1) {
      // long ids (64 characters of up to 3 bytes) in a large forward: split it (one cell is ≤ ~1 KB)
      const half = Math.ceil(cells.length / 2);
      this.append(cells.slice(0, half), stats);
      this.append(cells.slice(half), []);
      return;
    }
    this.sql.exec("INSERT INTO open_log (n, cells, stats) VALUES (?, ?, ?)", cells.length, json, JSON.stringify(stats));
  }

  /**
   * As `append`, for cells and statistics already in JSON (an aggregator's parts). `entries`: the cells
   * in `cellsJson` when the sender knows them; otherwise SQLite counts them (parsing the whole document).
   */
  appendJson(cellsJson: string, statsJson: string, entries?: number): void {
    if (cellsJson === "[]" && statsJson === "[]") return;
    if (isCount(entries)) {
      this.sql.exec("INSERT INTO open_log (n, cells, stats) VALUES (?, ?, ?)", entries, cellsJson, statsJson);
    } else {
      this.sql.exec("INSERT INTO open_log (n, cells, stats) VALUES (json_array_length(?1), ?1, ?2)", cellsJson, statsJson);
    }
  }

  /**
   * Appends several parts (as `appendJson`) as few rows: their arrays are joined, up to MAX_ROW_CHARS of
   * cells per row (a part is at most that by itself). A row's count is the sum of its parts' counts, or
   * SQLite's when a part came without one.
   */
  appendJsonParts(parts: readonly JsonPart[]): void {
    let cells: string[] = [];
    let stats: string[] = [];
    let chars = 2;
    let entries: number | undefined = 0;
    const flush = () => {
      if (cells.length > 0 || stats.length > 0) this.appendJson(`[${cells.join(",")}]`, `[${stats.join(",")}]`, entries);
      cells = [];
      stats = [];
      chars = 2;
      entries = 0;
    };
    for (const p of parts) {
      const c = arrayItems(p.cells);
      const s = arrayItems(p.stats);
      if (cells.length > 0 && chars + 1 + c.length > MAX_ROW_CHARS) flush();
      if (c !== "") {
        cells.push(c);
        chars += c.length + 1;
      }
      if (s !== "") stats.push(s);
      entries = entries !== undefined && isCount(p.entries) ? entries + p.entries : undefined;
    }
    flush();
  }

  isEmpty(): boolean {
    return !hasRows(this.sql, "SELECT 1 FROM open_log LIMIT 1");
  }

  /** Cell entries in the log (a cell appended twice is two entries until a freeze merges them). */
  entries(): number {
    return Number(this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM open_log").one().n);
  }

  /** Cell entries and characters of cells' JSON in the log (what bounds one `take`). */
  size(): { entries: number; chars: number } {
    const r = this.sql.exec<{ n: number; chars: number }>("SELECT coalesce(sum(n), 0) AS n, coalesce(sum(length(cells)), 0) AS chars FROM open_log").one();
    return { entries: Number(r.n), chars: Number(r.chars) };
  }

  /** Statistics entries in the log. */
  statsEntries(): number {
    return Number(this.sql.exec<{ n: number }>("SELECT coalesce(sum(json_array_length(stats)), 0) AS n FROM open_log").one().n);
  }

  /**
   * The rows after `afterId`, oldest first, parsed and left in place (the aggregators' pending view).
   * Their ids first, then one row per query, each read to its end: the caller may stop early, and a
   * cursor left half-read keeps its statement active, which makes any schema change on the object's
   * database fail with SQLITE_LOCKED until the cursor is garbage-collected.
   */
  *rowsAfter(afterId: number): Generator<{ id: number; cells: Cell[]; stats: number[][] }> {
    for (const { id } of this.sql.exec<{ id: number }>("SELECT id FROM open_log WHERE id > ? ORDER BY id", afterId).toArray()) {
      const row = this.sql.exec<{ cells: string; stats: string }>("SELECT cells, stats FROM open_log WHERE id = ?", id).toArray()[0];
      if (row) yield { id, cells: JSON.parse(row.cells) as Cell[], stats: JSON.parse(row.stats) as number[][] };
    }
  }

  /**
   * Takes the oldest rows — at least one, then while the entries stay ≤ `maxEntries` and the JSON ≤
   * `maxChars` — merged, and deletes them (inside the caller's transaction). Null when the log is empty.
   */
  take(maxEntries: number, maxChars = Infinity): Merged | null {
    // Which rows, from their sizes (read to the end, like every query here: a half-read cursor keeps its
    // statement active and the dedup index's DROP TABLE in a later transaction failed with SQLITE_LOCKED).
    // octet_length is the row's UTF-8 bytes, read from the record header, never fewer than its UTF-16
    // code units (what maxChars bounds), so the bound holds.
    const sizes = this.sql
      .exec<{ id: number; n: number; bytes: number }>("SELECT id, n, octet_length(cells) AS bytes FROM open_log ORDER BY id LIMIT ?", Number.isFinite(maxEntries) ? maxEntries + 1 : -1)
      .toArray();
    let entries = 0;
    let chars = 0;
    let last: number | null = null;
    for (const row of sizes) {
      if (last !== null && (entries + row.n > maxEntries || chars + row.bytes > maxChars)) break;
      last = row.id;
      entries += row.n;
      chars += row.bytes;
    }
    if (last === null) return null;
    const cells = new CellTable();
    const minutes = new Map<number, MinuteStats>();
    for (const row of this.sql.exec<{ cells: string; stats: string }>("SELECT cells, stats FROM open_log WHERE id <= ? ORDER BY id", last)) {
      for (const [w, c, a, r, n] of JSON.parse(row.cells) as Cell[]) cells.add(w, c, a, r, n);
      addMinuteStats(minutes, JSON.parse(row.stats) as number[][]);
    }
    this.sql.exec("DELETE FROM open_log WHERE id <= ?", last);
    return { cells, minutes, entries };
  }
}
