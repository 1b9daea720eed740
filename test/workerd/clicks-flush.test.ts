import { abortAllDurableObjects, env, evictAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickAggregator } from "../../durable-objects/ClickAggregator";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { isLedgerConflict } from "../../lib/clicks/flush-sql";
import { shardName } from "../../lib/clicks/hash";
import { windowStart } from "../../lib/clicks/windows";
import { allAggregators, allBuffers, allShards, countsFor, drainPipeline, events, postClicks, shardStub, uniqueCampaign } from "./clicks-helpers";

/** Runs only the buffers' alarms: everything acknowledged reaches the shards, nothing is flushed yet… */
async function forwardAll(): Promise<void> {
  for (let round = 0; round < 5; round++) for (const b of allBuffers()) await runDurableObjectAlarm(b);
}

function expectedCells(evs: { ad_id: string; ts: number | string }[], region = "eu"): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of evs) {
    const k = `${windowStart(Number(e.ts))}|${e.ad_id}|${region}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Puts a D1 stand-in into every aggregator, the objects that write D1 (tests only; the field exists for this). */
async function withAggregatorDb(make: (real: D1Database) => D1Database): Promise<void> {
  for (const a of allAggregators()) {
    await runInDurableObject(a, (agg: ClickAggregator) => {
      agg["db"] = make(env.DB);
    });
  }
}

/** One round of hand-offs (shards → aggregators), then one round of aggregator flushes. */
async function flushRound(): Promise<void> {
  for (const s of allShards()) await runDurableObjectAlarm(s);
  for (const a of allAggregators()) await runDurableObjectAlarm(a);
}

describe("exactly-once flush to D1", () => {
  it("a replayed flush (D1 applied it but the answer was lost) changes nothing", async () => {
    const campaign = uniqueCampaign();
    const evs = events(campaign, 300, { ts: Date.now() - 2_000 });
    let lostAnswers = 0;
    let replaysRefused = 0;
    // D1 applies every batch, but the first answer of each flush never reaches the shard. The wrapper
    // stays in place for the retries, which must be refused by the ledger's primary key.
    const seen = new Set<string>();
    await withAggregatorDb(
      (real) =>
        ({
          prepare: (sql: string) => real.prepare(sql),
          batch: async (stmts: D1PreparedStatement[]) => {
            let res;
            try {
              res = await real.batch(stmts);
            } catch (e) {
              if (isLedgerConflict(e)) replaysRefused++;
              throw e;
            }
            const key = JSON.stringify(await real.prepare("SELECT count(*) AS n FROM click_flush_ledger").first());
            if (!seen.has(key)) {
              seen.add(key);
              lostAnswers++;
              throw new Error("D1_ERROR: Network connection lost.");
            }
            return res;
          },
        }) as unknown as D1Database,
    );
    await postClicks(evs);
    await forwardAll();
    // (more than one round when a shard's or aggregator's own alarm was mid-way: the test's run then
    // finds no alarm and returns before that hand-off or D1 batch completes)
    for (let round = 0; round < 50 && (await countsFor(campaign)).total < 300; round++) await flushRound();
    expect(lostAnswers).toBeGreaterThan(0);
    expect((await countsFor(campaign)).total).toBe(300);
    await drainPipeline();
    // Every lost answer led to exactly one refused replay, and the counts are exactly the ground truth.
    expect(replaysRefused).toBe(lostAnswers);
    const got = await countsFor(campaign);
    expect(got.total).toBe(300);
    expect(got.byCell).toEqual(expectedCells(evs));
    const ledger = await env.DB.prepare("SELECT source, flush_id, count(*) AS n FROM click_flush_ledger GROUP BY source, flush_id HAVING n > 1").all();
    expect(ledger.results).toEqual([]);
    await withAggregatorDb((real) => real);
  });

  it("when D1 fails, the frozen flush is retried later and nothing is lost or doubled", async () => {
    const campaign = uniqueCampaign();
    const evs = events(campaign, 200, { ts: Date.now() - 3_000 });
    await withAggregatorDb(
      (real) =>
        ({
          prepare: (sql: string) => real.prepare(sql),
          batch: async () => {
            throw new Error("D1_ERROR: Network connection lost.");
          },
        }) as unknown as D1Database,
    );
    await postClicks(evs);
    await forwardAll();
    await flushRound();
    expect((await countsFor(campaign)).total).toBe(0);
    const frozen = (await Promise.all(allAggregators().map((a) => a.state()))).filter((st) => st.frozenFlush !== null);
    expect(frozen.length).toBeGreaterThan(0);
    // More clicks arrive while D1 is down: they wait in the open cells behind the frozen flush.
    const more = events(campaign, 50, { ts: Date.now() - 3_000, idPrefix: `${campaign}-more` });
    await postClicks(more);
    await forwardAll();
    await withAggregatorDb((real) => real);
    await drainPipeline();
    const got = await countsFor(campaign);
    expect(got.total).toBe(250);
    expect(got.byCell).toEqual(expectedCells([...evs, ...more]));
  });

  it("nothing is lost when the objects are evicted or crash between ingest, forward and flush", async () => {
    const campaign = uniqueCampaign();
    const evs = events(campaign, 400, { ts: Date.now() - 1_000 });
    await postClicks(evs.slice(0, 200));
    await evictAllDurableObjects(); // buffers hold the batch only in storage now
    await postClicks(evs.slice(200));
    await abortAllDurableObjects(); // a crash: in-memory state gone
    await forwardAll();
    await abortAllDurableObjects(); // shards hold open cells only in storage
    for (const s of allShards()) await runDurableObjectAlarm(s);
    await abortAllDurableObjects(); // aggregators hold the merged cells only in storage
    await drainPipeline();
    const got = await countsFor(campaign);
    expect(got.total).toBe(400);
    expect(got.byCell).toEqual(expectedCells(evs));
  });

  it("a buffer re-sending a forward after a crash counts nothing twice, not even as duplicates", async () => {
    const campaign = uniqueCampaign();
    await postClicks(events(campaign, 100));
    await forwardAll();
    await drainPipeline();
    // Which forward did shard 0 last apply, and from which buffer?
    const last = await runInDurableObject(shardStub(0), (shard: ClickShard) =>
      shard["sql"].exec<{ source: string; last_forward: number }>("SELECT source, last_forward FROM sources ORDER BY last_forward DESC LIMIT 1").one(),
    );
    const statsBefore = await env.DB.prepare("SELECT sum(accepted) AS a, sum(duplicates) AS d FROM ingest_stats").first();
    const res = await shardStub(0).ingest(shardName(0), last.source, last.last_forward, {
      keys: "[0x100000002]",
      cellOf: [0],
      minuteOf: [0],
      cells: [[0, campaign, "x", "eu"]],
      minutes: [Date.now() - (Date.now() % 60_000)],
      rejected: [],
    });
    expect(res.replayed).toBe(true);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(100);
    expect(await env.DB.prepare("SELECT sum(accepted) AS a, sum(duplicates) AS d FROM ingest_stats").first()).toEqual(statsBefore);
  });

  it("writes every counted click to Analytics Engine, aggregated per cell (the double is a count)", async () => {
    const points: { blobs?: unknown[]; doubles?: number[]; indexes?: unknown[] }[] = [];
    const campaign = uniqueCampaign();
    for (const a of allAggregators()) {
      await runInDurableObject(a, (agg: ClickAggregator) => {
        Object.defineProperty(agg["env"], "CLICKS_AE", { value: { writeDataPoint: (p: (typeof points)[number]) => points.push(p) }, configurable: true });
      });
    }
    await postClicks(events(campaign, 90));
    await drainPipeline();
    for (const a of allAggregators()) await runDurableObjectAlarm(a); // the outbox drains after the flush
    const ours = points.filter((p) => p.blobs?.[0] === campaign);
    expect(ours.reduce((s, p) => s + (p.doubles?.[0] ?? 0), 0)).toBe(90);
    for (const p of ours) expect(p.indexes).toEqual([campaign]);
    expect(new Set(ours.map((p) => p.blobs?.[1]))).toEqual(new Set(["ad-0", "ad-1", "ad-2"]));
  });
});
