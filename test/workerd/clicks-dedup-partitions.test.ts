import { abortAllDurableObjects, env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { DedupIndex } from "../../durable-objects/clicks/dedup-index";
import { partitionOf, partitionSpanMs, partitionTable, sliceOfKey, SLICES, splitKeys } from "../../lib/clicks/dedup-keys";
import { BUCKET_BITS } from "../../lib/clicks/key-buckets";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { clickKey, keyHex } from "../../lib/clicks/hash";
import { uniqueCampaign } from "./clicks-helpers";

const horizonMs = (Number(env.ALLOWED_LATENESS_SECONDS) + Number(env.MAX_CLOCK_SKEW_SECONDS)) * 1000;
const span = partitionSpanMs(horizonMs);
const index = (shard: ClickShard) => shard["index"] as DedupIndex;
const shardNamed = (name: string) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
const keysJson = (prefix: string, from: number, to: number) =>
  "[" + Array.from({ length: to - from }, (_, i) => keyHex(...clickKey(`${prefix}-${from + i}`))).join(",") + "]";

/** A forward of click ids `${prefix}-${from}` … `${prefix}-${to - 1}` for a one-shard plan. */
function batchOf(prefix: string, from: number, to: number) {
  const now = Date.now();
  const clicks = Array.from({ length: to - from }, (_, i) => [`${prefix}-${from + i}`, "c", "ad", "eu", now - 1000] as ClickTuple);
  return planForward([{ receivedAt: now, clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
}

async function ingestMany(name: string, prefix: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += 25_000) {
    expect(await shardNamed(name).ingest(name, "test", 0, batchOf(prefix, from, Math.min(n, from + 25_000)))).toMatchObject({ duplicates: 0 });
  }
}

/** SQL that counts the rows every statement read and wrote (per statement text). */
function countingSql(sql: SqlStorage) {
  const cursors: { q: string; c: SqlStorageCursor<Record<string, SqlStorageValue>> }[] = [];
  const proxy = new Proxy(sql, {
    get(target, prop) {
      if (prop === "exec") {
        return (q: string, ...args: SqlStorageValue[]) => {
          const c = target.exec(q, ...args);
          cursors.push({ q, c });
          return c;
        };
      }
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const sum = (f: (c: SqlStorageCursor<Record<string, SqlStorageValue>>) => number, skip?: RegExp) =>
    cursors.filter(({ q }) => !skip?.test(q)).reduce((n, { c }) => n + f(c), 0);
  return {
    sql: proxy,
    rowsRead: (skip?: RegExp) => sum((c) => c.rowsRead, skip),
    rowsWritten: (skip?: RegExp) => sum((c) => c.rowsWritten, skip),
    reset: () => void cursors.splice(0),
  };
}

/** A second index over a shard's storage, opened, its SQL counted from here on. */
function countedIndex(sql: SqlStorage) {
  const counted = countingSql(sql);
  const idx = new DedupIndex(counted.sql, horizonMs);
  idx.open();
  counted.reset();
  return { counted, idx };
}

/** Level 0 as dedup schema v1 kept it: one row per key (`k`, `exp`) in dedup_log (and dedup_merging if asked). */
function perKeyLevel0(sql: SqlStorage, { merging }: { merging: boolean }): void {
  sql.exec("DROP TABLE dedup_log");
  sql.exec("DROP TABLE IF EXISTS dedup_merging");
  sql.exec("CREATE TABLE dedup_log (k INTEGER NOT NULL, exp INTEGER NOT NULL)");
  if (merging) sql.exec("CREATE TABLE dedup_merging (k INTEGER NOT NULL, exp INTEGER NOT NULL)");
}

describe("dedup partitions", () => {
  it("Durable Object SQLite reads a 16-digit JSON5 hex key ≥ 2^63 as its two's complement (claims and B-tree partitions rely on it)", async () => {
    // Node's SQLite 3.51 reads these as 2^63 − 1: were workerd's to do the same, half of all keys would be one key
    const keys = ["0xffffffffffffffff", "0x8000000000000001", "0x7fffffffffffffff", "0x0000000000000000"];
    const back = await runInDurableObject(shardNamed(`json5-${uniqueCampaign()}`), (_shard: ClickShard, state) =>
      state.storage.sql.exec<{ k: string }>("SELECT printf('0x%016x', value) AS k FROM json_each(?)", "[" + keys.join(",") + "]").toArray().map((r) => r.k),
    );
    expect(back).toEqual(keys);
  });

  it("expiry drops whole partitions: a sweep writes and reads as many rows for 60 000 keys as for 5 000", async () => {
    const measure = async (n: number) => {
      const name = `expiry-${uniqueCampaign()}`;
      const exp = Date.now() + horizonMs;
      return runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
        for (let from = 0; from < n; from += 20_000) index(shard).dedup(keysJson(name, from, Math.min(n, from + 20_000)), exp);
        for (let i = 0; i < SLICES; i++) index(shard).sweep(Date.now()); // finish any merge cycle: every key in a partition
        expect(index(shard).stats()).toMatchObject({ logKeys: 0, mergingKeys: 0 });
        expect(index(shard).size()).toBe(n);
        const counted = countingSql(state.storage.sql);
        const fresh = new DedupIndex(counted.sql, horizonMs);
        fresh.open();
        expect(fresh.sweep(exp)).toBe(0); // the keys' partition ends after their expiry: nothing yet
        expect(fresh.size()).toBe(n);
        counted.reset();
        const dropped = fresh.sweep(partitionOf(exp, span) * 1000);
        const cost = { dropped, rowsWritten: counted.rowsWritten(), rowsRead: counted.rowsRead() };
        expect(fresh.size()).toBe(0);
        return cost;
      });
    };
    const small = await measure(5_000); // > MERGE_AT: one call merges it all
    const big = await measure(60_000);
    expect(small.dropped).toBeGreaterThanOrEqual(1);
    expect(big).toEqual(small);
    expect(big.rowsWritten).toBeLessThan(100);
    await abortAllDurableObjects(); // the shards' own in-memory indexes saw the tables go
  });

  it("an object's start reads no keys: rows read while opening are the same at 100 000 and 400 000 keys", async () => {
    const startRows = async (n: number) => {
      const name = `start-${uniqueCampaign()}`;
      await ingestMany(name, name, n);
      await abortAllDurableObjects();
      return runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
        // what the constructor does for the index, over the same storage with its SQL counted
        const counted = countingSql(state.storage.sql);
        const copy = new DedupIndex(counted.sql, horizonMs);
        copy.open();
        expect(copy.size()).toBe(n);
        expect(copy.size()).toBe(index(shard).size());
        // level 0 (the log and a log being merged) is bounded by MAX_LOG_KEYS, not by the keys held
        return { notLevel0: counted.rowsRead(/dedup_log|dedup_merging/), all: counted.rowsRead() };
      });
    };
    const small = await startRows(100_000);
    const big = await startRows(400_000);
    expect(big.notLevel0).toBe(small.notLevel0);
    expect(big.notLevel0).toBeLessThan(100);
    expect(big.all).toBeLessThan(400_000 / 4);
  });

  it("filters survive a restart: duplicates are still found, filters load lazily, and new keys mostly skip the B-trees", async () => {
    const name = `restart-${uniqueCampaign()}`;
    const n = 60_000;
    await ingestMany(name, name, n);
    const stats = () => runInDurableObject(shardNamed(name), (shard: ClickShard) => index(shard).stats());
    expect((await stats()).partitions).toBeGreaterThanOrEqual(1);
    await abortAllDurableObjects();
    expect(await stats()).toMatchObject({ filterBytes: 0, probed: 0 }); // nothing loaded yet
    for (let from = 0; from < n; from += 20_000) {
      expect(await shardNamed(name).ingest(name, "test", 0, batchOf(name, from, from + 20_000))).toMatchObject({ duplicates: 20_000 });
    }
    const before = await stats();
    expect(before.filterBytes).toBeGreaterThan(0);
    const fresh = 20_000;
    expect(await shardNamed(name).ingest(name, "test", 0, batchOf(`${name}-new`, 0, fresh))).toMatchObject({ duplicates: 0 });
    const probed = (await stats()).probed - before.probed;
    // ≈ 1 % false positives per partition holding keys (one or two here)
    expect(probed).toBeLessThan(fresh * 0.05);
  });

  it("filter memory is bounded: past the budget the oldest partitions are probed in their B-trees, and every answer is the same", async () => {
    const name = `budget-${uniqueCampaign()}`;
    await runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
      const now = Date.now();
      for (let i = 0; i < 3; i++) expect(index(shard).dedup(keysJson(`${name}-${i}`, 0, 20_000), now + horizonMs - i * span)).toHaveLength(20_000);
      expect(index(shard).stats()).toMatchObject({ partitions: 3, logKeys: 0, mergingKeys: 0 });
      const budget = 40_000; // about one partition's blocks (20 000 keys × 15 bits)
      const small = new DedupIndex(state.storage.sql, horizonMs, budget);
      small.open();
      for (let i = 0; i < 3; i++) expect(small.dedup(keysJson(`${name}-${i}`, 0, 20_000), now + horizonMs)).toEqual([]);
      const afterOld = small.stats();
      expect(afterOld.filterBytes).toBeGreaterThan(0);
      expect(afterOld.filterBytes).toBeLessThanOrEqual(budget);
      expect(small.dedup(keysJson(`${name}-new`, 0, 5_000), now + horizonMs)).toHaveLength(5_000);
      const afterNew = small.stats();
      // new keys went to the B-tree of the partitions whose filters did not fit (about 2 of 3)
      expect(afterNew.probed - afterOld.probed).toBeGreaterThan(5_000);
      expect(afterNew.filterBytes).toBeLessThanOrEqual(budget);
    });
    await abortAllDurableObjects(); // the shard's own in-memory index did not see `small`'s appends
  });

  it("migrates today's schema: the single dedup B-tree and its log are carried into partitions", async () => {
    const name = `migrate-${uniqueCampaign()}`;
    const now = Date.now();
    const groups = { older: [0, 3_000, now + horizonMs - 3 * span], newer: [3_000, 7_000, now + horizonMs], expired: [7_000, 8_000, now - 2 * span] } as const;
    await runInDurableObject(shardNamed(name), (_shard: ClickShard, state) => {
      const sql = state.storage.sql;
      // the layout of ClickShard schema v4: `dedup` (k, exp) + `dedup_log`, meta.dedup_keys
      sql.exec("DROP TABLE dedup_parts");
      sql.exec("DROP TABLE dedup_blooms");
      sql.exec("DELETE FROM meta WHERE key = 'dedup_schema_version'");
      perKeyLevel0(sql, { merging: false });
      sql.exec("CREATE TABLE dedup (k INTEGER PRIMARY KEY, exp INTEGER NOT NULL)");
      for (const [from, to, exp] of Object.values(groups)) sql.exec("INSERT INTO dedup (k, exp) SELECT value, ? FROM json_each(?)", exp, keysJson(name, from, to));
      sql.exec("INSERT INTO dedup_log (k, exp) SELECT value, ? FROM json_each(?)", now + horizonMs, keysJson(name, 8_000, 8_500));
      sql.exec("INSERT INTO meta (key, value) VALUES ('dedup_keys', 8000)");
    });
    await abortAllDurableObjects();
    const after = await runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dedup%'").toArray().map((r) => r.name);
      return { tables, stats: index(shard).stats(), size: index(shard).size() };
    });
    expect(after.tables).not.toContain("dedup");
    expect(after.tables.filter((t) => t.startsWith("dedup_p") && t !== "dedup_parts")).toHaveLength(3);
    expect(after.stats).toMatchObject({ partitions: 3, logKeys: 500 });
    expect(after.size).toBe(8_500);
    // every carried key is still a duplicate; new ones are not
    expect(await shardNamed(name).ingest(name, "test", 0, batchOf(name, 0, 8_500))).toMatchObject({ duplicates: 8_500 });
    expect(await shardNamed(name).ingest(name, "test", 0, batchOf(name, 8_500, 9_000))).toMatchObject({ duplicates: 0 });
    // the expired keys' partition is dropped by the next sweep (the shard's own alarm may have run it first)
    const swept = await runInDurableObject(shardNamed(name), (shard: ClickShard) => {
      index(shard).sweep(Date.now());
      return { size: index(shard).size(), partitions: index(shard).stats().partitions };
    });
    expect(swept).toEqual({ size: 9_000 - 1_000, partitions: 2 });
  });

  it("level 0 writes one row per batch, not one per key, and a restart still finds every key", async () => {
    const name = `level0-${uniqueCampaign()}`;
    await runInDurableObject(shardNamed(name), (_shard: ClickShard, state) => {
      const { counted, idx } = countedIndex(state.storage.sql);
      const exp = Date.now() + horizonMs;
      // 4 × 1 000 keys stay below MERGE_AT (4 096): nothing is merged into a partition yet
      for (let b = 0; b < 4; b++) expect(idx.dedup(keysJson(name, b * 1_000, (b + 1) * 1_000), exp)).toHaveLength(1_000);
      expect(idx.stats()).toMatchObject({ logKeys: 4_000, partitions: 0 });
      expect(counted.rowsWritten()).toBe(4); // per-key rows: 4 000
      // a batch with a repeated key and known keys stores only its new keys (one row)
      counted.reset();
      const mixed = "[" + [...splitKeys(keysJson(name, 3_990, 4_010)), ...splitKeys(keysJson(name, 4_005, 4_006))].join(",") + "]";
      expect(idx.dedup(mixed, exp)).toHaveLength(10);
      expect(counted.rowsWritten()).toBe(1);
      const reopened = new DedupIndex(state.storage.sql, horizonMs);
      reopened.open();
      expect(reopened.stats()).toMatchObject({ logKeys: 4_010 });
      expect(reopened.dedup(keysJson(name, 0, 4_010), exp)).toEqual([]);
    });
    await abortAllDurableObjects(); // the shard's own index did not see these appends
  });

  it("migrates level 0 from one row per key: the log and a half-merged log keep every key", async () => {
    const name = `level0-migrate-${uniqueCampaign()}`;
    const now = Date.now();
    const step = 5; // slices 0–4 of the merging log were merged before the upgrade
    const merging = splitKeys(keysJson(`${name}-m`, 0, 3_000));
    await runInDurableObject(shardNamed(name), (_shard: ClickShard, state) => {
      const sql = state.storage.sql;
      // dedup index schema v1: dedup_log and dedup_merging hold one row per key, dedup_parts has no bits
      sql.exec("UPDATE meta SET value = 1 WHERE key = 'dedup_schema_version'");
      sql.exec("DROP TABLE dedup_parts");
      sql.exec("CREATE TABLE dedup_parts (p INTEGER PRIMARY KEY, keys INTEGER NOT NULL)");
      perKeyLevel0(sql, { merging: true });
      sql.exec("INSERT INTO dedup_log (k, exp) SELECT value, ? FROM json_each(?)", now + horizonMs, keysJson(name, 0, 1_500));
      sql.exec("INSERT INTO dedup_log (k, exp) SELECT value, ? FROM json_each(?)", now + horizonMs - span, keysJson(name, 1_500, 2_000));
      sql.exec("INSERT INTO dedup_merging (k, exp) SELECT value, ? FROM json_each(?)", now + horizonMs, "[" + merging.join(",") + "]");
      sql.exec("INSERT INTO meta (key, value) VALUES ('dedup_merge_slice', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", step);
    });
    await abortAllDurableObjects();
    const unmerged = merging.filter((k) => sliceOfKey(k) >= step);
    const after = await runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
      const rows = (t: string) => Number(state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${t}`).one().n);
      return { stats: index(shard).stats(), logRows: rows("dedup_log"), mergingRows: rows("dedup_merging") };
    });
    expect(after.stats).toMatchObject({ logKeys: 2_000, mergingKeys: unmerged.length });
    expect(after).toMatchObject({ logRows: 2, mergingRows: 1 }); // one row per expiry
    // every key of the log and of the merging log's unmerged slices is still a duplicate
    const { duplicates } = await shardNamed(name).ingest(name, "test", 0, batchOf(name, 0, 2_000));
    expect(duplicates).toBe(2_000);
    const dupOfMerging = await runInDurableObject(shardNamed(name), (shard: ClickShard) => index(shard).dedup("[" + unmerged.join(",") + "]", now + horizonMs));
    expect(dupOfMerging).toEqual([]);
    await abortAllDurableObjects();
  });

  it("a full filter block grows by a link: keys merged past its size are not read back from the partition, and a restart still finds them all", async () => {
    const name = `bloom-links-${uniqueCampaign()}`;
    await runInDurableObject(shardNamed(name), (_shard: ClickShard, state) => {
      const { counted, idx } = countedIndex(state.storage.sql);
      const exp = Date.now() + horizonMs;
      // 5 000 keys: one merge cycle makes the partition, each slice's block sized for ≈ 1 024 keys
      expect(idx.dedup(keysJson(name, 0, 5_000), exp)).toHaveLength(5_000);
      for (let i = 0; i < SLICES; i++) idx.sweep(Date.now());
      counted.reset();
      // 40 000 more in the same partition: ≈ 2 800 per slice, far past each block's size
      for (let from = 5_000; from < 45_000; from += 10_000) expect(idx.dedup(keysJson(name, from, from + 10_000), exp)).toHaveLength(10_000);
      for (let i = 0; i < SLICES; i++) idx.sweep(Date.now());
      expect(idx.stats()).toMatchObject({ partitions: 1, logKeys: 0, mergingKeys: 0 });
      expect(idx.size()).toBe(45_000);
      // what was read from the partition's table: only the B-tree probes of filter positives (≈ 1–2 %
      // of the new keys), never a slice's keys to rebuild its block
      // (the probes and inserts take the batch's keys as a json list; any other read of dedup_p<end> is a scan)
      const scans = counted.rowsRead(/^(?![\s\S]*dedup_p\d)|json_each/);
      expect(scans).toBe(0);
      const reopened = new DedupIndex(state.storage.sql, horizonMs);
      reopened.open();
      expect(reopened.dedup(keysJson(name, 0, 45_000), exp)).toEqual([]);
      expect(reopened.stats().filterBytes).toBeGreaterThan(0);
      const p = partitionOf(exp, span);
      const links = Number(state.storage.sql.exec<{ n: number }>(`SELECT count(DISTINCT slice) AS n FROM dedup_links_p${p}`).one().n);
      expect(links).toBe(SLICES); // every slice outgrew its first block
    });
    await abortAllDurableObjects(); // the shard's own index did not see these keys
  });

  it("a merge writes one row per bucket it touches, not one per key, and a restart still finds every key", async () => {
    const name = `buckets-${uniqueCampaign()}`;
    await runInDurableObject(shardNamed(name), (_shard: ClickShard, state) => {
      const { counted, idx } = countedIndex(state.storage.sql);
      const exp = Date.now() + horizonMs;
      const n = 60_000;
      // one call of 60 000 keys: level 0 gets 3 rows, then a whole merge cycle (16 steps) runs
      expect(idx.dedup(keysJson(name, 0, n), exp)).toHaveLength(n);
      expect(idx.stats()).toMatchObject({ partitions: 1, logKeys: 0, mergingKeys: 0 });
      const intoPartition = counted.rowsWritten(/^(?!INSERT INTO dedup_p\d)/);
      expect(intoPartition).toBeLessThanOrEqual(2 ** BUCKET_BITS); // a B-tree partition: 60 000
      expect(intoPartition).toBeGreaterThan(0);
      const p = partitionOf(exp, span);
      const stored = state.storage.sql.exec<{ rows: number; bytes: number }>(`SELECT count(*) AS rows, sum(length(keys)) AS bytes FROM ${partitionTable(p)}`).one();
      expect(stored).toEqual({ rows: intoPartition, bytes: n * 8 });
      // keys whose bytes include 0x00 and 0xff come back whole (appends concatenate BLOBs, not text)
      const reopened = new DedupIndex(state.storage.sql, horizonMs);
      reopened.open();
      expect(reopened.size()).toBe(n);
      expect(reopened.dedup(keysJson(name, 0, n), exp)).toEqual([]);
      expect(reopened.dedup(keysJson(`${name}-new`, 0, 1_000), exp)).toHaveLength(1_000);
    });
    await abortAllDurableObjects(); // the shard's own index did not see these keys
  });

  it("a partition made before buckets (one B-tree row per key) keeps answering beside bucketed ones until it expires", async () => {
    const name = `btree-${uniqueCampaign()}`;
    const now = Date.now();
    const oldExp = now + horizonMs - 2 * span;
    const oldP = partitionOf(oldExp, span);
    await runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
      const sql = state.storage.sql;
      // the layout dedup schema v2 made: `dedup_p<end>` (k INTEGER PRIMARY KEY), dedup_parts.bits NULL
      sql.exec(`CREATE TABLE ${partitionTable(oldP)} (k INTEGER PRIMARY KEY)`);
      sql.exec(`INSERT INTO ${partitionTable(oldP)} (k) SELECT value FROM json_each(?)`, keysJson(`${name}-old`, 0, 5_000));
      index(shard).adoptPartition(oldP);
      expect(index(shard).dedup(keysJson(`${name}-new`, 0, 5_000), now + horizonMs)).toHaveLength(5_000);
      for (let i = 0; i < SLICES; i++) index(shard).sweep(Date.now());
    });
    await abortAllDurableObjects();
    const after = await runInDurableObject(shardNamed(name), (shard: ClickShard, state) => {
      const bits = state.storage.sql.exec<{ p: number; bits: number | null }>("SELECT p, bits FROM dedup_parts ORDER BY p").toArray();
      const dups = index(shard).dedup("[" + [...splitKeys(keysJson(`${name}-old`, 0, 5_000)), ...splitKeys(keysJson(`${name}-new`, 0, 5_000))].join(",") + "]", now + horizonMs);
      const fresh = index(shard).dedup(keysJson(`${name}-fresh`, 0, 2_000), now + horizonMs);
      const dropped = index(shard).sweep(oldP * 1000);
      return { bits, dups, fresh: fresh.length, dropped, size: index(shard).size() };
    });
    expect(after.bits).toEqual([
      { p: oldP, bits: null },
      { p: partitionOf(now + horizonMs, span), bits: BUCKET_BITS },
    ]);
    expect(after).toMatchObject({ dups: [], fresh: 2_000, dropped: 1, size: 7_000 });
    await abortAllDurableObjects();
  });
});
