// Does a click shard's dedup state expire with the horizon? A private server with a short horizon
// (ALLOWED_LATENESS_SECONDS + MAX_CLOCK_SKEW_SECONDS) takes a burst of clicks, then a light trickle
// (so shard alarms keep firing, as they do under real traffic) until the horizon plus one full sweep
// cycle has passed; the shards' SQLite files are read before and after.
import { countClicks, makeEvents, sendClicks } from "./clicks.mjs";
import { createToken } from "./fixture.mjs";
import { sleep } from "./http.mjs";
import { shardStorage } from "./shard-storage.mjs";
import { startServer } from "./server.mjs";

/** ClickShard sweeps expired dedup keys one slice per alarm (durable-objects/ClickShard.ts). */
const SWEEP_SLICES = 256;

export async function horizonCheck({ seconds = 5, runId, burst = 20_000, flushMs = 100, log = () => {}, extraVars = {} }) {
  const horizonS = 2 * seconds;
  const server = await startServer({ ...extraVars, ALLOWED_LATENESS_SECONDS: String(seconds), MAX_CLOCK_SKEW_SECONDS: String(seconds), FLUSH_INTERVAL_MS: String(flushMs) }, { log });
  try {
    const publisher = await createToken(server, "publisher", ["*"]);
    const viewer = await createToken(server, "viewer", ["*"]);
    const campaign = `horizon-${runId}`;
    const from = Date.now();
    let acked = 0;
    // The burst: `burst` fresh click_ids in batches of 500, four requests at a time.
    const batches = Math.ceil(burst / 500);
    for (let i = 0; i < batches; i += 4) {
      const rs = await Promise.all(
        Array.from({ length: Math.min(4, batches - i) }, () => sendClicks(server, makeEvents(`${runId}h`, campaign, 500), { token: publisher })),
      );
      for (const r of rs) {
        if (r.status !== 200) throw new Error(`burst: POST /v1/clicks → ${r.status} ${JSON.stringify(r.body)}`);
        acked += r.counted;
      }
    }
    const burstAt = Date.now();
    // Wait until the burst is flushed, so every key is in the shards' dedup tables.
    for (let t = 0; t < 300 && (await countClicks(server, viewer, campaign, from, Date.now())) < acked; t++) await sleep(100);
    const before = await shardStorage(server.persistDir);
    const dedupBefore = before.totals.tables.dedup ?? null;
    log(`  horizon: ${acked} clicks acked; shard dedup rows ${dedupBefore}; trickling for the horizon (${horizonS}s) + a sweep cycle`);

    // Trickle: 32 fresh clicks every 100 ms keeps every shard's alarm running at FLUSH_INTERVAL_MS.
    const sweepCycleS = (SWEEP_SLICES * flushMs) / 1000;
    const until = burstAt + (horizonS + sweepCycleS + 5) * 1000;
    let trickled = 0;
    while (Date.now() < until) {
      const r = await sendClicks(server, makeEvents(`${runId}t`, `${campaign}-trickle`, 32), { token: publisher });
      if (r.status === 200) trickled += r.counted;
      await sleep(100);
    }
    const after = await shardStorage(server.persistDir);
    const dedupAfter = after.totals.tables.dedup ?? null;
    // What the trickle alone may leave: its rate × (horizon + one sweep cycle), generously.
    const trickleRate = trickled / ((Date.now() - burstAt) / 1000);
    const allowance = Math.ceil(trickleRate * (horizonS + sweepCycleS + 5));
    const bounded = dedupBefore !== null && dedupAfter !== null ? dedupBefore >= acked * 0.99 && dedupAfter <= allowance : null;
    return {
      vars: { ALLOWED_LATENESS_SECONDS: seconds, MAX_CLOCK_SKEW_SECONDS: seconds, FLUSH_INTERVAL_MS: flushMs },
      horizon_s: horizonS,
      sweep_cycle_s_under_load: sweepCycleS,
      burst_acked: acked,
      trickle_clicks: trickled,
      dedup_rows_before: dedupBefore,
      dedup_rows_after: dedupAfter,
      dedup_rows_allowance: allowance,
      bytes_before: before.totals.bytes,
      bytes_after: after.totals.bytes,
      tables_before: before.totals.tables,
      tables_after: after.totals.tables,
      shard_objects: after.totals.objects,
      bounded,
      summary:
        dedupBefore === null
          ? `could not read the shards' SQLite (${before.note ?? "node:sqlite unavailable"}); on-disk ${fmtBytes(before.totals.bytes)} → ${fmtBytes(after.totals.bytes)}`
          : `${dedupBefore} dedup rows after a ${acked}-click burst → ${dedupAfter} after the ${horizonS}s horizon + one ${sweepCycleS}s sweep cycle ` +
            `(trickle allowance ${allowance}); shard files ${fmtBytes(before.totals.bytes)} → ${fmtBytes(after.totals.bytes)}`,
    };
  } finally {
    await server.stop();
  }
}

const fmtBytes = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`;
