import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickBuffer } from "../../durable-objects/ClickBuffer";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { clickSettings } from "../../lib/clicks/settings";
import { bufferStub, uniqueCampaign } from "./clicks-helpers";

/** Clicks `from`..`to - 1` of a campaign (click_id `<campaign>-<i>`), over 5 ads, all now. */
function clicks(campaign: string, from: number, to: number, now: number): ClickTuple[] {
  return Array.from({ length: to - from }, (_, k) => [`${campaign}-${from + k}`, campaign, `ad-${(from + k) % 5}`, "eu", now] as ClickTuple);
}

/** One shard's whole batch of `list` (a one-shard split). */
const batchOf = (list: ClickTuple[], now: number) => planForward([{ receivedAt: now, clicks: list, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;

/** A private shard of a new campaign, its alarm held (see holdAlarm). */
async function privateShard(prefix: string) {
  const campaign = uniqueCampaign(prefix);
  const name = `${campaign}-shard:0`;
  const stub = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
  await holdAlarm(stub);
  return { campaign, now: Date.now(), name, stub };
}

/** Each forward (from `buffer-<i>`, forward id 1) sent again: a replay that counts nothing. */
async function expectReplays(stub: DurableObjectStub<ClickShard>, name: string, forwards: ClickTuple[][], now: number): Promise<void> {
  for (const [i, list] of forwards.entries()) {
    expect(await stub.ingest(name, `buffer-${i}`, 1, batchOf(list, now))).toEqual({ accepted: list.length, duplicates: 0, replayed: true, packed: true });
  }
}

/**
 * Keeps a private object's alarm from running after the test (alarmAt 0: schedule() sets none), so that
 * nothing of this file is in flight when its environment is torn down.
 */
async function holdAlarm(stub: DurableObjectStub<ClickShard>): Promise<void> {
  await runInDurableObject(stub, async (o: ClickShard, state) => {
    o["alarmAt"] = 0;
    await state.storage.deleteAlarm();
  });
}

/** The shard's open log: rows and, summed over them, the clicks counted per cell. */
async function openLog(stub: DurableObjectStub<ClickShard>): Promise<{ rows: number; clicks: number }> {
  return runInDurableObject(stub, (s: ClickShard) => {
    const rows = s["sql"].exec<{ cells: string }>("SELECT cells FROM open_log").toArray();
    const clicks = rows.flatMap((r) => JSON.parse(r.cells) as number[][]).reduce((sum, c) => sum + Number(c[4]), 0);
    return { rows: rows.length, clicks };
  });
}

describe("a shard counts the forwards that arrive together in one transaction", () => {
  it("three buffers' forwards in one burst: one open log row, each key counted once, in arrival order", async () => {
    const { campaign, now, name, stub } = await privateShard("group");
    // buffer b repeats 50 of a's keys, buffer c 50 of b's: the later forward sees them as duplicates
    const forwards = [clicks(campaign, 0, 200, now), clicks(campaign, 150, 350, now), clicks(campaign, 300, 500, now)];
    const answers = await Promise.all(forwards.map((list, i) => stub.ingest(name, `buffer-${i}`, 1, batchOf(list, now))));
    expect(answers).toEqual([
      { accepted: 200, duplicates: 0, replayed: false, packed: true },
      { accepted: 200, duplicates: 50, replayed: false, packed: true },
      { accepted: 200, duplicates: 50, replayed: false, packed: true },
    ]);
    // one transaction appended one row (before: one row, and one commit, per forward)
    expect(await openLog(stub)).toEqual({ rows: 1, clicks: 500 });
    // every source's forward id was recorded: a later re-send of any of them counts nothing
    await expectReplays(stub, name, forwards, now);
    expect(await openLog(stub)).toEqual({ rows: 1, clicks: 500 });
  });

  it("a re-send that joins its own original's group is a replay, and counts nothing", async () => {
    const { campaign, now, name, stub } = await privateShard("group-resend");
    const batch = batchOf(clicks(campaign, 0, 100, now), now);
    const answers = await Promise.all([stub.ingest(name, "buffer-x", 7, batch), stub.ingest(name, "buffer-x", 7, batch)]);
    expect(answers).toEqual([
      { accepted: 100, duplicates: 0, replayed: false, packed: true },
      { accepted: 100, duplicates: 0, replayed: true, packed: true },
    ]);
    expect(await openLog(stub)).toEqual({ rows: 1, clicks: 100 });
  });

  it("when the group's transaction fails, each call is counted alone: nothing of the failed attempt is kept (dedup keys included), nothing counted twice", async () => {
    const { campaign, now, name, stub } = await privateShard("group-fail");
    const forwards = [clicks(campaign, 0, 100, now), clicks(campaign, 100, 200, now)];
    // the group's log append fails once, after both calls' keys went through the dedup index
    await runInDurableObject(stub, (s: ClickShard) => {
      const log = s["handoff"].log;
      const append = log.append.bind(log);
      let failures = 1;
      log.append = (cells, stats) => {
        if (failures-- > 0) throw new Error("SQLITE_FULL (injected)");
        append(cells, stats);
      };
    });
    // every key counts as new: the failed attempt's keys left the index's memory with its rollback
    const answers = await Promise.all(forwards.map((list, i) => stub.ingest(name, `buffer-${i}`, 1, batchOf(list, now))));
    expect(answers.map((a) => [a.duplicates, a.replayed])).toEqual([
      [0, false],
      [0, false],
    ]);
    // counted alone: one row each
    expect(await openLog(stub)).toEqual({ rows: 2, clicks: 200 });
    expect((await stub.state()).dedupKeys).toBe(200);
    // the buffers' re-sends are replays
    await expectReplays(stub, name, forwards, now);
    expect(await openLog(stub)).toEqual({ rows: 2, clicks: 200 });
  });

  it("a forward that fails on its own fails only its own call, not the others of its group", async () => {
    const { campaign, now, name, stub } = await privateShard("group-poison");
    const good = [batchOf(clicks(campaign, 0, 100, now), now), batchOf(clicks(campaign, 100, 200, now), now)];
    const poisoned = batchOf(clicks(campaign, 200, 300, now), now);
    poisoned.keys = poisoned.keys.replace(/,[^,]*,/, ",not-a-key,"); // a malformed key in the middle
    const settled = await Promise.allSettled([
      stub.ingest(name, "buffer-a", 1, good[0]),
      stub.ingest(name, "buffer-p", 1, poisoned),
      stub.ingest(name, "buffer-b", 1, good[1]),
    ]);
    expect(settled.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(await openLog(stub)).toEqual({ rows: 2, clicks: 200 });
    expect((await stub.state()).dedupKeys).toBe(200);
    // the poisoned forward's source was not recorded: fixed and re-sent, it counts
    const fixed = batchOf(clicks(campaign, 200, 300, now), now);
    expect(await stub.ingest(name, "buffer-p", 1, fixed)).toEqual({ accepted: 100, duplicates: 0, replayed: false, packed: true });
    expect(await openLog(stub)).toEqual({ rows: 3, clicks: 300 });
  });
});

describe("buffers forward on a common grid", () => {
  it("a stored request's forward is due on the next multiple of the forward delay (the grid every buffer shares)", async () => {
    const campaign = uniqueCampaign("grid");
    const delay = Math.min(500, Math.max(20, Math.floor(clickSettings(env).flushIntervalMs / 2)));
    for (let i = 0; i < 3; i++) {
      const name = `${campaign}-buffer:${i}`;
      const buffer = bufferStub(name);
      // the times the buffer would set its alarm to, recorded instead of set (nothing of this test is
      // forwarded, so nothing of it is in flight when the file ends)
      const scheduled: number[] = [];
      await runInDurableObject(buffer, (b: ClickBuffer) => {
        b["schedule"] = (at: number) => {
          scheduled.push(at);
        };
      });
      const before = Date.now();
      await buffer.store(name, before, JSON.stringify(clicks(campaign, i * 10, i * 10 + 10, before)), 10, { invalid: 0, too_late: 0, future: 0 }, "outcome");
      const after = Date.now();
      expect(scheduled.length).toBeGreaterThan(0);
      expect(scheduled[0] % delay).toBe(0);
      expect(scheduled[0]).toBeGreaterThan(before);
      expect(scheduled[0]).toBeLessThanOrEqual(after + delay);
    }
  });

  it("a hand-off that takes part of the open log leaves no statement half-read: schema changes in the same object still work", async () => {
    const { campaign, now, name, stub } = await privateShard("partial-take");
    for (let i = 0; i < 3; i++) await stub.ingest(name, `buffer-${i}`, 1, batchOf(clicks(campaign, i * 100, (i + 1) * 100, now), now));
    expect(await openLog(stub)).toEqual({ rows: 3, clicks: 300 });
    const after = await runInDurableObject(stub, (s: ClickShard) => {
      // a freeze bounded to fewer entries than the log holds stops after the first row (what a backlog does)
      const taken = s["handoff"].log.take(5)!; // each row holds 5 cells (5 ads)
      // a merge cycle renames and drops dedup tables; with a half-read cursor on the log this threw SQLITE_LOCKED
      s["sql"].exec("CREATE TABLE partial_take_ddl (x INTEGER); DROP TABLE partial_take_ddl;");
      return { entries: taken.entries, rowsLeft: s["sql"].exec<{ n: number }>("SELECT count(*) AS n FROM open_log").one().n };
    });
    expect(after.entries).toBe(5);
    expect(after.rowsLeft).toBe(2);
  });
});
