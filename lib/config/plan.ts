import { z } from "zod";

/** Limits of a rollout plan. */
export const MAX_STAGES = 50;
export const MAX_BAKE_SECONDS = 7 * 24 * 3600;

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

const twoDecimals = (n: number) => Math.abs(Math.round(n * 100) - n * 100) < 1e-9;

const Stage = z.object({
  regions: z.union([z.literal("*"), z.array(z.string()).min(1).max(64)]),
  percent: z
    .number()
    .gt(0, "percent must be > 0")
    .max(100, "percent must be ≤ 100")
    .refine(twoDecimals, "percent allows at most two decimals"),
  bake_seconds: z.number().int().min(0).max(MAX_BAKE_SECONDS),
});

const AutoRollbackSchema = z.object({
  max_error_rate: z.number().min(0).max(1),
  min_samples: z.number().int().min(1).max(1_000_000),
});

const ExplicitPlan = z.object({
  stages: z.array(Stage).min(1).max(MAX_STAGES),
  auto_rollback: AutoRollbackSchema.optional(),
});

const PresetName = z.enum(["canary", "immediate"]);
const PresetPlan = z.object({
  preset: PresetName,
  bake_seconds: z.number().int().min(0).max(MAX_BAKE_SECONDS).optional(),
  auto_rollback: AutoRollbackSchema.optional(),
});

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
