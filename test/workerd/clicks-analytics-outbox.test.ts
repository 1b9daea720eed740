import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickAggregator } from "../../durable-objects/ClickAggregator";
import { AE_POINTS_PER_INVOCATION, analyticsPending, drainAnalytics, queueAnalytics } from "../../durable-objects/clicks/analytics-outbox";
import type { CountRow } from "../../lib/clicks/flush-sql";
import { uniqueCampaign } from "./clicks-helpers";

type Point = { blobs?: unknown[]; doubles?: number[] };

/** An Analytics Engine stand-in that records points and throws on the write numbered `failAt` (1-based, counted over its life). */
function fakeAE(failAt = Number.POSITIVE_INFINITY) {
  const points: Point[] = [];
  let calls = 0;
  const ae = {
    writeDataPoint: (p: Point) => {
      if (++calls === failAt) throw new Error("AE unavailable (injected)");
      points.push(p);
    },
  } as unknown as AnalyticsEngineDataset;
  return { ae, points };
}

/** A private aggregator object (its own storage), so that no other test's flush reaches its outbox. */
const privateAggregator = (campaign: string) => env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(`${campaign}-agg`));

/** `n` cells of one minute, one per ad, 1..n clicks. */
const counts = (campaign: string, n: number, w = 1_800_000_000_000): CountRow[] => Array.from({ length: n }, (_, i) => [w, campaign, `ad-${i}`, "eu", i + 1] as CountRow);

const key = (p: Point) => String(p.blobs?.slice(0, 3));

describe("the Analytics Engine outbox", () => {
  it("a flush's points are one row, written 250 per invocation, each exactly once, even when a write fails part-way", async () => {
    const campaign = uniqueCampaign("ae-batch");
    const n = 600;
    const result = await runInDurableObject(privateAggregator(campaign), (agg: ClickAggregator, state) => {
      const sql = agg["sql"];
      sql.exec("DELETE FROM ae_batches");
      // a second flush of the same cells: AE gets one point per cell per flush
      state.storage.transactionSync(() => {
        queueAnalytics(sql, counts(campaign, n));
        queueAnalytics(sql, counts(campaign, 10));
      });
      const rows = Number(sql.exec<{ n: number }>("SELECT count(*) AS n FROM ae_batches").one().n);
      const pending = [analyticsPending(sql)];
      // the 2nd invocation's 100th write fails (the 350th write in all)
      const { ae, points } = fakeAE(AE_POINTS_PER_INVOCATION + 100);
      const answers: boolean[] = [];
      for (let i = 0; i < 5 && analyticsPending(sql) > 0; i++) {
        const before = points.length;
        answers.push(drainAnalytics(sql, ae));
        expect(points.length - before).toBeLessThanOrEqual(AE_POINTS_PER_INVOCATION);
        pending.push(analyticsPending(sql));
      }
      return { rows, pending, answers, points };
    });
    expect(result.rows).toBe(2);
    expect(result.answers).toEqual([true, false, true, true]);
    expect(result.pending).toEqual([n + 10, n + 10 - 250, n + 10 - 349, n + 10 - 599, 0]);
    // every point once: the failed write is the only one retried
    const written = result.points.map(key);
    expect(written).toHaveLength(n + 10);
    expect(new Set(written.slice(0, n)).size).toBe(n);
    const sum = result.points.reduce((s, p) => s + (p.doubles?.[0] ?? 0), 0);
    expect(sum).toBe((n * (n + 1)) / 2 + (10 * 11) / 2);
  });

  it("a batch drained over several invocations is parsed once, and a later batch that reuses its row id writes its own points", async () => {
    const campaign = uniqueCampaign("ae-reuse");
    const result = await runInDurableObject(privateAggregator(campaign), (agg: ClickAggregator) => {
      const sql = agg["sql"];
      sql.exec("DELETE FROM ae_batches");
      const { ae, points } = fakeAE();
      queueAnalytics(sql, counts(`${campaign}-a`, 300));
      const firstId = sql.exec<{ id: number }>("SELECT id FROM ae_batches").one().id;
      drainAnalytics(sql, ae); // 250 of a, the rest of the batch stays parsed
      drainAnalytics(sql, ae); // the last 50 of a: its row is deleted
      queueAnalytics(sql, counts(`${campaign}-b`, 300)); // the same size, under the same id (the table is empty)
      const secondId = sql.exec<{ id: number }>("SELECT id FROM ae_batches").one().id;
      drainAnalytics(sql, ae);
      drainAnalytics(sql, ae);
      return { firstId, secondId, campaigns: points.map((p) => String(p.blobs?.[0])), left: analyticsPending(sql) };
    });
    expect(result.secondId).toBe(result.firstId);
    expect(result.campaigns).toEqual([...Array(300).fill(`${campaign}-a`), ...Array(300).fill(`${campaign}-b`)]);
    expect(result.left).toBe(0);
  });

  it("points queued one row each before the batch table are still written, first", async () => {
    const campaign = uniqueCampaign("ae-legacy");
    const result = await runInDurableObject(privateAggregator(campaign), (agg: ClickAggregator) => {
      const sql = agg["sql"];
      sql.exec("DELETE FROM ae_batches");
      for (let i = 0; i < 3; i++) sql.exec("INSERT INTO ae_outbox (c, a, r, n) VALUES (?, ?, 'na', ?)", campaign, `old-${i}`, 5);
      queueAnalytics(sql, counts(campaign, 2));
      const pending = analyticsPending(sql);
      const { ae, points } = fakeAE();
      const ok = drainAnalytics(sql, ae);
      return { pending, ok, points, left: analyticsPending(sql), legacyLeft: sql.exec("SELECT count(*) AS n FROM ae_outbox").one().n };
    });
    expect(result.pending).toBe(5);
    expect(result.ok).toBe(true);
    expect(result.points.map((p) => p.blobs?.[1])).toEqual(["old-0", "old-1", "old-2", "ad-0", "ad-1"]);
    expect([result.left, result.legacyLeft]).toEqual([0, 0]);
  });
});
