import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MERGE_AT, MERGE_RATIO, type DedupIndex } from "../../durable-objects/clicks/dedup-index";
import { partitionSpanMs, SLICES } from "../../lib/clicks/dedup-keys";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { shardName, shardOf } from "../../lib/clicks/hash";
import { windowStart } from "../../lib/clicks/windows";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { allShards, countsFor, drainPipeline, events, postClicks, SHARDS, shardStub, uniqueCampaign } from "./clicks-helpers";

async function statsTotals(): Promise<{ accepted: number; duplicates: number; invalid: number; too_late: number; future: number }> {
  const r = await env.DB.prepare(
    "SELECT coalesce(sum(accepted),0) AS accepted, coalesce(sum(duplicates),0) AS duplicates, coalesce(sum(invalid),0) AS invalid, coalesce(sum(too_late),0) AS too_late, coalesce(sum(future),0) AS future FROM ingest_stats",
  ).first<{ accepted: number; duplicates: number; invalid: number; too_late: number; future: number }>();
  return r!;
}

const index = (shard: ClickShard) => shard["index"] as DedupIndex;

describe("dedup", () => {
  it("counts a click_id once across requests, batches, shards and flushes", async () => {
    const campaign = uniqueCampaign();
    const evs = events(campaign, 200, { ts: Date.now() - 1000 });
    // ids spread over many shards
    expect(new Set(evs.map((e) => shardOf(e.click_id, SHARDS))).size).toBeGreaterThan(8);
    const before = await statsTotals();
    expect((await postClicks(evs.slice(0, 120))).body.accepted).toBe(120);
    // overlapping request before any forward, and a repeat inside one request
    expect((await postClicks([...evs.slice(100, 200), evs[150]])).body.accepted).toBe(101);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(200);
    // replays after the flush, with a different ts and campaign: still the same click, not counted
    const replay = evs.map((e) => ({ ...e, ts: e.ts as number - 30_000 }));
    expect((await postClicks(replay)).body.accepted).toBe(200);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(200);
    const after = await statsTotals();
    expect(after.accepted - before.accepted).toBe(120 + 101 + 200);
    expect(after.duplicates - before.duplicates).toBe(20 + 1 + 200);
  });

  it("counts the first occurrence's cell when a batch mixes new and duplicate ids", async () => {
    const campaign = uniqueCampaign();
    const ts = Date.now() - 1000;
    await postClicks(events(campaign, 10, { ts, ad: () => "first" }));
    await drainPipeline();
    const mixed = events(campaign, 20, { ts, ad: () => "second" });
    await postClicks(mixed);
    await drainPipeline();
    const c = await countsFor(campaign);
    expect(c.total).toBe(20);
    expect(c.byCell).toEqual({ [`${windowStart(ts)}|first|eu`]: 10, [`${windowStart(ts)}|second|eu`]: 10 });
  });

  it("keeps deduplicating across both dedup levels (new keys, and keys merged into the big table)", async () => {
    const campaign = uniqueCampaign();
    const now = Date.now();
    const tuples = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => [`${campaign}-m-${from + i}`, campaign, "ad", "eu", now - 1000] as ClickTuple);
    const batchOf = (from: number, to: number) =>
      planForward([{ receivedAt: now, clicks: tuples(from, to), rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
    const shard = shardStub(5);
    const name = shardName(5);
    expect(await shard.ingest(name, "test", 0, batchOf(0, MERGE_AT + 100))).toMatchObject({ duplicates: 0 });
    // the first call crossed MERGE_AT: its keys now live in the big table; these live in the small one
    expect(await shard.ingest(name, "test", 0, batchOf(MERGE_AT, MERGE_AT + 300))).toMatchObject({ accepted: 300, duplicates: 100 });
    expect(await shard.ingest(name, "test", 0, batchOf(0, MERGE_AT + 300))).toMatchObject({ accepted: MERGE_AT + 300, duplicates: MERGE_AT + 300 });
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(MERGE_AT + 300);
  });

  it("merges level 0 only once it holds 1/MERGE_RATIO of the newest partition, a slice per step, and survives a crash mid-cycle", async () => {
    const campaign = uniqueCampaign();
    const now = Date.now();
    const tuples = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => [`${campaign}-t-${from + i}`, campaign, "ad", "eu", now - 1000] as ClickTuple);
    const batchOf = (from: number, to: number) =>
      planForward([{ receivedAt: now, clicks: tuples(from, to), rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
    const name = `tier-test-${campaign}`;
    const stub = () => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    const levels = () =>
      runInDurableObject(stub(), (shard: ClickShard) => {
        const { logKeys, mergingKeys, partitions } = index(shard).stats();
        return { logKeys, mergingKeys, size: index(shard).size(), partitioned: partitions > 0 };
      });
    const big = MERGE_AT * MERGE_RATIO * 2; // past the point where the proportional threshold takes over
    // one call crossing the trigger with many keys pays for a whole cycle (16 steps)
    expect(await stub().ingest(name, "test", 0, batchOf(0, big))).toMatchObject({ duplicates: 0 });
    expect(await levels()).toEqual({ logKeys: 0, mergingKeys: 0, size: big, partitioned: true });
    const threshold = big / MERGE_RATIO;
    expect(threshold).toBeGreaterThan(MERGE_AT);
    expect(await stub().ingest(name, "test", 0, batchOf(big, big + threshold - 10))).toMatchObject({ duplicates: 0 });
    expect(await levels()).toMatchObject({ logKeys: threshold - 10, mergingKeys: 0, size: big + threshold - 10 });
    await abortAllDurableObjects(); // the in-memory levels are rebuilt from storage
    expect(await stub().ingest(name, "test", 0, batchOf(big - 100, big + 100))).toMatchObject({ accepted: 200, duplicates: 200 });
    // 100 new keys cross the threshold: a cycle starts but this call only pays for one step of it
    expect(await stub().ingest(name, "test", 0, batchOf(big + threshold - 110, big + threshold + 100))).toMatchObject({ accepted: 210, duplicates: 100 });
    const mid = await levels();
    expect(mid.logKeys).toBe(0);
    expect(mid.mergingKeys).toBeGreaterThan(0);
    expect(mid.size).toBe(big + threshold + 100);
    await abortAllDurableObjects(); // a crash in the middle of a cycle: it resumes where it was
    expect(await stub().ingest(name, "test", 0, batchOf(0, big + threshold + 100))).toMatchObject({ duplicates: big + threshold + 100 });
    // the alarm's sweep advances the cycle a step at a time
    await runInDurableObject(stub(), (shard: ClickShard) => {
      for (let i = 0; i < SLICES; i++) index(shard).sweep(Date.now());
    });
    expect(await levels()).toEqual({ logKeys: 0, mergingKeys: 0, size: big + threshold + 100, partitioned: true });
    expect(await stub().ingest(name, "test", 0, batchOf(0, big + threshold + 100))).toMatchObject({ duplicates: big + threshold + 100 });
  });

  it("a partition's filter blocks grow as it fills and still find every duplicate", async () => {
    const campaign = uniqueCampaign();
    const now = Date.now();
    const batchOf = (from: number, to: number) =>
      planForward(
        [{ receivedAt: now, clicks: Array.from({ length: to - from }, (_, i) => [`${campaign}-b-${from + i}`, campaign, "ad", "eu", now - 1000] as ClickTuple), rejected: { invalid: 0, too_late: 0, future: 0 } }],
        1,
        0,
      ).get(0)!;
    const name = `bloom-test-${campaign}`;
    const stub = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    const filterBytes = () => runInDurableObject(stub, (shard: ClickShard) => index(shard).stats().filterBytes);
    expect(await stub.ingest(name, "test", 0, batchOf(0, MERGE_AT))).toMatchObject({ duplicates: 0 });
    const initial = await filterBytes();
    expect(initial).toBeGreaterThan(0);
    const total = 150_000; // far past what the first blocks were sized for
    for (let from = MERGE_AT; from < total; from += 30_000) {
      expect(await stub.ingest(name, "test", 0, batchOf(from, Math.min(total, from + 30_000)))).toMatchObject({ duplicates: 0 });
    }
    expect(await filterBytes()).toBeGreaterThan(4 * initial);
    for (let from = 0; from < total; from += 50_000) {
      const to = Math.min(total, from + 50_000);
      expect(await stub.ingest(name, "test", 0, batchOf(from, to))).toMatchObject({ accepted: to - from, duplicates: to - from });
    }
  });

  it("expires dedup keys after the horizon, so shard storage stays bounded", async () => {
    const campaign = uniqueCampaign();
    await postClicks(events(campaign, 300));
    await drainPipeline();
    const keysNow = async () => {
      let n = 0;
      for (const s of allShards()) n += (await s.state()).dedupKeys;
      return n;
    };
    const before = await keysNow();
    expect(before).toBeGreaterThanOrEqual(300);
    const horizonMs = (Number(env.ALLOWED_LATENESS_SECONDS) + Number(env.MAX_CLOCK_SKEW_SECONDS)) * 1000;
    // Sweep as the alarm would (dropping partitions, merging level 0), just inside the horizon: nothing goes…
    for (let i = 0; i < SHARDS; i++) {
      await runInDurableObject(shardStub(i), (shard: ClickShard) => {
        for (let s = 0; s < 2 * SLICES; s++) index(shard).sweep(Date.now() + horizonMs - 60_000);
      });
    }
    expect(await keysNow()).toBe(before);
    // …and one partition span past it (keys are kept by expiry span, dropped whole), everything does.
    for (let i = 0; i < SHARDS; i++) {
      await runInDurableObject(shardStub(i), (shard: ClickShard) => {
        for (let s = 0; s < 2 * SLICES; s++) index(shard).sweep(Date.now() + horizonMs + partitionSpanMs(horizonMs) + 1_000);
      });
    }
    expect(await keysNow()).toBe(0);
  });
});
