import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsCells, postBatch, retryUntilAcked, sendAll, sortedCells, totalOf, truthCells, waitForCells, waitForQuietPipeline, type ClickBatch } from "./click-cells";
import { http, startDevServer, type DevServer } from "./server";

/**
 * CLICK_SHARDS changes across deployments (restarts with another value) while clients replay what they
 * sent before and a crash interrupts ingest: the metrics equal the ground truth computed here, exactly.
 * Before shard epochs, 10,000 clicks at 4 shards then a replay plus 5,000 new at 16 counted 24,375.
 */
let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "300", CLICK_SHARDS: "4" });
});
afterAll(async () => {
  await server?.dispose();
});

const REGIONS = ["eu", "na", "as"];
const MINUTE = 60_000;
const BATCH = 100;

function batches(campaign: string, prefix: string, count: number, now: number): ClickBatch[] {
  return Array.from({ length: count / BATCH }, (_, b) => ({
    region: REGIONS[b % REGIONS.length],
    events: Array.from({ length: BATCH }, (_, i) => {
      const n = b * BATCH + i;
      return { click_id: `${campaign}-${prefix}-${n}`, campaign_id: campaign, ad_id: `ad-${n % 5}`, ts: now - (n % 4) * MINUTE - 1_000 };
    }),
  }));
}

const post = (batch: ClickBatch) => postBatch(server.url, batch);
const send = (all: ClickBatch[], killAt?: number) => sendAll(post, all, killAt === undefined ? undefined : { killAt, kill: () => server.kill() });

async function epochShards(): Promise<number[]> {
  const r = await http(server.url, "GET", "/api/v1/clicks/pipeline");
  expect(r.status).toBe(200);
  return (r.body.epochs as { shards: number }[]).map((e) => e.shards);
}

async function expectMetrics(campaign: string, truth: Map<string, number>, from: number, to: number): Promise<void> {
  const seen = await waitForCells(server.url, campaign, from, to, truth, 90_000);
  expect(totalOf(seen)).toBe(totalOf(truth));
  // once nothing is left anywhere in the pipeline, nothing more has arrived (no late double count)
  await waitForQuietPipeline(server.url);
  expect(sortedCells(await metricsCells(server.url, campaign, from, to))).toEqual(sortedCells(truth));
}

describe("changing CLICK_SHARDS across deployments, with replays and a crash", () => {
  it("4 → 16 → 3 shards: every click counts exactly once", { timeout: 600_000 }, async () => {
    const campaign = `reshard-${Date.now().toString(36)}`;
    const now = Date.now();
    const from = now - 10 * MINUTE;
    const to = now + 10 * MINUTE;
    const first = batches(campaign, "a", 10_000, now);
    await retryUntilAcked(post, first, await send(first));
    let truth = truthCells(first);
    expect(totalOf(truth)).toBe(10_000);
    await expectMetrics(campaign, truth, from, to);
    expect(await epochShards()).toEqual([4]);

    // A deployment with 16 shards; the client replays all 10,000 plus 5,000 new ones, and the server
    // is killed in the middle of it; then restarted (same deployment) and the client retries.
    await server.kill();
    await server.restart({ CLICK_SHARDS: "16" });
    const second = [...first, ...batches(campaign, "b", 5_000, now)];
    const acked = await send(second, 60);
    expect(acked.filter(Boolean).length).toBeLessThan(second.length);
    await server.restart();
    await retryUntilAcked(post, second, acked);
    truth = truthCells(second);
    expect(totalOf(truth)).toBe(15_000);
    await expectMetrics(campaign, truth, from, to);
    expect(await epochShards()).toEqual([4, 16]);

    // Down to 3 shards: everything replayed once more, plus 2,000 new.
    await server.kill();
    await server.restart({ CLICK_SHARDS: "3" });
    const third = [...batches(campaign, "c", 2_000, now), ...second];
    await retryUntilAcked(post, third, await send(third));
    truth = truthCells([...second, ...third]);
    expect(totalOf(truth)).toBe(17_000);
    await expectMetrics(campaign, truth, from, to);
    expect(await epochShards()).toEqual([4, 16, 3]);
  });
});
