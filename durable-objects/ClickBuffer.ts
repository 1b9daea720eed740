import { DurableObject } from "cloudflare:workers";

/** A durable buffer near the edge: persists accepted batches, forwards them to ClickShards in bulk. */
export class ClickBuffer extends DurableObject<Env> {
  async ping(): Promise<string> {
    return "pong";
  }
}
