import { DurableObject } from "cloudflare:workers";

/** One per namespace: owns the namespace's versions, release state and rollouts. */
export class RolloutCoordinator extends DurableObject<Env> {
  async ping(): Promise<string> {
    return "pong";
  }
}
