// Values of the contract that clients need at run time, without loading zod (the CLI starts faster).
export { ROLES } from "../roles.ts";

export const ROLLOUT_ACTIONS = ["pause", "resume", "promote", "approve", "abort"] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];
