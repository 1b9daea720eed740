// /admin/v1/namespaces/…: namespaces, versions, rollouts, rollback, release. Request schemas are the
// ones the Worker parses with; response schemas describe what it answers (checked against real
// answers by test/workerd/openapi.test.ts).
import { z } from "zod";
import { JsonObject, NAMESPACE_RE, NamespaceName, Timestamp } from "./common.ts";
import { RolloutPlan } from "./rollout-plan.ts";

// ------------------------------------------------------------------ requests

export const PutNamespace = z.object({
  schema: z.custom<unknown>((v) => v !== undefined, "schema is required").meta({ description: "a JSON Schema (2020-12) every version's values must match" }),
  description: z.string().max(2000).optional(),
  approvals_required: z.union([z.literal(0), z.literal(1)]).optional(),
});

export const NamespaceListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().regex(NAMESPACE_RE).optional(),
});

export const CreateVersion = z.object({ values: JsonObject, message: z.string().max(1000).default("") });
export const ValidateValues = z.object({ values: JsonObject });

export const VersionListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^[0-9]{1,10}$/, "cursor must come from next_cursor").optional(),
});

export const DiffQuery = z.object({ against: z.string().regex(/^[0-9]+$/).meta({ description: "the version to compare with" }) });

/** What the Worker parses; the plan is then checked by lib/config/plan.ts against the regions. */
export const StartRollout = z.object({ version: z.number().int().min(1), plan: z.unknown().optional() });
/** The same body as documented and typed for clients. */
export const StartRolloutBody = z.object({ version: z.number().int().min(1), plan: RolloutPlan });

export const RolloutListQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });

export { ROLLOUT_ACTIONS, type RolloutAction } from "./constants.ts";

export const Rollback = z.object({ to_version: z.number().int().min(1), reason: z.string().trim().min(1).max(1000) });

// ------------------------------------------------------------------ responses

export const NamespaceSummary = z.object({
  name: NamespaceName,
  description: z.string(),
  approvals_required: z.union([z.literal(0), z.literal(1)]),
  latest_version: z.number().int(),
  active_rollout_id: z.string().nullable(),
  generation: z.number().int(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export const NamespaceInfo = NamespaceSummary.extend({ schema: z.unknown() }).meta({ id: "Namespace" });
export const NamespaceList = z.object({ namespaces: z.array(NamespaceSummary), next_cursor: z.string().nullable() });

export const VersionCreated = z.object({ version: z.number().int(), hash: z.string(), created_at: Timestamp });
export const ValidateResult = z.object({ valid: z.literal(true) });
export const VersionSummary = z.object({ version: z.number().int(), hash: z.string(), author: z.string(), message: z.string(), created_at: Timestamp });
export const VersionList = z.object({ versions: z.array(VersionSummary), next_cursor: z.string().nullable() });
export const VersionDetail = VersionSummary.extend({ namespace: z.string(), values: z.record(z.string(), z.unknown()) }).meta({ id: "Version" });

export const JsonPatchOp = z.object({ op: z.enum(["add", "remove", "replace", "move", "copy", "test"]), path: z.string(), from: z.string().optional(), value: z.unknown().optional() });
export const VersionDiff = z.object({ namespace: z.string(), from: z.number().int(), to: z.number().int(), from_hash: z.string(), to_hash: z.string(), patch: z.array(JsonPatchOp) });

export const RegionRelease = z.object({ stable: z.number().int().nullable(), candidate: z.number().int().nullable(), percent: z.number(), rollout_id: z.string().nullable() });
export const ReleaseState = z
  .object({
    namespace: z.string(),
    generation: z.number().int(),
    stable: z.number().int().nullable().meta({ description: "the version every region falls back to" }),
    regions: z.record(z.string(), RegionRelease),
    updated_at: Timestamp,
  })
  .meta({ id: "Release" });

export const ROLLOUT_STATES = ["pending_approval", "running", "paused", "completed", "aborted", "rolled_back"] as const;

export const StageView = z.object({
  index: z.number().int(),
  regions: z.union([z.array(z.string()), z.literal("*")]),
  percent: z.number(),
  bake_seconds: z.number().int(),
  started_at: Timestamp.nullable(),
  health: z.array(
    z.object({
      version: z.number().int(),
      ok: z.number().int(),
      error: z.number().int(),
      regions: z.record(z.string(), z.object({ ok: z.number().int(), error: z.number().int() })),
    }),
  ),
});

export const RolloutDetail = z
  .object({
    rollout_id: z.string(),
    namespace: z.string(),
    version: z.number().int(),
    from_version: z.number().int().nullable(),
    state: z.enum(ROLLOUT_STATES),
    stage_index: z.number().int(),
    stage_count: z.number().int(),
    preset: z.string().nullable(),
    auto_rollback: z.object({ max_error_rate: z.number(), min_samples: z.number().int() }).nullable(),
    stages: z.array(StageView),
    started_by: z.string(),
    approved_by: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    stage_started_at: Timestamp.nullable(),
    next_advance_at: Timestamp.nullable(),
    paused_remaining_seconds: z.number().nullable(),
    ended_at: Timestamp.nullable(),
    end_reason: z.string().nullable(),
    release: ReleaseState,
    clients: z.record(z.string(), z.record(z.string(), z.number().int())).meta({ description: "distinct clients (last report) per region and version" }),
  })
  .meta({ id: "Rollout" });
export const RolloutList = z.object({ rollouts: z.array(RolloutDetail) });

export type PutNamespaceBody = z.input<typeof PutNamespace>;
export type CreateVersionBody = z.input<typeof CreateVersion>;
export type StartRolloutRequest = z.input<typeof StartRolloutBody>;
export type RollbackBody = z.input<typeof Rollback>;
export type NamespaceInfo = z.infer<typeof NamespaceInfo>;
export type NamespaceList = z.infer<typeof NamespaceList>;
export type VersionCreated = z.infer<typeof VersionCreated>;
export type VersionList = z.infer<typeof VersionList>;
export type VersionDetail = z.infer<typeof VersionDetail>;
export type VersionDiff = z.infer<typeof VersionDiff>;
export type ReleaseState = z.infer<typeof ReleaseState>;
export type RolloutDetail = z.infer<typeof RolloutDetail>;
export type RolloutList = z.infer<typeof RolloutList>;
