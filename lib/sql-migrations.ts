/**
 * Versioned schema for a Durable Object's SQLite storage — the one helper every object uses:
 * `meta.schema_version` records how many of the ordered migrations have run; the constructor runs the
 * missing ones (inside blockConcurrencyWhile). Migration i brings the schema to version i + 1.
 * A module that owns some of an object's tables keeps its own list under its own `versionKey`.
 */
export function migrateSqlSchema(sql: SqlStorage, migrations: readonly string[], versionKey = "schema_version"): number {
  sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)");
  const row = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = ?", versionKey).toArray()[0];
  let version = row ? Number(row.value) : 0;
  for (; version < migrations.length; version++) {
    sql.exec(migrations[version]);
    sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", versionKey, version + 1);
  }
  return version;
}

export function readMeta(sql: SqlStorage, key: string): number | string | null {
  const row = sql.exec<{ value: number | string | null }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
  return row ? row.value : null;
}

export function writeMeta(sql: SqlStorage, key: string, value: number | string): void {
  sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
}

/**
 * True when `query` (give it a `LIMIT 1`) returns a row. The cursor is read to its end: a statement left
 * half-read stays active, and SQLite refuses DROP TABLE and ALTER TABLE while any statement is active.
 */
export function hasRows(sql: SqlStorage, query: string, ...bindings: unknown[]): boolean {
  return sql.exec(query, ...bindings).toArray().length > 0;
}
