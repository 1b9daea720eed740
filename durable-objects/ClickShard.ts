import { DurableObject } from "cloudflare:workers";

/** One of CLICK_SHARDS objects chosen by hash(click_id): dedup, pre-aggregation, flush to D1. */
export class ClickShard extends DurableObject<Env> {
  async ping(): Promise<string> {
    return "pong";
  }
}
