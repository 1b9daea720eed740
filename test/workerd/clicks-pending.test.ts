import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickAggregator } from "../../durable-objects/ClickAggregator";
import type { Cell } from "../../lib/clicks/cell-table";
import { mergeSeries, mergeStats } from "../../lib/clicks/pending-merge";
import { windowStart } from "../../lib/clicks/windows";
import { clickSeries, ingestStatsSeries, topClicks } from "../../workers/lib/metrics-queries";
import { pendingQuery, withPending } from "../../workers/lib/pending-clicks";
import { insertCells, uniqueCampaign } from "./clicks-helpers";

// The metrics API adds what the aggregators hold and D1 lacks (they write D1 once per
// D1_FLUSH_INTERVAL_MS). These tests drive the read protocol against private aggregators, real D1 and
// real alarms: every count once, whether it is still held, frozen behind a failing D1, or landing in
// D1 between the two reads.

const aggregator = (name: string) => env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(name));
const down = () => Promise.reject(new Error("D1 is down (test)"));
const failingD1 = { prepare: () => ({ bind: () => ({ first: down }) }), batch: down } as unknown as D1Database;

/** Its own alarms wait (the test runs them); `db`: what it writes D1 with. */
async function hold(name: string, db?: D1Database) {
  await runInDurableObject(aggregator(name), (agg: ClickAggregator) => {
    agg["pipeline"].backoffUntil = Date.now() + 120_000;
    if (db) agg["db"] = db;
  });
}

/** Minute totals of `campaign` as the metrics API computes them (D1 + pending, merged). */
async function minuteTotals(campaign: string, names: string[], onRead?: (read: number) => Promise<void>) {
  const now = Date.now();
  const range = { from: windowStart(now) - 3_600_000, to: windowStart(now) + 120_000 };
  const filters = { campaign_id: [campaign] };
  let reads = 0;
  const answer = await withPending(
    env,
    pendingQuery(range, filters),
    async (sources) => {
      reads++;
      await onRead?.(reads);
      return clickSeries(env.DB, { ...range, granularity: "minute", groupBy: ["ad"], filters, limit: 10_001, sources });
    },
    names,
  );
  const rows = mergeSeries(answer.rows, answer.pending.cells, { ...answer, granularity: "minute", groupBy: ["ad"] });
  return { byAd: Object.fromEntries(rows.map((r) => [`${r.bucket}|${r.adId}`, r.clicks])), d1Rows: answer.rows.length, reads };
}

/** Hands a part to a private aggregator, as a shard would: cells `[w, campaign, ad, region, n]`. */
async function handOff(name: string, source: string, flushId: number, cells: Cell[], stats: number[][] = []) {
  await aggregator(name).apply(name, source, flushId, JSON.stringify(cells), JSON.stringify(stats), Date.now(), cells.length);
}

/** One flush in D1 (its first: it takes its flush id floor there), then D1 fails for it and its alarms wait. */
async function flushOnceThenFailD1(name: string, campaign: string, w: number) {
  await hold(name);
  await handOff(name, "s0", 1, [[w, campaign, "ad-0", "eu", 1]]);
  await drain(name);
  await hold(name, failingD1);
}

/** D1 works again for it, at once. */
async function restoreD1(name: string) {
  await runInDurableObject(aggregator(name), (agg: ClickAggregator) => {
    agg["db"] = env.DB;
    agg["pipeline"].backoffUntil = 0;
  });
}

async function drain(name: string) {
  for (let round = 0; round < 50; round++) {
    const st = await aggregator(name).state();
    if (st.openCells === 0 && st.frozenFlush === null) return;
    await runDurableObjectAlarm(aggregator(name));
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${name} did not drain`);
}

describe("metrics include what the aggregators hold", () => {
  it("counts an aggregator holds, frozen behind a failing D1, are answered once; after the flush, from D1 alone", async () => {
    const campaign = uniqueCampaign("pending");
    const name = `${campaign}-agg`;
    const w = windowStart(Date.now());
    await flushOnceThenFailD1(name, campaign, w);
    await handOff(name, "s1", 1, [[w, campaign, "ad-1", "eu", 3], [w - 60_000, campaign, "ad-2", "na", 2]]);
    await handOff(name, "s2", 1, [[w, campaign, "ad-1", "eu", 4]]);
    await runDurableObjectAlarm(aggregator(name)); // freezes, and the flush fails: frozen, not in D1
    expect((await aggregator(name).state()).frozenFlush).not.toBeNull();
    await handOff(name, "s1", 2, [[w, campaign, "ad-1", "eu", 5]]); // open, behind the frozen flush
    const expected = { [`${w}|ad-0`]: 1, [`${w}|ad-1`]: 12, [`${w - 60_000}|ad-2`]: 2 };
    const held = await minuteTotals(campaign, [name]);
    expect(held).toMatchObject({ byAd: expected, d1Rows: 1, reads: 1 });

    await restoreD1(name);
    await drain(name);
    const flushed = await minuteTotals(campaign, [name]);
    expect(flushed.byAd).toEqual(expected);
    expect(flushed.d1Rows).toBe(3);
  });

  it("a flush that lands in D1 between the two reads is not counted twice: the read starts again", async () => {
    const campaign = uniqueCampaign("race");
    const name = `${campaign}-agg`;
    const w = windowStart(Date.now());
    await hold(name);
    await handOff(name, "s1", 1, [[w, campaign, "ad-1", "eu", 7]]);
    // between reading the aggregator (7 pending) and D1, the aggregator writes D1
    const raced = await minuteTotals(campaign, [name], async (read) => {
      if (read === 1) await drain(name);
    });
    expect(raced).toMatchObject({ byAd: { [`${w}|ad-1`]: 7 }, reads: 2 });
  });

  it("an aggregator whose storage is new while D1 keeps its old ledger rows still answers at once, and exactly", async () => {
    const campaign = uniqueCampaign("reset");
    const name = `${campaign}-agg`;
    const w = windowStart(Date.now());
    // flushes 1–50 of an earlier incarnation of this aggregator (its storage since reset) are in D1
    await env.DB.prepare("INSERT INTO click_flush_ledger (source, flush_id, flushed_at, cells, clicks) VALUES (?, 50, ?, 0, 0)").bind(name, new Date().toISOString()).run();
    await hold(name);
    await handOff(name, "s1", 1, [[w, campaign, "ad-1", "eu", 4]]);
    expect(await minuteTotals(campaign, [name])).toMatchObject({ byAd: { [`${w}|ad-1`]: 4 }, d1Rows: 0, reads: 1 });
    await drain(name);
    expect(await minuteTotals(campaign, [name])).toMatchObject({ byAd: { [`${w}|ad-1`]: 4 }, d1Rows: 1, reads: 1 });
  });

  it("ingest statistics held by an aggregator are added once, per arrival minute", async () => {
    const campaign = uniqueCampaign("stats");
    const name = `${campaign}-agg`;
    const minute = windowStart(Date.now()) - 7 * 60_000; // a minute no other test's statistics use
    await flushOnceThenFailD1(name, campaign, windowStart(Date.now()));
    await handOff(name, "s1", 1, [], [[minute, 10, 2, 1, 0, 3]]);
    const range = { from: minute, to: minute + 60_000 };
    const read = () =>
      withPending(env, pendingQuery(range, {}, true), (sources) => ingestStatsSeries(env.DB, { ...range, granularity: "minute", sources }), [name]).then((a) =>
        mergeStats(a.rows, a.pending.stats, { ...range, granularity: "minute" }),
      );
    const held = { bucket: minute, accepted: 10, duplicates: 2, invalid: 1, tooLate: 0, future: 3 };
    expect(await read()).toEqual([held]);
    await restoreD1(name);
    await drain(name);
    expect(await read()).toEqual([held]); // the same, from D1 alone
  });

  it("top reads D1's totals of thousands of pending groups with long ids, in statements under D1's size limit", async () => {
    const campaign = uniqueCampaign("top-groups");
    const w = windowStart(Date.now());
    await insertCells([
      { w, c: campaign, a: "ad-1", r: "eu", n: 5 },
      { w, c: campaign, a: "ad-2", r: "eu", n: 3 },
    ]);
    // 3 000 groups of 64-character ids ≈ 400 KB of JSON: five statements of ≤ 90 KB
    const long = (i: number) => `${campaign}-${"é".repeat(40)}-${i}`.slice(0, 64);
    const groups: [string, string | null][] = [...Array.from({ length: 3_000 }, (_, i): [string, string | null] => [long(i), long(i)]), [campaign, "ad-2"]];
    const range = { from: w - 3_600_000, to: w + 60_000 };
    const answer = await topClicks(env.DB, { ...range, by: "ad", limit: 1 + groups.length, filters: { campaign_id: [campaign] }, sources: "[]", groups });
    expect(answer.rows.map((r) => [r.adId, r.clicks])).toEqual([
      ["ad-1", 5],
      ["ad-2", 3],
    ]);
    expect(answer.groupTotals).toEqual([{ campaignId: campaign, adId: "ad-2", clicks: 3 }]);
  });
});
