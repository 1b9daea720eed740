/**
 * RolloutCoordinator SQLite schema, as ordered migrations. Migration i brings the schema to version
 * i + 1; the applied version is kept in meta('schema_version'). Described in docs/STORAGE.md.
 */
export const COORDINATOR_MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE namespace (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     name TEXT NOT NULL, schema TEXT NOT NULL, description TEXT NOT NULL,
     approvals_required INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
   CREATE TABLE versions (
     version INTEGER PRIMARY KEY, hash TEXT NOT NULL, values_json TEXT NOT NULL,
     author TEXT NOT NULL, message TEXT NOT NULL, created_at TEXT NOT NULL,
     idem_key TEXT, idem_fingerprint TEXT);
   CREATE UNIQUE INDEX versions_idem ON versions(idem_key) WHERE idem_key IS NOT NULL;
   CREATE TABLE release_regions (
     region TEXT PRIMARY KEY, candidate INTEGER NOT NULL, percent REAL NOT NULL, rollout_id TEXT NOT NULL);
   CREATE TABLE rollouts (
     id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, version INTEGER NOT NULL, from_version INTEGER,
     plan TEXT NOT NULL, state TEXT NOT NULL, stage_index INTEGER NOT NULL,
     stage_started_at INTEGER, next_advance_at INTEGER, paused_remaining_ms INTEGER,
     stage_history TEXT NOT NULL, started_by TEXT NOT NULL, approved_by TEXT,
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL, ended_at TEXT, end_reason TEXT);
   CREATE INDEX rollouts_state ON rollouts(state);
   CREATE TABLE health (
     rollout_id TEXT NOT NULL, stage_index INTEGER NOT NULL, version INTEGER NOT NULL, region TEXT NOT NULL,
     ok INTEGER NOT NULL DEFAULT 0, error INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (rollout_id, stage_index, version, region));
   CREATE TABLE clients (client_id TEXT PRIMARY KEY, version INTEGER NOT NULL, region TEXT NOT NULL, seen_at INTEGER NOT NULL);
   CREATE INDEX clients_seen ON clients(seen_at);
   CREATE TABLE outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, last_error TEXT);`,
];

/** Row shapes of the tables above (type aliases, so `sql.exec<Row>` accepts them without casts). */
export type NamespaceRow = {
  name: string;
  schema: string;
  description: string;
  approvals_required: number;
  created_at: string;
  updated_at: string;
};

export type RolloutRow = {
  id: string;
  seq: number;
  version: number;
  from_version: number | null;
  /** JSON NormalizedPlan. */
  plan: string;
  state: import("./types").RolloutState;
  stage_index: number;
  stage_started_at: number | null;
  next_advance_at: number | null;
  paused_remaining_ms: number | null;
  /** JSON [{index, started_at}]. */
  stage_history: string;
  started_by: string;
  approved_by: string | null;
  created_at: string;
  updated_at: string;
  ended_at: string | null;
  end_reason: string | null;
};

export type CandidateRow = {
  region: string;
  candidate: number;
  percent: number;
  rollout_id: string;
};

export type HealthRow = {
  stage_index: number;
  version: number;
  region: string;
  ok: number;
  error: number;
};

export type ClientCountRow = {
  region: string;
  version: number;
  n: number;
};

export type VersionRow = {
  version: number;
  hash: string;
  author: string;
  message: string;
  created_at: string;
  values_json: string;
};
