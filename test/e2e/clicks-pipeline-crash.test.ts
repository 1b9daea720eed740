import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsCells, postBatch, retryUntilAcked, sendAll, sortedCells, totalOf, truthCells, waitForCells, waitForQuietPipeline, type ClickBatch, type ClickEvent } from "./click-cells";
import { http, startDevServer, type DevServer } from "./server";

/**
 * SIGKILL mid-ingest: many batches in flight, the server is killed, restarted, every batch that was not
 * acknowledged is retried with the same click_ids, and after the flushes the metrics equal the ground
 * truth computed here, exactly.
 */
let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "300" });
});
afterAll(async () => {
  await server?.dispose();
});

const REGIONS = ["eu", "na", "as"];
const MINUTE = 60_000;

function buildBatches(campaign: string, count: number, size: number, now: number): ClickBatch[] {
  const batches: ClickBatch[] = [];
  for (let b = 0; b < count; b++) {
    const events: ClickEvent[] = [];
    for (let i = 0; i < size; i++) {
      const n = b * size + i;
      // event times spread over the last 5 minutes, some of them late by hours (their own windows)
      const ts = now - (n % 5) * MINUTE - (n % 17 === 0 ? 3 * 3_600_000 : 0) - 1_000;
      events.push({ click_id: `${campaign}-${b}-${i}`, campaign_id: campaign, ad_id: `ad-${n % 4}`, ts: n % 2 ? new Date(ts).toISOString() : ts });
    }
    // Client-side retries inside the run: a batch repeats 5 events of an earlier batch with the same
    // region (same b mod 3), attributes unchanged — they must be counted once.
    if (b >= 3) events.push(...batches[b - 3].events.slice(0, 5));
    batches.push({ region: REGIONS[b % 3], events });
  }
  return batches;
}

const post = (batch: ClickBatch) => postBatch(server.url, batch);

describe("click pipeline survives SIGKILL mid-ingest", () => {
  it("acknowledged or retried clicks are counted exactly once", async () => {
    const campaign = `crash-${Date.now().toString(36)}`;
    const now = Date.now();
    const batches = buildBatches(campaign, 120, 40, now);
    // 8 concurrent senders; kill the server once about a third is acknowledged, while others are in flight.
    const acked = await sendAll(post, batches, { killAt: batches.length / 3, kill: () => server.kill() });
    const ackedBeforeKill = acked.filter(Boolean).length;
    expect(ackedBeforeKill).toBeGreaterThan(0);
    expect(ackedBeforeKill).toBeLessThan(batches.length);

    await server.restart();
    // The client retries every batch that was not acknowledged, with the same click_ids.
    await retryUntilAcked(post, batches, acked);

    const truth = truthCells(batches);
    const from = now - 4 * 3_600_000;
    const to = now + 10 * MINUTE;
    const seen = await waitForCells(server.url, campaign, from, to, truth, 60_000);
    expect(totalOf(seen)).toBe(totalOf(truth));
    expect(sortedCells(seen)).toEqual(sortedCells(truth));
    // Once nothing is left anywhere in the pipeline, nothing has been added (no late double count).
    await waitForQuietPipeline(server.url);
    expect(totalOf(await metricsCells(server.url, campaign, from, to))).toBe(totalOf(truth));

    // Replaying everything once more (a client that never saw its acks) changes nothing either.
    for (let k = 0; k < batches.length; k += 8) await Promise.all(batches.slice(k, k + 8).map(post));
    await waitForQuietPipeline(server.url);
    expect(sortedCells(await metricsCells(server.url, campaign, from, to))).toEqual(sortedCells(truth));
  });
});
