// Does a click shard's dedup state expire with the horizon? A private server with a short horizon
// (ALLOWED_LATENESS_SECONDS + MAX_CLOCK_SKEW_SECONDS) takes a burst of clicks, then a light trickle
// (so the shards' alarms keep firing, as under real traffic). ClickShard keeps dedup keys in partitions
// by expiry time (dropped whole by the first alarm after their end) and level-0 logs (merged away within
// 16 alarms); each alarm also sweeps one 1/256 slice of `claims`. The check waits until every shard has
// run 256 alarms after the burst expired, then asserts that no burst key is left. The shards' SQLite
// files are read directly (read-only) from the persisted state.
import { countClicks, makeEvents, sendClicks } from "./clicks.ts";
import { createToken } from "./fixture.ts";
import { sleep } from "./http.ts";
import { shardStorage, type Db, type StorageTotals } from "./shard-storage.ts";
import { startServer, type Log, type StateRoot } from "./server.ts";

/** ClickShard advances `meta.sweep_slice` once per alarm (durable-objects/clicks/dedup-index.ts). */
const SWEEP_SLICES = 256;
/** Tables holding dedup keys: level 0 (`dedup_log`, `dedup_merging`) and the partitions `dedup_p<end s>`. */
const KEY_TABLE = /^dedup_(log|merging|p\d+)$/;
/**
 * Every key with its expiry: exact in level 0; a partition's keys expire before its end, so `end - 1`
 * is their latest possible expiry (at most a span, here 1 s, later than the real one).
 */
function dedupKeys(db: Db): string {
  const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name).filter((n) => KEY_TABLE.test(n));
  // level 0 holds one row per batch: its keys are a `[0x…,…]` list, read as strings (see hexKey)
  const asStrings = `'["' || replace(substr(t.keys, 2, length(t.keys) - 2), ',', '","') || '"]'`;
  const parts = names.map((n) =>
    n.startsWith("dedup_p") ? partitionKeys(db, n) : `SELECT ${hexKey("substr(j.value, 3)")} AS k, t.exp AS exp FROM ${n} AS t, json_each(${asStrings}) AS j WHERE length(t.keys) > 2`,
  );
  return parts.length ? `(${parts.join(" UNION ALL ")})` : "(SELECT 0 AS k, 0 AS exp WHERE false)";
}
/**
 * A partition's keys as (k, exp) rows. A bucketed partition (`b`, `keys` BLOB of 8-byte big-endian keys:
 * lib/clicks/key-buckets.ts) is read key by key, each 8 bytes turned into SQLite's integer through a JSON5 hex literal.
 */
function partitionKeys(db: Db, name: string): string {
  const exp = Number(name.slice("dedup_p".length)) * 1000 - 1;
  const bucketed = (db.prepare(`SELECT 1 FROM pragma_table_info('${name}') WHERE name = 'b'`).all() as unknown[]).length > 0;
  if (!bucketed) return `SELECT k, ${exp} AS exp FROM ${name}`;
  return `SELECT * FROM (WITH RECURSIVE o(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM o WHERE i + 1 < (SELECT coalesce(max(length(keys)), 0) / 8 FROM ${name}))
    SELECT ${hexKey("hex(substr(t.keys, o.i * 8 + 1, 8))")} AS k, ${exp} AS exp FROM ${name} AS t JOIN o ON o.i < length(t.keys) / 8)`;
}

/**
 * SQL: the 64-bit integer (two's complement) of an expression giving 16 hex digits, by shifts alone.
 * Not through a JSON5 hex literal: Node's SQLite (3.51) reads one ≥ 2^63 as 2^63 − 1, where the
 * Durable Objects' SQLite wraps it (the shards rely on that: a workerd test pins it).
 */
function hexKey(digits: string): string {
  const d = (i: number) => `((instr('0123456789abcdef', lower(substr(${digits}, ${i + 1}, 1))) - 1) << ${60 - 4 * i})`;
  return "(" + Array.from({ length: 16 }, (_, i) => d(i)).join(" | ") + ")";
}
const dedupRows = (tables: Record<string, number>): number | null => {
  const names = Object.keys(tables).filter((n) => KEY_TABLE.test(n));
  return names.length === 0 && tables.dedup_parts === undefined ? null : names.reduce((a, n) => a + tables[n], 0);
};

interface Probe {
  sweep_slice: number;
  burst_keys: number;
  expired_keys: number;
}

export interface HorizonResult {
  vars: Record<string, number>;
  horizon_s: number;
  burst_acked: number;
  burst_s: number;
  trickle_clicks: number;
  dedup_rows_before: number;
  dedup_rows_after: number | null;
  burst_keys_left: number;
  shard_slices_swept_after_expiry: number;
  burst_keys_left_in_swept_slices: number;
  burst_keys_gone_fraction: number;
  expired_keys_left: number;
  full_sweep_after_expiry_s: number | null;
  sweep_alarms_per_s_per_shard: number | null;
  projected_full_sweep_s: number | null;
  storage_before: Partial<StorageTotals>;
  storage_after: Partial<StorageTotals>;
  tables_before: Record<string, number>;
  tables_after: Record<string, number>;
  shard_objects: number;
  bounded: boolean;
  summary: string;
}

export async function horizonCheck({ seconds = 5, runId, burst = 10_000, flushMs = 100, maxWaitS = 30, log = () => {}, extraVars = {}, stateRoot }: { seconds?: number; runId: string; burst?: number; flushMs?: number; maxWaitS?: number; log?: Log; extraVars?: Record<string, string>; stateRoot?: StateRoot }): Promise<HorizonResult> {
  const horizonMs = 2 * seconds * 1000;
  const server = await startServer({ ...extraVars, ALLOWED_LATENESS_SECONDS: String(seconds), MAX_CLOCK_SKEW_SECONDS: String(seconds), FLUSH_INTERVAL_MS: String(flushMs) }, { log, stateRoot });
  try {
    const publisher = await createToken(server, "publisher", ["*"]);
    const viewer = await createToken(server, "viewer", ["*"]);
    const campaign = `horizon-${runId}`;
    const from = Date.now();
    let acked = 0;
    const burstStart = Date.now();
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
    const burstEnd = Date.now();
    for (let t = 0; t < 300 && (await countClicks(server, viewer, campaign, from, Date.now())) < acked; t++) await sleep(100);
    // Every burst key expires by burstExpiry (shards stamp exp = arrival + horizon; arrival ≤ now).
    const burstExpiry = Date.now() + horizonMs;
    const probe = (db: Db): Probe => ({
      sweep_slice: Number((db.prepare("SELECT value FROM meta WHERE key = 'sweep_slice'").get() as { value?: number } | undefined)?.value ?? 0),
      burst_keys: Number((db.prepare(`SELECT count(*) AS n FROM ${dedupKeys(db)} WHERE exp <= ?`).get(burstExpiry) as { n: number }).n),
      expired_keys: Number((db.prepare(`SELECT count(*) AS n FROM ${dedupKeys(db)} WHERE exp < ?`).get(Date.now()) as { n: number }).n),
    });
    const before = await shardStorage(server.persistDir as string, "ClickShard", probe);
    const dedupBefore = dedupRows(before.totals.tables);
    if (dedupBefore === null) throw new Error(`cannot read the shards' SQLite files (${before.note ?? "node:sqlite unavailable: run with Node ≥ 22"})`);
    log(`  horizon: ${acked} clicks acked, ${dedupBefore} dedup rows; trickling until every shard has swept all ${SWEEP_SLICES} slices after the ${horizonMs / 1000}s horizon`);

    // Trickle 32 fresh clicks per request; track each shard's sweep position (one slice per alarm).
    const progress = new Map<string, number>(); // shard id → slices swept since the burst expired
    const swept = new Map<string, Set<number>>(); // shard id → slice indexes swept (wholly) after the burst expired
    const lastSlice = new Map(before.objects.map((o) => [o.id, o.extra?.sweep_slice ?? 0]));
    let trickled = 0;
    let lastSample = Date.now();
    let cycleDoneAt: number | null = null;
    let after = before;
    const deadline = burstExpiry + maxWaitS * 1000;
    while (Date.now() < deadline) {
      const r = await sendClicks(server, makeEvents(`${runId}t`, `${campaign}-trickle`, 32), { token: publisher });
      if (r.status === 200) trickled += r.counted;
      await sleep(50);
      if (Date.now() - lastSample < 1000) continue;
      const sampleStart = lastSample;
      lastSample = Date.now();
      after = await shardStorage(server.persistDir as string, "ClickShard", probe);
      for (const o of after.objects) {
        const prev = lastSlice.get(o.id) ?? 0;
        const slice = o.extra?.sweep_slice ?? 0;
        const step = (slice - prev + SWEEP_SLICES) % SWEEP_SLICES; // < 256 slices per second here
        lastSlice.set(o.id, slice);
        // Only intervals that began after the expiry count (the slice moved from prev: prev..now-1 swept).
        if (sampleStart > burstExpiry) {
          progress.set(o.id, (progress.get(o.id) ?? 0) + step);
          const set = swept.get(o.id) ?? new Set<number>();
          for (let i = 0; i < step; i++) set.add((prev + i) % SWEEP_SLICES);
          swept.set(o.id, set);
        }
      }
      const minProgress = after.objects.length ? Math.min(...after.objects.map((o) => progress.get(o.id) ?? 0)) : 0;
      if (minProgress >= SWEEP_SLICES + 1) {
        cycleDoneAt = Date.now();
        break;
      }
    }
    const burstKeysLeft = after.objects.reduce((a, o) => a + (o.extra?.burst_keys ?? 0), 0);
    // In every slice a shard swept after the expiry no burst key may be left (the DO's own slice ranges).
    let sweptSlices = 0;
    let leftInSwept = 0;
    await shardStorage(server.persistDir as string, "ClickShard", (db, id) => {
      const q = db.prepare(`SELECT count(*) AS n FROM ${dedupKeys(db)} WHERE k BETWEEN ((?1 - 128) << 56) AND (((?1 - 128) << 56) | 72057594037927935) AND exp <= ?2`);
      for (const slice of swept.get(id) ?? []) {
        sweptSlices++;
        leftInSwept += Number((q.get(slice, burstExpiry) as { n: number }).n);
      }
      return null;
    });
    const expiredLeft = after.objects.reduce((a, o) => a + (o.extra?.expired_keys ?? 0), 0);
    const cycleS = cycleDoneAt ? (cycleDoneAt - burstExpiry) / 1000 : null;
    const alarmsPerS = [...progress.values()].map((n) => n / ((Date.now() - burstExpiry) / 1000));
    // Bounded: swept slices hold no expired burst key, and the sweep advances (one full cycle takes
    // 256 alarms; at FLUSH_INTERVAL_MS under traffic, or every max(5 s, FLUSH_INTERVAL_MS) when idle).
    const bounded = sweptSlices > 0 && leftInSwept === 0;
    const meanAlarms = alarmsPerS.length ? alarmsPerS.reduce((a, b) => a + b, 0) / alarmsPerS.length : null;
    return {
      vars: { ALLOWED_LATENESS_SECONDS: seconds, MAX_CLOCK_SKEW_SECONDS: seconds, FLUSH_INTERVAL_MS: flushMs },
      horizon_s: horizonMs / 1000,
      burst_acked: acked,
      burst_s: (burstEnd - burstStart) / 1000,
      trickle_clicks: trickled,
      dedup_rows_before: dedupBefore,
      dedup_rows_after: dedupRows(after.totals.tables),
      burst_keys_left: burstKeysLeft,
      shard_slices_swept_after_expiry: sweptSlices,
      burst_keys_left_in_swept_slices: leftInSwept,
      burst_keys_gone_fraction: Math.round((1 - burstKeysLeft / acked) * 1000) / 1000,
      expired_keys_left: expiredLeft,
      full_sweep_after_expiry_s: cycleS,
      sweep_alarms_per_s_per_shard: meanAlarms === null ? null : Math.round(meanAlarms * 10) / 10,
      projected_full_sweep_s: meanAlarms ? Math.round(SWEEP_SLICES / meanAlarms) : null,
      storage_before: { bytes: before.totals.bytes, db_bytes: before.totals.db_bytes, wal_bytes: before.totals.wal_bytes },
      storage_after: { bytes: after.totals.bytes, db_bytes: after.totals.db_bytes, wal_bytes: after.totals.wal_bytes },
      tables_before: before.totals.tables,
      tables_after: after.totals.tables,
      shard_objects: after.totals.objects,
      bounded,
      summary:
        `${acked}-click burst → ${dedupBefore} dedup rows; in ${maxWaitS}s after the ${horizonMs / 1000}s horizon the shards swept ${sweptSlices} of ${after.totals.objects * SWEEP_SLICES} ` +
        `shard-slices (≈${meanAlarms === null ? "?" : meanAlarms.toFixed(1)} alarms/s/shard${cycleS === null ? "" : `, full cycle in ${cycleS.toFixed(0)}s`}): ${leftInSwept} burst keys left in swept slices, ` +
        `${burstKeysLeft} left overall (${Math.round((1 - burstKeysLeft / acked) * 100)}% gone); shard files ${fmtBytes(before.totals.bytes)} → ${fmtBytes(after.totals.bytes)} (WAL ${fmtBytes(after.totals.wal_bytes)})`,
    };
  } finally {
    await server.stop();
  }
}

const fmtBytes = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
