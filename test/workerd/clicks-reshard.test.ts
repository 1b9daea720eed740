import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { claimId, type ClickShard } from "../../durable-objects/ClickShard";
import { claimRange, epochShardName, EPOCH_MARGIN_MS, type Epoch } from "../../lib/clicks/epochs";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { shardOf } from "../../lib/clicks/hash";
import { bufferStub, countsFor, drainPipeline, epochsStub, events, postClicks, SHARDS, uniqueCampaign } from "./clicks-helpers";

interface BufferInternals {
  alarmAt: number | null;
  frozenForward(): { forwardId: number } | null;
  freeze(): Promise<{ forwardId: number } | null>;
  sql: SqlStorage;
}

/** Starts a new shard epoch with `shards` objects, as a newer Worker version's proposal would. */
let versionTs = Date.now();
async function reshard(shards: number): Promise<Epoch[]> {
  versionTs += 1_000;
  const list = await epochsStub().epochs({ shards, versionTs });
  // a deployment restarts every object: their cached epoch lists are gone
  await abortAllDurableObjects();
  return list;
}

/** Two live epochs (the last two), whatever the registry held before. */
async function twoEpochs(a: number, b: number): Promise<[Epoch, Epoch]> {
  await reshard(a);
  const list = await reshard(b);
  return [list[list.length - 2], list[list.length - 1]];
}

const shardIn = (epoch: number, i: number) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(epochShardName(epoch, i)));

function batchFor(clicks: ClickTuple[], shards: number, s: number) {
  return planForward([{ receivedAt: Date.now(), clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], shards, 0).get(s);
}

describe("shard epochs: CLICK_SHARDS changes without double counts", () => {
  it("claimRange keeps an epoch live until horizon + margin after its successor started", () => {
    const h = 1_000_000;
    const list: Epoch[] = [
      { epoch: 1, shards: 4, since: 0 },
      { epoch: 2, shards: 16, since: 10_000_000 },
      { epoch: 3, shards: 3, since: 20_000_000 },
    ];
    expect(claimRange(list, 3, 20_000_001, h).map((e) => e.epoch)).toEqual([2, 3]);
    expect(claimRange(list, 2, 10_000_001, h).map((e) => e.epoch)).toEqual([1, 2, 3]);
    expect(claimRange(list, 3, 20_000_000 + h + EPOCH_MARGIN_MS, h).map((e) => e.epoch)).toEqual([3]);
    // a batch planned in a retired epoch still claims from its own epoch
    expect(claimRange(list, 1, 30_000_000, h).map((e) => e.epoch)).toEqual([1, 2, 3]);
  });

  it("a proposal from an older Worker version never changes the epoch; a newer one does", async () => {
    const before = await reshard(7);
    const cur = before[before.length - 1];
    const stale = await epochsStub().epochs({ shards: cur.shards + 5, versionTs: 1 });
    expect(stale).toEqual(before);
  });

  it("replays after 16 → 4 → 16 shards count nothing twice, new clicks count once", async () => {
    const campaign = uniqueCampaign("reshard");
    const first = events(campaign, 400, { ts: Date.now() - 2_000 });
    expect((await postClicks(first)).status).toBe(200);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(400);

    const list = await reshard(4);
    expect(list[list.length - 1].shards).toBe(4);
    const second = events(campaign, 200, { ts: Date.now() - 2_000, idPrefix: `${campaign}-new` });
    expect((await postClicks([...first, ...second])).status).toBe(200);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(600);

    await reshard(SHARDS);
    const third = events(campaign, 100, { ts: Date.now() - 2_000, idPrefix: `${campaign}-newer` });
    expect((await postClicks([...second, ...third, ...first])).status).toBe(200);
    await drainPipeline();
    const got = await countsFor(campaign);
    expect(got.total).toBe(700);
    // and the buffers planned in the newest epoch: its shards hold the new keys
    const newest = (await epochsStub().epochs()).at(-1)!;
    expect(newest.epoch).toBeGreaterThanOrEqual(3);
    let keys = 0;
    for (let i = 0; i < newest.shards; i++) keys += (await shardIn(newest.epoch, i).state()).dedupKeys;
    expect(keys).toBeGreaterThanOrEqual(100);
  });

  it("the same new click sent at once to its owners in two live epochs counts once", async () => {
    const campaign = uniqueCampaign("race");
    const [older, newer] = await twoEpochs(5, 11);
    const now = Date.now();
    const clicks = Array.from({ length: 300 }, (_, i) => [`${campaign}-${i}`, campaign, "ad", "eu", now - 1_000] as ClickTuple);
    const sends: Promise<unknown>[] = [];
    for (const ep of [older, newer]) {
      for (let s = 0; s < ep.shards; s++) {
        const b = batchFor(clicks, ep.shards, s);
        const name = epochShardName(ep.epoch, s);
        if (b) sends.push(shardIn(ep.epoch, s).ingest(name, `race-${ep.epoch}`, 0, b));
      }
    }
    await Promise.all(sends);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(300);
  });

  it("a shard that crashes after claiming but before counting counts its forward once when it is re-sent", async () => {
    const campaign = uniqueCampaign("claimcrash");
    const [older, newer] = await twoEpochs(6, 13);
    const list = await epochsStub().epochs();
    const now = Date.now();
    const clicks = Array.from({ length: 200 }, (_, i) => [`${campaign}-${i}`, campaign, "ad", "eu", now - 1_000] as ClickTuple);
    const s = shardOf(clicks[0][0], newer.shards);
    const batch = batchFor(clicks, newer.shards, s)!;
    const name = epochShardName(newer.epoch, s);
    const n = batch.cellOf.length;
    // The claims of forward 7 from "crash-buffer" are granted everywhere, then the object dies before its commit.
    await runInDurableObject(shardIn(newer.epoch, s), async (shard: ClickShard) => {
      const range = claimRange(list, newer.epoch, Date.now(), 86_700_000);
      expect(range.length).toBeGreaterThanOrEqual(2);
      const granted = await shard["claimInEpochs"](name, claimId(name, "crash-buffer", 7), batch.keys, range);
      expect(granted.size).toBe(n);
    });
    await abortAllDurableObjects();
    const res = await shardIn(newer.epoch, s).ingest(name, "crash-buffer", 7, batch);
    expect(res).toMatchObject({ accepted: n, duplicates: 0, replayed: false });
    // another path (a buffer still in the older epoch) replays the same clicks: all duplicates
    const sent = clicks.filter((c) => shardOf(c[0], newer.shards) === s);
    expect(sent.length).toBe(n);
    for (let o = 0; o < older.shards; o++) {
      const b = batchFor(sent, older.shards, o);
      if (b) expect(await shardIn(older.epoch, o).ingest(epochShardName(older.epoch, o), "old-buffer", 0, b)).toMatchObject({ duplicates: b.cellOf.length });
    }
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(n);
  });
});

describe("a forward frozen before CLICK_SHARDS changed", () => {
  it("is re-sent with the split it was planned with, so acknowledged shards are not sent again", async () => {
    const campaign = uniqueCampaign("reshard");
    const evs = events(campaign, 96);
    // A buffer of the test's own (no other test file's drain runs its alarm), holding one request as the
    // edge stores it; its alarm is kept off (alarmAt 0: schedule() sets none) until the scene is set.
    const holderName = `${campaign}-buffer`;
    const holder = () => bufferStub(holderName);
    await runInDurableObject(holder(), (instance) => {
      (instance as unknown as BufferInternals).alarmAt = 0;
    });
    const tuples = evs.map((e) => [e.click_id, e.campaign_id, e.ad_id, "eu", Number(e.ts)]);
    const stored = await holder().store(holderName, Date.now(), JSON.stringify(tuples), tuples.length, { invalid: 0, too_late: 0, future: 0 }, "outcome");
    expect(stored).toMatchObject({ ok: true });
    expect((await holder().state()).pendingBatches).toBe(1);

    // Freeze the forward under the current split and pretend every shard but one has acknowledged it
    // (their part is counted elsewhere); then the deployment changes the shard count.
    const current = (await epochsStub().epochs()).at(-1)!;
    const missing = current.shards - 1;
    await runInDurableObject(holder(), async (instance, state) => {
      const buf = instance as unknown as BufferInternals;
      expect(await state.storage.getAlarm()).toBeNull();
      const fw = buf.frozenForward() ?? (await buf.freeze());
      expect(fw).not.toBeNull();
      const acked = Array.from({ length: current.shards }, (_, i) => i).filter((i) => i !== missing);
      buf.sql.exec("UPDATE forwards SET acked = ? WHERE forward_id = ?", JSON.stringify(acked), fw!.forwardId);
      await state.storage.setAlarm(Date.now() + 60_000); // run below by runDurableObjectAlarm
    });
    await reshard(current.shards === 4 ? 7 : 4);
    await runDurableObjectAlarm(holder());
    await drainPipeline();

    // Only the part of the un-acknowledged shard (under the ORIGINAL split) may have been sent now.
    const expected = evs.filter((e) => shardOf(e.click_id, current.shards) === missing).length;
    expect(expected).toBeGreaterThan(0);
    expect((await countsFor(campaign)).total).toBe(expected);
  });
});
