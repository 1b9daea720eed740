import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { windowStart } from "../../lib/clicks/windows";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { shardName } from "../../lib/clicks/hash";
import type { ClickBuffer } from "../../durable-objects/ClickBuffer";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { bufferStub, countsFor, drainPipeline, events, postClicks, SHARDS, shardStub, uniqueCampaign } from "./clicks-helpers";

const NO_REJECTIONS = { invalid: 0, too_late: 0, future: 0 };

/** The ground truth of events all at `ts` from region eu: clicks per `window|ad|eu` cell. */
function expectedCells(evs: { ad_id: string }[], ts: number): Record<string, number> {
  const w = windowStart(ts);
  const expected: Record<string, number> = {};
  for (const e of evs) expected[`${w}|${e.ad_id}|eu`] = (expected[`${w}|${e.ad_id}|eu`] ?? 0) + 1;
  return expected;
}

describe("click pipeline: ingest → buffer → shards → D1", () => {
  it("counts every accepted click once, per one-minute window, ad and region", async () => {
    const campaign = uniqueCampaign();
    const ts = Date.now() - 5_000;
    const evs = events(campaign, 250, { ts });
    const r = await postClicks(evs.slice(0, 100));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ accepted: 100, rejected: [] });
    expect((await postClicks(evs.slice(100))).body.accepted).toBe(150);
    await drainPipeline();
    const got = await countsFor(campaign);
    expect(got.total).toBe(250);
    expect(got.byCell).toEqual(expectedCells(evs, ts));
  });

  it("sends a shard its cells as arrays until it answers that it reads them packed, then packed; counts are the same", async () => {
    const campaign = uniqueCampaign("packed");
    const ts = Date.now() - 5_000;
    const evs = events(campaign, 400, { ts, ad: (i) => `ad-${i % 7}` });
    const tuples = (list: typeof evs): ClickTuple[] => list.map((e) => [e.click_id, e.campaign_id, e.ad_id, "eu", ts]);
    const name = `buffer:packed-test:${campaign}`;
    const buffer = bufferStub(name);
    const packedShards = () => runInDurableObject(buffer, (b: ClickBuffer) => [...b["packedShards"]].sort());
    const store = async (list: typeof evs) => expect(await buffer.store(name, Date.now(), JSON.stringify(tuples(list)), list.length, NO_REJECTIONS, "outcome")).toMatchObject({ ok: true });

    await store(evs.slice(0, 200));
    expect(await packedShards()).toEqual([]);
    await runDurableObjectAlarm(buffer);
    // that forward went out as arrays (no shard had answered yet); every shard it reached answered packed
    const reached = new Set([...planForward([{ receivedAt: 0, clicks: tuples(evs.slice(0, 200)), rejected: NO_REJECTIONS }], SHARDS, 0).keys()].map(shardName));
    expect(await packedShards()).toEqual([...reached].sort());
    // the next forward is packed for those shards, and re-sends half of the first (duplicates count nothing)
    await store([...evs.slice(200), ...evs.slice(0, 100)]);
    await runDurableObjectAlarm(buffer);
    expect((await buffer.state()).pendingBatches).toBe(0);
    await drainPipeline();
    const got = await countsFor(campaign);
    expect(got.total).toBe(400);
    expect(got.byCell).toEqual(expectedCells(evs, ts));
  });

  it("a shard refuses a batch that carries no cells instead of counting nothing", async () => {
    const now = Date.now();
    const [[s, batch]] = [...planForward([{ receivedAt: now, clicks: [[`nocells-${now}`, uniqueCampaign("nocells"), "ad", "eu", now]], rejected: NO_REJECTIONS }], 1, 0)];
    const shard = shardStub(s);
    // called inside the object: thrown across RPC, the refusal would be logged as uncaught
    const refused = await runInDurableObject(shard, (o: ClickShard) => o.ingest("shard:0", "nocells-test", 0, { ...batch, cells: null }).then(() => "counted", (e: Error) => e.message));
    expect(refused).toMatch(/no cells/);
    expect(await shard.ingest("shard:0", "nocells-test", 0, batch)).toMatchObject({ duplicates: 0, packed: true });
  });
});
