import { readMeta, writeMeta } from "../../lib/sql-migrations";
import type { NamespaceRow, RolloutRow, VersionRow } from "../../lib/config/coordinator-schema";
import type { NormalizedPlan } from "../../lib/config/plan";

/** How long a client stays in the "clients seen" figures after its last report, and how many we keep. */
export const CLIENT_RETENTION_MS = 24 * 3600 * 1000;
const MAX_CLIENTS = 100_000;

/** Typed reads and small writes of the RolloutCoordinator's SQLite (schema: lib/config/coordinator-schema.ts). */
export class CoordinatorStore {
  constructor(private readonly sql: SqlStorage) {}

  getMeta(key: string): string | null {
    const v = readMeta(this.sql, key);
    return v === null ? null : String(v);
  }

  setMeta(key: string, value: string): void {
    writeMeta(this.sql, key, value);
  }

  nsRow(): NamespaceRow | null {
    return this.sql.exec<NamespaceRow>("SELECT * FROM namespace WHERE id = 1").toArray()[0] ?? null;
  }

  generation(): number {
    return Number(this.getMeta("generation") ?? "0");
  }

  stable(): number | null {
    const s = this.getMeta("stable");
    return s === null ? null : (JSON.parse(s) as number | null);
  }

  latestVersion(): number {
    return this.sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM versions").one().v ?? 0;
  }

  activeRollout(): RolloutRow | null {
    return (
      this.sql
        .exec<RolloutRow>(
          "SELECT * FROM rollouts WHERE state IN ('pending_approval','running','paused') ORDER BY seq DESC LIMIT 1",
        )
        .toArray()[0] ?? null
    );
  }

  rolloutById(id: string): RolloutRow | null {
    return this.sql.exec<RolloutRow>("SELECT * FROM rollouts WHERE id = ?", id).toArray()[0] ?? null;
  }

  versionRow(version: number): VersionRow | null {
    return (
      this.sql
        .exec<VersionRow>(
          "SELECT version, hash, author, message, created_at, values_json FROM versions WHERE version = ?",
          version,
        )
        .toArray()[0] ?? null
    );
  }

  /** The candidate's ok/error counts in the rollout's current stage. */
  candidateCounts(ro: RolloutRow): { ok: number; error: number } {
    const c = this.sql
      .exec<{ ok: number | null; error: number | null }>(
        "SELECT SUM(ok) AS ok, SUM(error) AS error FROM health WHERE rollout_id = ? AND stage_index = ? AND version = ?",
        ro.id, ro.stage_index, ro.version,
      )
      .one();
    return { ok: c.ok ?? 0, error: c.error ?? 0 };
  }

  planOf(ro: RolloutRow): NormalizedPlan {
    return JSON.parse(ro.plan) as NormalizedPlan;
  }

  pruneClients(now: number): void {
    this.sql.exec("DELETE FROM clients WHERE seen_at < ?", now - CLIENT_RETENTION_MS);
    const n = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM clients").one().n;
    if (n > MAX_CLIENTS) {
      this.sql.exec("DELETE FROM clients WHERE client_id IN (SELECT client_id FROM clients ORDER BY seen_at LIMIT ?)", n - MAX_CLIENTS);
    }
  }
}
