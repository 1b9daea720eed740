// What a ClickShard Durable Object keeps on disk, read straight from wrangler dev's persisted state
// (<persist>/v3/do/<script>-ClickShard/<id>.sqlite): per-table row counts (via node:sqlite, read-only)
// and file sizes. Used to check that dedup state expires with the horizon and to report the dedup
// state the realistic click loads run against.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync as DatabaseSyncType } from "node:sqlite";

export type Db = DatabaseSyncType;
type DatabaseSyncCtor = typeof DatabaseSyncType;

async function openSqlite(): Promise<DatabaseSyncCtor | null> {
  try {
    const { DatabaseSync } = await import("node:sqlite");
    return DatabaseSync;
  } catch {
    return null; // Node without node:sqlite: file sizes only
  }
}

function doDir(persistDir: string, className: string): string | null {
  const base = join(persistDir, "v3", "do");
  if (!existsSync(base)) return null;
  const d = readdirSync(base).find((n) => n.endsWith(`-${className}`));
  return d ? join(base, d) : null;
}

export interface StoredObject<X> {
  id: string;
  bytes: number;
  db_bytes: number;
  wal_bytes: number;
  tables: Record<string, number>;
  pages?: number;
  free_pages?: number;
  extra?: X;
  error?: string;
}

export interface StorageTotals {
  objects: number;
  bytes: number;
  db_bytes: number;
  wal_bytes: number;
  tables: Record<string, number>;
}

export interface Storage<X> {
  objects: StoredObject<X>[];
  totals: StorageTotals;
  note?: string;
}

/** Level 0 of the dedup index holds one row per batch of keys (a `[0x…,…]` list): count its keys. */
const LEVEL0_TABLE = /^dedup_(log|merging)$/;

/** A dedup partition: its keys are in buckets (8 bytes each in a `keys` BLOB) unless it predates them (one row per key). */
const PARTITION_TABLE = /^dedup_p\d+$/;

/** Rows of a table; for level 0's batch rows and a partition's buckets, the keys they hold (so every dedup table counts keys). */
function countQuery(db: Db, name: string): string {
  const quoted = `"${name.replace(/"/g, '""')}"`;
  const hasKeys = (LEVEL0_TABLE.test(name) || PARTITION_TABLE.test(name)) && (db.prepare(`SELECT 1 FROM pragma_table_info('${name}') WHERE name = 'keys'`).all() as unknown[]).length > 0;
  if (!hasKeys) return `SELECT count(*) AS n FROM ${quoted}`;
  return LEVEL0_TABLE.test(name) ? `SELECT coalesce(sum(json_array_length(keys)), 0) AS n FROM ${quoted}` : `SELECT coalesce(sum(length(keys)), 0) / 8 AS n FROM ${quoted}`;
}

/**
 * Per object: {id, bytes (db + wal), db_bytes, wal_bytes, tables: {name: rows (level 0: keys)}, extra: probe(db)};
 * plus totals. `probe(db, id)` may run more read-only queries on each object's database.
 */
export async function shardStorage<X = unknown>(persistDir: string, className = "ClickShard", probe: ((db: Db, id: string) => X) | null = null): Promise<Storage<X>> {
  const dir = doDir(persistDir, className);
  if (!dir) return { objects: [], totals: { objects: 0, bytes: 0, db_bytes: 0, wal_bytes: 0, tables: {} }, note: `no ${className} state under ${persistDir}` };
  const DatabaseSync = await openSqlite();
  const objects: StoredObject<X>[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".sqlite") || f === "metadata.sqlite") continue;
    const path = join(dir, f);
    const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
    const obj: StoredObject<X> = { id: f.replace(/\.sqlite$/, ""), bytes: size(path) + size(`${path}-wal`), db_bytes: size(path), wal_bytes: size(`${path}-wal`), tables: {} };
    if (DatabaseSync) {
      let db: Db | undefined;
      try {
        db = new DatabaseSync(path, { readOnly: true });
        const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all() as { name: string }[];
        for (const { name } of names) obj.tables[name] = Number((db.prepare(countQuery(db, name)).get() as { n: number }).n);
        obj.pages = Number((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count);
        obj.free_pages = Number((db.prepare("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count);
        if (probe) obj.extra = probe(db, obj.id);
      } catch (e) {
        obj.error = String((e as Error).message ?? e);
      } finally {
        db?.close();
      }
    }
    objects.push(obj);
  }
  const totals: StorageTotals = { objects: objects.length, bytes: 0, db_bytes: 0, wal_bytes: 0, tables: {} };
  for (const o of objects) {
    totals.bytes += o.bytes;
    totals.db_bytes += o.db_bytes;
    totals.wal_bytes += o.wal_bytes;
    for (const [t, n] of Object.entries(o.tables)) totals.tables[t] = (totals.tables[t] ?? 0) + n;
  }
  return { objects, totals };
}
