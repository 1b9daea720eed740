// The contract's response schemas (lib/api) and the types the Durable Objects and stores return are
// the same types: a field added on one side only fails `npm run typecheck`.
import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type { AuditEntry as StoredAuditEntry } from "../../workers/lib/audit-store";
import type { VerifyResult } from "../../lib/audit-chain";
import type { NamespaceInfo, RolloutDetail, VersionDetail, VersionSummary } from "../../lib/config/types";
import type { ReleaseState } from "../../lib/config/release";
import * as config from "../../lib/api/admin-config";
import * as access from "../../lib/api/admin-access";
import { RolloutPlan } from "../../lib/api/rollout-plan";

describe("lib/api response schemas match the server's own types", () => {
  it("config", () => {
    expectTypeOf<z.infer<typeof config.NamespaceInfo>>().toEqualTypeOf<NamespaceInfo>();
    expectTypeOf<z.infer<typeof config.VersionSummary>>().toEqualTypeOf<VersionSummary>();
    expectTypeOf<z.infer<typeof config.VersionDetail>>().toEqualTypeOf<VersionDetail>();
    expectTypeOf<z.infer<typeof config.ReleaseState>>().toEqualTypeOf<ReleaseState>();
    expectTypeOf<z.infer<typeof config.RolloutDetail>>().toEqualTypeOf<RolloutDetail>();
  });

  it("access", () => {
    expectTypeOf<z.infer<typeof access.AuditEntry>>().toEqualTypeOf<StoredAuditEntry>();
    expectTypeOf<z.infer<typeof access.AuditVerify>>().toEqualTypeOf<VerifyResult>();
  });
});

describe("RolloutPlan", () => {
  it("accepts the three forms a user writes and refuses others", () => {
    expect(RolloutPlan.safeParse("canary").success).toBe(true);
    expect(RolloutPlan.safeParse({ preset: "immediate" }).success).toBe(true);
    expect(RolloutPlan.safeParse({ stages: [{ regions: "*", percent: 100, bake_seconds: 0 }] }).success).toBe(true);
    expect(RolloutPlan.safeParse("slow").success).toBe(false);
    expect(RolloutPlan.safeParse({ stages: [{ regions: "*", percent: 0, bake_seconds: 0 }] }).success).toBe(false);
  });
});
