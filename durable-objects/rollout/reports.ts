import type { RolloutRow } from "../../lib/config/coordinator-schema";
import type { ReportBatch } from "../../lib/config/types";

/**
 * Counts a batch of health reports (aggregated at the edge) into the coordinator's SQLite: the last
 * version per client (`clients`) and ok/error per (rollout, stage, version, region) (`health`) while
 * `rollout` is counting. Only versions up to `latest` exist; reports naming others are ignored, so
 * made-up version numbers cannot grow the tables. Runs inside the caller's transaction.
 */
export function countReports(
  sql: SqlStorage,
  region: string,
  batch: ReportBatch,
  latest: number,
  rollout: Pick<RolloutRow, "id" | "stage_index"> | null,
  now: number,
): { accepted: number; ignored: number } {
  let accepted = 0;
  let ignored = 0;
  for (const c of batch.clients) {
    if (c.version > latest) continue;
    sql.exec(
      "INSERT INTO clients (client_id, version, region, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET version = excluded.version, region = excluded.region, seen_at = excluded.seen_at",
      c.client_id, c.version, region, now,
    );
  }
  for (const g of batch.counts) {
    if (g.version > latest) {
      ignored += g.ok + g.error;
      continue;
    }
    accepted += g.ok + g.error;
    if (rollout) {
      sql.exec(
        `INSERT INTO health (rollout_id, stage_index, version, region, ok, error) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(rollout_id, stage_index, version, region) DO UPDATE SET ok = ok + excluded.ok, error = error + excluded.error`,
        rollout.id, rollout.stage_index, g.version, region, g.ok, g.error,
      );
    }
  }
  return { accepted, ignored };
}
