import { describe, expect, it } from "vitest";
import type { RolloutRow } from "../../lib/config/coordinator-schema";
import { releaseView, rolloutView } from "../../lib/config/rollout-view";

describe("release view", () => {
  it("lists every configured region, with the stable version where no candidate is set", () => {
    const r = releaseView("shop", ["na", "eu"], 3, 9, [{ region: "eu", candidate: 4, percent: 12.5, rollout_id: "ro_1" }, { region: "gone", candidate: 4, percent: 1, rollout_id: "ro_1" }], "t");
    expect(r).toEqual({
      namespace: "shop",
      generation: 9,
      stable: 3,
      regions: { na: { stable: 3, candidate: null, percent: 0, rollout_id: null }, eu: { stable: 3, candidate: 4, percent: 12.5, rollout_id: "ro_1" } },
      updated_at: "t",
    });
  });
});

describe("rollout view", () => {
  it("groups health by stage and version and clients by region", () => {
    const ro: RolloutRow = {
      id: "ro_1",
      seq: 1,
      version: 4,
      from_version: 3,
      plan: JSON.stringify({
        preset: null,
        auto_rollback: { max_error_rate: 0.1, min_samples: 5 },
        stages: [
          { regions: ["eu"], all: false, percent: 10, bake_seconds: 60 },
          { regions: ["na", "eu"], all: true, percent: 100, bake_seconds: 0 },
        ],
      }),
      state: "running",
      stage_index: 0,
      stage_started_at: Date.UTC(2026, 0, 1),
      next_advance_at: Date.UTC(2026, 0, 1, 0, 1),
      paused_remaining_ms: null,
      stage_history: JSON.stringify([{ index: 0, started_at: "2026-01-01T00:00:00.000Z" }]),
      started_by: "alice",
      approved_by: null,
      created_at: "c",
      updated_at: "u",
      ended_at: null,
      end_reason: null,
    };
    const release = releaseView("shop", ["na", "eu"], 3, 2, [], "t");
    const v = rolloutView(
      "shop",
      ro,
      [
        { stage_index: 0, version: 4, region: "eu", ok: 5, error: 1 },
        { stage_index: 0, version: 4, region: "na", ok: 2, error: 0 },
        { stage_index: 0, version: 3, region: "eu", ok: 9, error: 0 },
      ],
      [
        { region: "eu", version: 4, n: 6 },
        { region: "eu", version: 3, n: 9 },
      ],
      release,
    );
    expect(v).toMatchObject({
      rollout_id: "ro_1",
      stage_count: 2,
      stage_started_at: "2026-01-01T00:00:00.000Z",
      next_advance_at: "2026-01-01T00:01:00.000Z",
      clients: { eu: { "4": 6, "3": 9 } },
      release,
    });
    expect(v.stages[0].health).toEqual([
      { version: 4, ok: 7, error: 1, regions: { eu: { ok: 5, error: 1 }, na: { ok: 2, error: 0 } } },
      { version: 3, ok: 9, error: 0, regions: { eu: { ok: 9, error: 0 } } },
    ]);
    expect(v.stages[1]).toMatchObject({ regions: "*", started_at: null, health: [] });
  });
});
