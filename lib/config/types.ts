import type { NormalizedPlan } from "./plan";
import type { ReleaseState } from "./release";

export type RolloutState = "pending_approval" | "running" | "paused" | "completed" | "aborted" | "rolled_back";
export const ACTIVE_STATES: readonly RolloutState[] = ["pending_approval", "running", "paused"];
export type ControlAction = "pause" | "resume" | "promote" | "approve" | "abort";

export interface NamespaceInfo {
  name: string;
  schema: unknown;
  description: string;
  approvals_required: 0 | 1;
  latest_version: number;
  active_rollout_id: string | null;
  generation: number;
  created_at: string;
  updated_at: string;
}

export interface VersionSummary {
  version: number;
  hash: string;
  author: string;
  message: string;
  created_at: string;
}

export interface VersionDetail extends VersionSummary {
  namespace: string;
  values: Record<string, unknown>;
}

/** Immutable version blob as stored in KV under cfg:v:<ns>:<version>. */
export interface VersionBlob {
  namespace: string;
  version: number;
  hash: string;
  values: Record<string, unknown>;
}

export interface ReportInput {
  client_id: string;
  version: number;
  status: "ok" | "error";
  error?: string;
}

/**
 * Health reports of one region, aggregated at the edge (workers/lib/config-reports.ts): ok/error
 * counts per version, and the last version each client reported (bounded per batch).
 */
export interface ReportBatch {
  counts: { version: number; ok: number; error: number }[];
  clients: { client_id: string; version: number }[];
}

/** Folds single reports into a batch (later reports of a client win). */
export function toReportBatch(reports: readonly ReportInput[]): ReportBatch {
  const counts = new Map<number, { version: number; ok: number; error: number }>();
  const clients = new Map<string, number>();
  for (const r of reports) {
    const g = counts.get(r.version) ?? { version: r.version, ok: 0, error: 0 };
    if (r.status === "ok") g.ok++;
    else g.error++;
    counts.set(r.version, g);
    clients.set(r.client_id, r.version);
  }
  return { counts: [...counts.values()], clients: [...clients].map(([client_id, version]) => ({ client_id, version })) };
}

export interface StageView {
  index: number;
  regions: string[] | "*";
  percent: number;
  bake_seconds: number;
  started_at: string | null;
  /** ok/error reports per version reported during this stage, with a per-region breakdown. */
  health: { version: number; ok: number; error: number; regions: Record<string, { ok: number; error: number }> }[];
}

export interface RolloutDetail {
  rollout_id: string;
  namespace: string;
  version: number;
  from_version: number | null;
  state: RolloutState;
  stage_index: number;
  stage_count: number;
  preset: string | null;
  auto_rollback: NormalizedPlan["auto_rollback"];
  stages: StageView[];
  started_by: string;
  approved_by: string | null;
  created_at: string;
  updated_at: string;
  stage_started_at: string | null;
  next_advance_at: string | null;
  paused_remaining_seconds: number | null;
  ended_at: string | null;
  end_reason: string | null;
  release: ReleaseState;
  /** Distinct clients seen (last report) per region and version. */
  clients: Record<string, Record<string, number>>;
}

/** What a coordinator RPC returns: the value, or the domain error to render (lib/outcome.ts). */
export type { Outcome } from "../outcome";
