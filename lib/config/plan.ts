import type { z } from "zod";
import { ExplicitPlan, MAX_BAKE_SECONDS, MAX_STAGES, PresetName, PresetPlan, Stage } from "../api/rollout-plan";

/** Limits of a rollout plan (the plan's wire schemas live in lib/api/rollout-plan.ts). */
export { MAX_BAKE_SECONDS, MAX_STAGES };

/** Preset bake times (seconds); `{preset, bake_seconds}` overrides them. */
export const CANARY_BAKE_SECONDS = 600;
export const REGION_BAKE_SECONDS = 300;

export interface AutoRollback {
  max_error_rate: number;
  min_samples: number;
}

/** A stage with its region list expanded ("*" → every configured region). */
export interface NormalizedStage {
  regions: string[];
  all: boolean;
  percent: number;
  bake_seconds: number;
}

export interface NormalizedPlan {
  preset: string | null;
  stages: NormalizedStage[];
  auto_rollback: AutoRollback | null;
}

export interface PlanIssue {
  path: string;
  message: string;
}

/** The stages of a preset over the configured regions, in the shape a user would write. */
export function presetStages(name: "canary" | "immediate", regions: readonly string[], bakeOverride?: number): z.infer<typeof Stage>[] {
  if (name === "immediate") return [{ regions: "*", percent: 100, bake_seconds: 0 }];
  const canaryBake = bakeOverride ?? CANARY_BAKE_SECONDS;
  const regionBake = bakeOverride ?? REGION_BAKE_SECONDS;
  const stages: z.infer<typeof Stage>[] = [{ regions: [regions[0]], percent: 1, bake_seconds: canaryBake }];
  for (const r of regions) stages.push({ regions: [r], percent: 100, bake_seconds: regionBake });
  stages.push({ regions: "*", percent: 100, bake_seconds: 0 });
  return stages;
}

function issuesOf(err: z.ZodError, prefix: string): PlanIssue[] {
  return err.issues.map((i) => ({ path: prefix + (i.path.length ? "/" + i.path.map(String).join("/") : ""), message: i.message }));
}

/**
 * Validates an untrusted plan (an object, or a preset name, or `{preset, bake_seconds?}`) against the
 * configured regions: regions must be configured, a region's percent never decreases across stages,
 * and after the last stage every configured region is at 100%.
 */
export function validatePlan(raw: unknown, regions: readonly string[]): { ok: true; plan: NormalizedPlan } | { ok: false; issues: PlanIssue[] } {
  if (regions.length === 0) return { ok: false, issues: [{ path: "/plan", message: "no regions are configured" }] };
  let stages: z.infer<typeof Stage>[];
  let autoRollback: AutoRollback | null = null;
  let preset: string | null = null;
  if (typeof raw === "string") {
    const p = PresetName.safeParse(raw);
    if (!p.success) return { ok: false, issues: [{ path: "/plan", message: `unknown preset '${raw}' (canary | immediate)` }] };
    preset = p.data;
    stages = presetStages(p.data, regions);
  } else if (raw && typeof raw === "object" && "preset" in raw) {
    const p = PresetPlan.safeParse(raw);
    if (!p.success) return { ok: false, issues: issuesOf(p.error, "/plan") };
    preset = p.data.preset;
    stages = presetStages(p.data.preset, regions, p.data.bake_seconds);
    autoRollback = p.data.auto_rollback ?? null;
  } else {
    const p = ExplicitPlan.safeParse(raw);
    if (!p.success) return { ok: false, issues: issuesOf(p.error, "/plan") };
    stages = p.data.stages;
    autoRollback = p.data.auto_rollback ?? null;
  }

  const issues: PlanIssue[] = [];
  const known = new Set(regions);
  const current = new Map<string, number>();
  const normalized: NormalizedStage[] = stages.map((s, i) => {
    const list = s.regions === "*" ? [...regions] : [...new Set(s.regions)];
    for (const r of list) {
      if (!known.has(r)) {
        issues.push({ path: `/plan/stages/${i}/regions`, message: `region '${r}' is not configured (configured: ${regions.join(", ")})` });
        continue;
      }
      const before = current.get(r) ?? 0;
      if (s.percent < before) issues.push({ path: `/plan/stages/${i}/percent`, message: `region '${r}' would go down from ${before}% to ${s.percent}%` });
      current.set(r, Math.max(before, s.percent));
    }
    return { regions: list, all: s.regions === "*", percent: s.percent, bake_seconds: s.bake_seconds };
  });
  const short = regions.filter((r) => (current.get(r) ?? 0) < 100);
  if (short.length > 0) {
    issues.push({ path: `/plan/stages/${stages.length - 1}`, message: `the last stage must leave every configured region at 100% (short: ${short.join(", ")})` });
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, plan: { preset, stages: normalized, auto_rollback: autoRollback } };
}
