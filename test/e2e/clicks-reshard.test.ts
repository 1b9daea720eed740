import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsCells, truthCells, type ClickBatch } from "./click-cells";
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

async function post(batch: ClickBatch): Promise<boolean> {
  try {
    const r = await fetch(server.url + "/v1/clicks", {
      method: "POST",
      headers: { "content-type": "application/json", "x-region": batch.region },
      body: JSON.stringify({ events: batch.events }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await r.json()) as { accepted?: number };
    return r.status === 200 && body.accepted === batch.events.length;
  } catch {
    return false; // refused or reset: not acknowledged
  }
}

/** Sends every batch with 8 concurrent senders; `killAt` = acknowledged count at which the server is SIGKILLed. */
async function send(all: ClickBatch[], killAt?: number): Promise<boolean[]> {
  const acked = new Array<boolean>(all.length).fill(false);
  let next = 0;
  let ackedCount = 0;
  let killed: Promise<void> | null = null;
  const sender = async () => {
    while (next < all.length && !killed) {
      const i = next++;
      acked[i] = await post(all[i]);
      if (acked[i]) ackedCount++;
      if (killAt !== undefined && !killed && ackedCount >= killAt) killed = server.kill();
    }
  };
  await Promise.all(Array.from({ length: 8 }, sender));
  await killed;
  return acked;
}

async function retryUntilAcked(all: ClickBatch[], acked: boolean[]): Promise<void> {
  for (let round = 0; round < 5 && acked.includes(false); round++) {
    const todo = acked.flatMap((a, i) => (a ? [] : [i]));
    for (let k = 0; k < todo.length; k += 8) await Promise.all(todo.slice(k, k + 8).map(async (i) => (acked[i] = await post(all[i]))));
  }
  expect(acked.every(Boolean)).toBe(true);
}

async function epochShards(): Promise<number[]> {
  const r = await http(server.url, "GET", "/api/v1/clicks/pipeline");
  expect(r.status).toBe(200);
  return (r.body.epochs as { shards: number }[]).map((e) => e.shards);
}

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort());

async function expectMetrics(campaign: string, truth: Map<string, number>, from: number, to: number): Promise<void> {
  let seen = new Map<string, number>();
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    seen = await metricsCells(server.url, campaign, from, to);
    if (total(seen) >= total(truth)) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  expect(total(seen)).toBe(total(truth));
  // several flush intervals later nothing more arrives (no late double count)
  await new Promise((r) => setTimeout(r, 2_000));
  expect(sorted(await metricsCells(server.url, campaign, from, to))).toEqual(sorted(truth));
}

describe("changing CLICK_SHARDS across deployments, with replays and a crash", () => {
  it("4 → 16 → 3 shards: every click counts exactly once", { timeout: 600_000 }, async () => {
    const campaign = `reshard-${Date.now().toString(36)}`;
    const now = Date.now();
    const from = now - 10 * MINUTE;
    const to = now + 10 * MINUTE;
    const first = batches(campaign, "a", 10_000, now);
    await retryUntilAcked(first, await send(first));
    let truth = truthCells(first);
    expect(total(truth)).toBe(10_000);
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
    await retryUntilAcked(second, acked);
    truth = truthCells(second);
    expect(total(truth)).toBe(15_000);
    await expectMetrics(campaign, truth, from, to);
    expect(await epochShards()).toEqual([4, 16]);

    // Down to 3 shards: everything replayed once more, plus 2,000 new.
    await server.kill();
    await server.restart({ CLICK_SHARDS: "3" });
    const third = [...batches(campaign, "c", 2_000, now), ...second];
    await retryUntilAcked(third, await send(third));
    truth = truthCells([...second, ...third]);
    expect(total(truth)).toBe(17_000);
    await expectMetrics(campaign, truth, from, to);
    expect(await epochShards()).toEqual([4, 16, 3]);
  });
});
