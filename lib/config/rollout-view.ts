import type { CandidateRow, ClientCountRow, HealthRow, RolloutRow } from "./coordinator-schema";
import type { NormalizedPlan } from "./plan";
import type { RegionRelease, ReleaseState } from "./release";
import type { RolloutDetail, StageView } from "./types";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The release state over the configured regions: a region without a candidate serves `stable`. */
export function releaseView(
  ns: string,
  configuredRegions: readonly string[],
  stable: number | null,
  generation: number,
  candidates: readonly CandidateRow[],
  updatedAt: string,
): ReleaseState {
  const byRegion = new Map(candidates.map((r) => [r.region, r]));
  const regions: Record<string, RegionRelease> = {};
  for (const region of configuredRegions) {
    const r = byRegion.get(region);
    regions[region] = r
      ? { stable, candidate: r.candidate, percent: r.percent, rollout_id: r.rollout_id }
      : { stable, candidate: null, percent: 0, rollout_id: null };
  }
  return { namespace: ns, generation, stable, regions, updated_at: updatedAt };
}

/** What GET /rollouts/:id shows: the row, its stages with health per version, clients, release. */
export function rolloutView(ns: string, ro: RolloutRow, health: readonly HealthRow[], clientCounts: readonly ClientCountRow[], release: ReleaseState): RolloutDetail {
  const plan = JSON.parse(ro.plan) as NormalizedPlan;
  const history = new Map((JSON.parse(ro.stage_history) as { index: number; started_at: string }[]).map((h) => [h.index, h.started_at]));
  const stages: StageView[] = plan.stages.map((s, index) => ({
    index,
    regions: s.all ? "*" : s.regions,
    percent: s.percent,
    bake_seconds: s.bake_seconds,
    started_at: history.get(index) ?? null,
    health: [],
  }));
  for (const h of health) {
    const st = stages[h.stage_index];
    if (!st) continue;
    let v = st.health.find((x) => x.version === h.version);
    if (!v) st.health.push((v = { version: h.version, ok: 0, error: 0, regions: {} }));
    v.ok += h.ok;
    v.error += h.error;
    v.regions[h.region] = { ok: h.ok, error: h.error };
  }
  const clients: Record<string, Record<string, number>> = {};
  for (const c of clientCounts) (clients[c.region] ??= {})[String(c.version)] = c.n;
  return {
    rollout_id: ro.id,
    namespace: ns,
    version: ro.version,
    from_version: ro.from_version,
    state: ro.state,
    stage_index: ro.stage_index,
    stage_count: plan.stages.length,
    preset: plan.preset,
    auto_rollback: plan.auto_rollback,
    stages,
    started_by: ro.started_by,
    approved_by: ro.approved_by,
    created_at: ro.created_at,
    updated_at: ro.updated_at,
    stage_started_at: iso(ro.stage_started_at),
    next_advance_at: iso(ro.next_advance_at),
    paused_remaining_seconds: ro.paused_remaining_ms === null ? null : ro.paused_remaining_ms / 1000,
    ended_at: ro.ended_at,
    end_reason: ro.end_reason,
    release,
    clients,
  };
}
