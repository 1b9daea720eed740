import { judgeHealth, type HealthVerdict } from "./health";
import type { NormalizedPlan } from "./plan";
import type { ControlAction, RolloutState } from "./types";

/**
 * The rollout state machine, pure: which control actions apply in which state and where they lead,
 * what the alarm does next for a running rollout, and the fields each transition sets. The
 * RolloutCoordinator applies these decisions to its SQLite state; nothing here touches storage.
 */

/** Control transitions as data: the states an action applies in, and the state it leads to. */
export const CONTROL_TRANSITIONS: Readonly<Record<ControlAction, { from: readonly RolloutState[]; to: RolloutState }>> = {
  approve: { from: ["pending_approval"], to: "running" },
  pause: { from: ["running"], to: "paused" },
  resume: { from: ["paused"], to: "running" },
  promote: { from: ["running"], to: "running" },
  abort: { from: ["pending_approval", "running", "paused"], to: "aborted" },
};

export type Refusal = { status: 403 | 409; code: string; message: string; details: unknown };

/** Why `actor` may not apply `action` to a rollout in `state` started by `startedBy`, or null if allowed. */
export function refuseControl(action: ControlAction, ro: { state: RolloutState; started_by: string }, actor: string): Refusal | null {
  const t = CONTROL_TRANSITIONS[action];
  if (!t.from.includes(ro.state)) {
    return { status: 409, code: "invalid_state", message: `Cannot ${action} a rollout that is ${ro.state}`, details: { state: ro.state, action, allowed_from: t.from } };
  }
  if (action === "approve" && ro.started_by === actor) {
    return { status: 403, code: "self_approval", message: "A rollout must be approved by someone other than the person who started it", details: { started_by: ro.started_by } };
  }
  return null;
}

/** The timing fields of a rollout that the machine reads and sets. */
export interface RolloutClock {
  state: RolloutState;
  stage_index: number;
  next_advance_at: number | null;
  paused_remaining_ms: number | null;
}

/** Pause keeps the rest of the bake; resume starts it again from there. */
export function pauseClock(ro: RolloutClock, now: number): { paused_remaining_ms: number; next_advance_at: null } {
  return { paused_remaining_ms: Math.max(0, (ro.next_advance_at ?? now) - now), next_advance_at: null };
}

export function resumeClock(ro: RolloutClock, now: number): { paused_remaining_ms: null; next_advance_at: number } {
  return { paused_remaining_ms: null, next_advance_at: now + (ro.paused_remaining_ms ?? 0) };
}

/** Entering stage `index`: its regions get the candidate at the stage's percent; the bake starts now. */
export function stageEntry(plan: NormalizedPlan, index: number, now: number): { regions: readonly string[]; percent: number; next_advance_at: number } {
  const stage = plan.stages[index];
  return { regions: stage.regions, percent: stage.percent, next_advance_at: now + stage.bake_seconds * 1000 };
}

/** The health gate of the current stage from the candidate's counts in it (never breached without a rule). */
export function gate(plan: NormalizedPlan, candidate: { ok: number; error: number }): HealthVerdict {
  return judgeHealth(candidate.ok, candidate.error, plan.auto_rollback);
}

export type Step =
  /** Nothing to do now (not running, or the bake is not over). */
  | { kind: "wait" }
  /** The health gate is breached: roll back to stable. */
  | { kind: "roll_back"; verdict: HealthVerdict }
  /** Enter the next stage. */
  | { kind: "enter"; index: number }
  /** The last stage is done: the target becomes stable everywhere. */
  | { kind: "complete" };

/** What a rollout should do at `now`: the gate first, then the bake clock. */
export function nextStep(ro: RolloutClock, plan: NormalizedPlan, candidate: { ok: number; error: number }, now: number): Step {
  if (ro.state !== "running") return { kind: "wait" };
  const verdict = gate(plan, candidate);
  if (verdict.breached) return { kind: "roll_back", verdict };
  if (ro.next_advance_at === null || ro.next_advance_at > now) return { kind: "wait" };
  return ro.stage_index + 1 < plan.stages.length ? { kind: "enter", index: ro.stage_index + 1 } : { kind: "complete" };
}
