import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricsCells, truthCells, type ClickBatch as Batch } from "./click-cells";
import { http, startDevServer, type DevServer } from "./server";

/**
 * SIGKILL at staggered moments after acknowledged ingest, with a short FLUSH_INTERVAL_MS, so that the
 * crashes land before the buffer's forward, between forward and flush, and inside the shards' D1 flush
 * (the other crash tests kill once, right after ingest or mid-ingest). After every restart, part of the
 * earlier traffic is replayed. In the end every acknowledged click counts exactly once, in its cell, and
 * the ingest statistics account for every acknowledged event exactly once.
 */

const FLUSH_MS = 100;
const MIN = 60_000;
/** Delays between the last acknowledgement of a round and the SIGKILL. */
const KILL_OFFSETS_MS = [0, 30, 90, 160, 260, 420];
const BATCHES_PER_ROUND = 6;
const EVENTS_PER_BATCH = 100;
const REGIONS = ["eu", "na", "as"];

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: String(FLUSH_MS) });
});
afterAll(async () => {
  await server?.dispose();
});


const campaign = `crashflush-${Date.now().toString(36)}`;
const started = Date.now();

function batchFor(round: number, b: number): Batch {
  const events = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => {
    const n = round * 10_000 + b * EVENTS_PER_BATCH + i;
    // several minutes, some an hour late: more cells per flush
    const ts = started - (n % 4) * MIN - (n % 13 === 0 ? 3_600_000 : 0) - 2_000;
    return { click_id: `${campaign}-${round}-${b}-${i}`, campaign_id: campaign, ad_id: `ad-${n % 5}`, ts };
  });
  return { region: REGIONS[(round + b) % REGIONS.length], events };
}

async function post(batch: Batch): Promise<void> {
  const r = await http(server.url, "POST", "/v1/clicks", { token: null, body: { events: batch.events }, headers: { "x-region": batch.region } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.accepted).toBe(batch.events.length);
  expect(r.body.rejected).toEqual([]);
}

const campaignCells = () => metricsCells(server.url, campaign, started - 2 * 3_600_000, Date.now() + 10 * MIN);

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("SIGKILL during forwards and flushes", () => {
  it("every acknowledged click counts exactly once after crashes at staggered moments, replays included", { timeout: 600_000 }, async () => {
    const acked: Batch[] = [];
    for (const [round, offset] of KILL_OFFSETS_MS.entries()) {
      const batches = Array.from({ length: BATCHES_PER_ROUND }, (_, b) => batchFor(round, b));
      // a client that never saw its acknowledgement replays an earlier batch alongside the new ones
      const replay = round > 0 ? [acked[(round * 7) % acked.length]] : [];
      await Promise.all([...batches, ...replay].map(post));
      acked.push(...batches, ...replay);
      await sleep(offset);
      await server.kill();
      await server.restart();
    }

    const truth = truthCells(acked);
    let seen = new Map<string, number>();
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      seen = await campaignCells();
      if (total(seen) >= total(truth)) break;
      await sleep(250);
    }
    expect(total(seen)).toBe(total(truth));
    expect(sorted(seen)).toEqual(sorted(truth));

    // Many flush intervals later nothing more has appeared (no flush applied twice after a restart).
    await sleep(20 * FLUSH_MS);
    expect(sorted(await campaignCells())).toEqual(sorted(truth));

    // The ingest statistics are flushed in the same D1 batch: each acknowledged event once.
    const eventsAcked = acked.reduce((n, b) => n + b.events.length, 0);
    const stats = await http(server.url, "GET", `/api/v1/clicks/ingest-stats?from=${started - 10 * MIN}&to=${Date.now() + 10 * MIN}`);
    expect(stats.status).toBe(200);
    expect(stats.body.totals).toEqual({ accepted: eventsAcked, duplicates: eventsAcked - total(truth), too_late: 0, future: 0, invalid: 0 });
  });
});
