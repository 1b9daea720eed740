// What a ClickShard Durable Object keeps on disk, read straight from wrangler dev's persisted state
// (<persist>/v3/do/<script>-ClickShard/<id>.sqlite): per-table row counts (via node:sqlite, read-only)
// and file sizes. Used to check that dedup state expires with the horizon.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

async function openSqlite() {
  try {
    const { DatabaseSync } = await import("node:sqlite");
    return DatabaseSync;
  } catch {
    return null; // Node without node:sqlite: file sizes only
  }
}

function doDir(persistDir, className) {
  const base = join(persistDir, "v3", "do");
  if (!existsSync(base)) return null;
  const d = readdirSync(base).find((n) => n.endsWith(`-${className}`));
  return d ? join(base, d) : null;
}

/**
 * Per object: {id, bytes (db + wal), db_bytes, wal_bytes, tables: {name: rows}, extra: probe(db)};
 * plus totals. `probe(db, id)` may run more read-only queries on each object's database.
 */
export async function shardStorage(persistDir, className = "ClickShard", probe = null) {
  const dir = doDir(persistDir, className);
  if (!dir) return { objects: [], totals: { objects: 0, bytes: 0, tables: {} }, note: `no ${className} state under ${persistDir}` };
  const DatabaseSync = await openSqlite();
  const objects = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith(".sqlite") || f === "metadata.sqlite") continue;
    const path = join(dir, f);
    const size = (p) => (existsSync(p) ? statSync(p).size : 0);
    const obj = { id: f.replace(/\.sqlite$/, ""), bytes: size(path) + size(`${path}-wal`), db_bytes: size(path), wal_bytes: size(`${path}-wal`), tables: {} };
    if (DatabaseSync) {
      let db;
      try {
        db = new DatabaseSync(path, { readOnly: true });
        const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all();
        for (const { name } of names) obj.tables[name] = Number(db.prepare(`SELECT count(*) AS n FROM "${name.replace(/"/g, '""')}"`).get().n);
        obj.pages = Number(db.prepare("PRAGMA page_count").get().page_count);
        obj.free_pages = Number(db.prepare("PRAGMA freelist_count").get().freelist_count);
        if (probe) obj.extra = probe(db, obj.id);
      } catch (e) {
        obj.error = String(e.message ?? e);
      } finally {
        db?.close();
      }
    }
    objects.push(obj);
  }
  const totals = { objects: objects.length, bytes: 0, db_bytes: 0, wal_bytes: 0, tables: {} };
  for (const o of objects) {
    totals.bytes += o.bytes;
    totals.db_bytes += o.db_bytes;
    totals.wal_bytes += o.wal_bytes;
    for (const [t, n] of Object.entries(o.tables)) totals.tables[t] = (totals.tables[t] ?? 0) + n;
  }
  return { objects, totals };
}
