// `npm run bench:dedup-start`: how long a ClickShard takes to start, and to answer its first ingest,
// at 100 000 and at 5 000 000 dedup keys. The keys are seeded straight into the shard's SQLite
// (partition tables spread over 25 expiry spans like a shard in its steady state, their filters
// built once with the index's own adoptPartition), then the object is restarted and timed from the
// outside (wall time across the RPC). Not part of `npm test`: it measures, it does not assert speed.
// The seeded partitions are B-trees of one row per key (the layout before dedup schema v3's buckets,
// which adoptPartition reads): a start reads neither layout's keys, so the start times hold for both.
import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { expect, it } from "vitest";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { DedupIndex } from "../../durable-objects/clicks/dedup-index";
import { partitionOf, partitionSpanMs, partitionTable } from "../../lib/clicks/dedup-keys";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";

const horizonMs = (Number(env.ALLOWED_LATENESS_SECONDS) + Number(env.MAX_CLOCK_SKEW_SECONDS)) * 1000;
const span = partitionSpanMs(horizonMs);
const PARTITIONS = 25;
const SEED_CHUNK = 250_000;

const stub = (name: string) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));

async function seed(name: string, keys: number): Promise<void> {
  const now = Date.now();
  const perPartition = Math.ceil(keys / PARTITIONS);
  for (let i = 0; i < PARTITIONS; i++) {
    const p = partitionOf(now + horizonMs - i * span, span);
    for (let done = 0; done < perPartition; done += SEED_CHUNK) {
      const n = Math.min(SEED_CHUNK, perPartition - done);
      await runInDurableObject(stub(name), (_s: ClickShard, state) => {
        const sql = state.storage.sql;
        sql.exec(`CREATE TABLE IF NOT EXISTS ${partitionTable(p)} (k INTEGER PRIMARY KEY)`);
        // random 64-bit keys (a collision, ~never, just makes one key fewer)
        sql.exec(
          `INSERT INTO ${partitionTable(p)} (k) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) SELECT random() FROM c WHERE true ON CONFLICT DO NOTHING`,
          n,
        );
      });
    }
    await runInDurableObject(stub(name), (shard: ClickShard) => (shard["index"] as DedupIndex).adoptPartition(p));
  }
}

function batch(prefix: string, n: number) {
  const now = Date.now();
  const clicks = Array.from({ length: n }, (_, i) => [`${prefix}-${i}`, "c", "ad", "eu", now - 1000] as ClickTuple);
  return planForward([{ receivedAt: now, clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
}

async function measure(keys: number) {
  const name = `dedup-start-${keys}`;
  const seedStart = Date.now();
  await seed(name, keys);
  const seedS = (Date.now() - seedStart) / 1000;
  await abortAllDurableObjects();
  const t0 = Date.now();
  const state = await stub(name).state(); // constructor (migrations, catalogue, level 0) + one RPC
  const startMs = Date.now() - t0;
  const t1 = Date.now();
  const r = await stub(name).ingest(name, "bench", 0, batch(`${name}-new`, 600)); // loads the filter blocks it needs
  const firstIngestMs = Date.now() - t1;
  const probed = await runInDurableObject(stub(name), (shard: ClickShard) => (shard["index"] as DedupIndex).stats().probed);
  const t2 = Date.now();
  await stub(name).ingest(name, "bench", 0, batch(`${name}-new2`, 600));
  const secondIngestMs = Date.now() - t2;
  const [stats, dbBytes] = await runInDurableObject(stub(name), (shard: ClickShard, st) => [(shard["index"] as DedupIndex).stats(), st.storage.sql.databaseSize] as const);
  expect(state.dedupKeys).toBeGreaterThan(keys * 0.99);
  expect(r.duplicates).toBe(0);
  return { keys: state.dedupKeys, seed_s: seedS, start_ms: startMs, first_ingest_600_ms: firstIngestMs, second_ingest_600_ms: secondIngestMs, filter_mib: +(stats.filterBytes / 2 ** 20).toFixed(1), partitions: stats.partitions, storage_bytes_per_key: +(dbBytes / state.dedupKeys).toFixed(1), btree_probes_per_new_key: +(probed / 600).toFixed(3) };
}

it("measures a shard's start at 100 000 and 5 000 000 dedup keys", async () => {
  const rows = [await measure(100_000), await measure(5_000_000)];
  console.log("\ndedup-start (wall time from the test runner, same machine, one run each):");
  for (const r of rows) console.log(`  ${r.keys.toLocaleString("en-US")} keys: start ${r.start_ms} ms, first ingest (600 keys) ${r.first_ingest_600_ms} ms, second ${r.second_ingest_600_ms} ms; filters ${r.filter_mib} MiB; ${r.storage_bytes_per_key} B/key stored; ${r.btree_probes_per_new_key} B-tree probes per new key`);
  console.log(`DEDUP_START ${JSON.stringify(rows)}`);
}, 1_800_000);
