// The rollout plan as a user writes it: a preset name, `{preset, bake_seconds?, auto_rollback?}`, or
// explicit stages. lib/config/plan.ts validates with these and then checks the regions.
import { z } from "zod";

/** Limits of a rollout plan. */
export const MAX_STAGES = 50;
export const MAX_BAKE_SECONDS = 7 * 24 * 3600;

const twoDecimals = (n: number) => Math.abs(Math.round(n * 100) - n * 100) < 1e-9;

export const Stage = z.object({
  regions: z.union([z.literal("*"), z.array(z.string()).min(1).max(64)]),
  percent: z
    .number()
    .gt(0, "percent must be > 0")
    .max(100, "percent must be ≤ 100")
    .refine(twoDecimals, "percent allows at most two decimals"),
  bake_seconds: z.number().int().min(0).max(MAX_BAKE_SECONDS),
});

export const AutoRollbackSchema = z.object({
  max_error_rate: z.number().min(0).max(1),
  min_samples: z.number().int().min(1).max(1_000_000),
});

export const ExplicitPlan = z.object({
  stages: z.array(Stage).min(1).max(MAX_STAGES),
  auto_rollback: AutoRollbackSchema.optional(),
});

export const PresetName = z.enum(["canary", "immediate"]);
export const PresetPlan = z.object({
  preset: PresetName,
  bake_seconds: z.number().int().min(0).max(MAX_BAKE_SECONDS).optional(),
  auto_rollback: AutoRollbackSchema.optional(),
});

/** Any plan a rollout accepts. */
export const RolloutPlan = z.union([PresetName, PresetPlan, ExplicitPlan]).meta({ id: "RolloutPlan" });
export type RolloutPlan = z.input<typeof RolloutPlan>;
