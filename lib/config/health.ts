import type { AutoRollback } from "./plan";

export interface HealthVerdict {
  breached: boolean;
  samples: number;
  errors: number;
  error_rate: number;
}

/**
 * The health gate of the current stage: breached when the candidate has at least `min_samples`
 * reports and its error rate is above `max_error_rate`. Fewer samples than that never block a
 * stage (a rollout whose clients do not report must still be able to finish).
 */
export function judgeHealth(ok: number, errors: number, rule: AutoRollback | null): HealthVerdict {
  const samples = ok + errors;
  const error_rate = samples === 0 ? 0 : errors / samples;
  const breached = rule !== null && samples >= rule.min_samples && error_rate > rule.max_error_rate;
  return { breached, samples, errors, error_rate };
}
