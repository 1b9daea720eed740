import { describe, expect, it } from "vitest";
import type { NormalizedPlan } from "../../lib/config/plan";
import { CONTROL_TRANSITIONS, nextStep, pauseClock, refuseControl, resumeClock, stageEntry, type RolloutClock } from "../../lib/config/rollout-machine";
import type { ControlAction, RolloutState } from "../../lib/config/types";

const PLAN: NormalizedPlan = {
  preset: null,
  stages: [
    { regions: ["eu"], all: false, percent: 5, bake_seconds: 60 },
    { regions: ["eu", "na"], all: false, percent: 100, bake_seconds: 0 },
  ],
  auto_rollback: { max_error_rate: 0.1, min_samples: 10 },
};
const running = (over: Partial<RolloutClock> = {}): RolloutClock => ({ state: "running", stage_index: 0, next_advance_at: 1_000, paused_remaining_ms: null, ...over });
const none = { ok: 0, error: 0 };

describe("control transitions", () => {
  const STATES: RolloutState[] = ["pending_approval", "running", "paused", "completed", "aborted", "rolled_back"];
  it("allows each action exactly in its `from` states and refuses the rest with 409 invalid_state", () => {
    for (const action of Object.keys(CONTROL_TRANSITIONS) as ControlAction[]) {
      for (const state of STATES) {
        const refusal = refuseControl(action, { state, started_by: "alice" }, "bob");
        if (CONTROL_TRANSITIONS[action].from.includes(state)) expect(refusal, `${action} from ${state}`).toBeNull();
        else expect(refusal).toMatchObject({ status: 409, code: "invalid_state", details: { state, action } });
      }
    }
    // Ended rollouts take no action at all.
    for (const state of ["completed", "aborted", "rolled_back"] as RolloutState[]) {
      expect((Object.keys(CONTROL_TRANSITIONS) as ControlAction[]).every((a) => refuseControl(a, { state, started_by: "a" }, "b") !== null)).toBe(true);
    }
  });

  it("refuses self-approval with 403", () => {
    expect(refuseControl("approve", { state: "pending_approval", started_by: "alice" }, "alice")).toMatchObject({ status: 403, code: "self_approval" });
  });
});

describe("the bake clock", () => {
  it("pause keeps the remaining bake and resume restarts it from there", () => {
    const paused = pauseClock(running({ next_advance_at: 5_000 }), 2_000);
    expect(paused).toEqual({ paused_remaining_ms: 3_000, next_advance_at: null });
    expect(resumeClock({ ...running(), state: "paused", ...paused }, 10_000)).toEqual({ paused_remaining_ms: null, next_advance_at: 13_000 });
    expect(pauseClock(running({ next_advance_at: 1_000 }), 2_000).paused_remaining_ms).toBe(0);
  });

  it("entering a stage sets its regions and percent and starts its bake", () => {
    expect(stageEntry(PLAN, 0, 100)).toEqual({ regions: ["eu"], percent: 5, next_advance_at: 60_100 });
    expect(stageEntry(PLAN, 1, 100)).toEqual({ regions: ["eu", "na"], percent: 100, next_advance_at: 100 });
  });
});

describe("next step", () => {
  it("waits while baking, enters the next stage when due, completes after the last", () => {
    expect(nextStep(running(), PLAN, none, 999)).toEqual({ kind: "wait" });
    expect(nextStep(running(), PLAN, none, 1_000)).toEqual({ kind: "enter", index: 1 });
    expect(nextStep(running({ stage_index: 1 }), PLAN, none, 1_000)).toEqual({ kind: "complete" });
  });

  it("never moves a rollout that is not running", () => {
    for (const state of ["paused", "pending_approval", "completed"] as RolloutState[]) {
      expect(nextStep(running({ state, next_advance_at: 0 }), PLAN, { ok: 0, error: 100 }, 10_000)).toEqual({ kind: "wait" });
    }
  });

  it("rolls back when the gate is breached, before the clock, and only with enough samples", () => {
    expect(nextStep(running(), PLAN, { ok: 8, error: 2 }, 0)).toMatchObject({ kind: "roll_back", verdict: { samples: 10, errors: 2, error_rate: 0.2 } });
    expect(nextStep(running(), PLAN, { ok: 0, error: 9 }, 0)).toEqual({ kind: "wait" }); // 9 < min_samples
    expect(nextStep(running(), PLAN, { ok: 9, error: 1 }, 1_000)).toEqual({ kind: "enter", index: 1 }); // 10 % is not > 10 %
    expect(nextStep(running(), { ...PLAN, auto_rollback: null }, { ok: 0, error: 1000 }, 0)).toEqual({ kind: "wait" });
  });
});
