import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { shardOf } from "../../lib/clicks/hash";
import type { ClickSettings } from "../../lib/clicks/settings";
import { allBuffers, countsFor, drainPipeline, events, postClicks, SHARDS, uniqueCampaign } from "./clicks-helpers";

interface BufferInternals {
  settings: ClickSettings;
  freeze(): { forwardId: number } | null;
  sql: SqlStorage;
}

describe("a forward frozen before CLICK_SHARDS changed", () => {
  it("is re-sent with the split it was planned with, so acknowledged shards are not sent again", async () => {
    const campaign = uniqueCampaign("reshard");
    const evs = events(campaign, 96);
    expect((await postClicks(evs)).status).toBe(200);
    let holder = null;
    for (const b of allBuffers()) if ((await b.state()).pendingBatches > 0) holder = b;
    expect(holder).not.toBeNull();

    // Freeze the forward under the current split and pretend every shard but one has acknowledged it
    // (their part is counted elsewhere); then the deployment changes the shard count.
    const missing = SHARDS - 1;
    await runInDurableObject(holder!, (instance) => {
      const buf = instance as unknown as BufferInternals;
      const fw = buf.freeze();
      expect(fw).not.toBeNull();
      const acked = Array.from({ length: SHARDS }, (_, i) => i).filter((i) => i !== missing);
      buf.sql.exec("UPDATE forwards SET acked = ? WHERE forward_id = ?", JSON.stringify(acked), fw!.forwardId);
      buf.settings = { ...buf.settings, shards: 4 };
    });
    await runDurableObjectAlarm(holder!);
    await drainPipeline();

    // Only the part of the un-acknowledged shard (under the ORIGINAL split) may have been sent now.
    const expected = evs.filter((e) => shardOf(e.click_id, SHARDS) === missing).length;
    expect(expected).toBeGreaterThan(0);
    expect((await countsFor(campaign)).total).toBe(expected);
  });
});
