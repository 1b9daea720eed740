import { describe, expect, it } from "vitest";
import { judgeHealth } from "../../lib/config/health";
import { CANARY_BAKE_SECONDS, presetStages, REGION_BAKE_SECONDS, validatePlan } from "../../lib/config/plan";

const REGIONS = ["na", "eu", "as"];

function issues(raw: unknown): string[] {
  const r = validatePlan(raw, REGIONS);
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe("plan validation", () => {
  it("accepts a well-formed plan and expands '*'", () => {
    const r = validatePlan(
      {
        stages: [
          { regions: ["eu"], percent: 12.5, bake_seconds: 60 },
          { regions: ["eu", "na"], percent: 100, bake_seconds: 0 },
          { regions: "*", percent: 100, bake_seconds: 10 },
        ],
        auto_rollback: { max_error_rate: 0.05, min_samples: 100 },
      },
      REGIONS,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plan.stages[2]).toEqual({ regions: REGIONS, all: true, percent: 100, bake_seconds: 10 });
    expect(r.plan.auto_rollback).toEqual({ max_error_rate: 0.05, min_samples: 100 });
    expect(r.plan.preset).toBeNull();
  });

  it("refuses unknown regions, decreasing percents and plans that do not end at 100% everywhere", () => {
    expect(issues({ stages: [{ regions: ["mars"], percent: 100, bake_seconds: 0 }, { regions: "*", percent: 100, bake_seconds: 0 }] })).toEqual([
      "/plan/stages/0/regions: region 'mars' is not configured (configured: na, eu, as)",
    ]);
    expect(
      issues({
        stages: [
          { regions: ["eu"], percent: 50, bake_seconds: 0 },
          { regions: ["eu"], percent: 20, bake_seconds: 0 },
          { regions: "*", percent: 100, bake_seconds: 0 },
        ],
      }),
    ).toEqual(["/plan/stages/1/percent: region 'eu' would go down from 50% to 20%"]);
    expect(issues({ stages: [{ regions: ["eu", "na"], percent: 100, bake_seconds: 0 }] })).toEqual([
      "/plan/stages/0: the last stage must leave every configured region at 100% (short: as)",
    ]);
  });

  it("refuses malformed stages with paths", () => {
    expect(issues({ stages: [] })[0]).toMatch(/^\/plan\/stages/);
    expect(issues({ stages: [{ regions: "*", percent: 0, bake_seconds: 0 }] })[0]).toMatch(/^\/plan\/stages\/0\/percent/);
    expect(issues({ stages: [{ regions: "*", percent: 100.5, bake_seconds: 0 }] })[0]).toMatch(/percent/);
    expect(issues({ stages: [{ regions: "*", percent: 10.123, bake_seconds: 0 }] })[0]).toMatch(/two decimals/);
    expect(issues({ stages: [{ regions: "*", percent: 100, bake_seconds: 8 * 86400 }] })[0]).toMatch(/bake_seconds/);
    expect(issues({ stages: [{ regions: [], percent: 100, bake_seconds: 0 }] })[0]).toMatch(/regions/);
    expect(issues({ stages: Array.from({ length: 51 }, () => ({ regions: "*", percent: 100, bake_seconds: 0 })) })[0]).toMatch(/^\/plan\/stages/);
    expect(issues({ stages: [{ regions: "*", percent: 100, bake_seconds: 0 }], auto_rollback: { max_error_rate: 1.5, min_samples: 0 } }).length).toBe(2);
    expect(issues("yolo")).toEqual(["/plan: unknown preset 'yolo' (canary | immediate)"]);
    expect(issues(42).length).toBeGreaterThan(0);
    expect(validatePlan("immediate", []).ok).toBe(false);
  });

  it("expands presets", () => {
    expect(presetStages("immediate", REGIONS)).toEqual([{ regions: "*", percent: 100, bake_seconds: 0 }]);
    expect(presetStages("canary", REGIONS)).toEqual([
      { regions: ["na"], percent: 1, bake_seconds: CANARY_BAKE_SECONDS },
      { regions: ["na"], percent: 100, bake_seconds: REGION_BAKE_SECONDS },
      { regions: ["eu"], percent: 100, bake_seconds: REGION_BAKE_SECONDS },
      { regions: ["as"], percent: 100, bake_seconds: REGION_BAKE_SECONDS },
      { regions: "*", percent: 100, bake_seconds: 0 },
    ]);
    const r = validatePlan({ preset: "canary", bake_seconds: 1, auto_rollback: { max_error_rate: 0.1, min_samples: 5 } }, REGIONS);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.plan.preset).toBe("canary");
      expect(r.plan.stages.slice(0, 4).every((s) => s.bake_seconds === 1)).toBe(true);
      expect(r.plan.auto_rollback).toEqual({ max_error_rate: 0.1, min_samples: 5 });
    }
    expect(validatePlan("canary", REGIONS).ok).toBe(true);
  });
});

describe("health gate", () => {
  const rule = { max_error_rate: 0.1, min_samples: 10 };
  it("breaches only with enough samples and an error rate above the limit", () => {
    expect(judgeHealth(0, 9, rule).breached).toBe(false);
    expect(judgeHealth(9, 1, rule)).toEqual({ breached: false, samples: 10, errors: 1, error_rate: 0.1 });
    expect(judgeHealth(8, 2, rule)).toEqual({ breached: true, samples: 10, errors: 2, error_rate: 0.2 });
    expect(judgeHealth(0, 100, null).breached).toBe(false);
    expect(judgeHealth(0, 0, rule).error_rate).toBe(0);
  });
});
