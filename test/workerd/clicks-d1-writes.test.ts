import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickAggregator } from "../../durable-objects/ClickAggregator";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { aggregatorOfCell, aggregatorOfMinute } from "../../lib/clicks/aggregators";
import { flushStatements, isLedgerConflict, type CountRow, type StatsRow } from "../../lib/clicks/flush-sql";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { windowStart } from "../../lib/clicks/windows";
import { clickSettings } from "../../lib/clicks/settings";
import { writeMeta } from "../../lib/sql-migrations";
import { MAX_ROW_CHARS, type Cell } from "../../durable-objects/clicks/open-log";
import { aggregatorAnswersLost, restoreBindings } from "./bindings";
import { AGGREGATORS, allAggregators, countsFor, uniqueCampaign } from "./clicks-helpers";

/**
 * What the aggregators asked of D1 for one campaign's cells and one arrival minute's statistics. Other
 * test files run at the same time in the same runtime and their parts reach the same `agg:<i>` objects,
 * so a batch may carry other cells too: only this test's rows, and the statements that carry them, count.
 */
interface D1Log {
  /** Batches (aggregator flushes) that carried any of this test's rows. */
  batches: number;
  /** Statements of those batches that carried this test's rows, ledger rows included. */
  statements: number;
  /** This test's click_counts and ingest_stats rows, as sent (an additive upsert writes one row per row sent). */
  rowsWritten: number;
  /** This campaign's click_counts rows, per batch that carried any. */
  countRowsPerBatch: number[];
  /** ingest_stats rows of the minute. */
  statsRows: number;
}

/** Wraps D1 in every aggregator; statements are tagged with their SQL and JSON at bind time (no counter in production code). */
async function countAggregatorD1(campaign: string, minute: number): Promise<D1Log> {
  const log: D1Log = { batches: 0, statements: 0, rowsWritten: 0, countRowsPerBatch: [], statsRows: 0 };
  const bound = new WeakMap<D1PreparedStatement, { sql: string; params: unknown[] }>();
  const rowsOf = (sql: string, params: unknown[]): { counts: number; stats: number } => {
    const json = params.find((p): p is string => typeof p === "string" && p.startsWith("["));
    const rows = json ? (JSON.parse(json) as unknown[][]) : [];
    if (sql.includes("INTO click_counts")) return { counts: rows.filter((r) => r[1] === campaign).length, stats: 0 };
    if (sql.includes("INTO ingest_stats")) return { counts: 0, stats: rows.filter((r) => r[0] === minute).length };
    return { counts: 0, stats: 0 };
  };
  const wrap = (real: D1Database) =>
    ({
      prepare: (sql: string) => {
        const stmt = real.prepare(sql);
        return {
          bind: (...params: unknown[]) => {
            const b = stmt.bind(...params);
            bound.set(b, { sql, params });
            return b;
          },
        };
      },
      batch: async (stmts: D1PreparedStatement[]) => {
        const results = await real.batch(stmts);
        let countRows = 0;
        let statements = 0;
        let statsRows = 0;
        for (const st of stmts) {
          const { sql, params } = bound.get(st) ?? { sql: "", params: [] };
          const rows = rowsOf(sql, params);
          countRows += rows.counts;
          statsRows += rows.stats;
          if (rows.counts + rows.stats > 0) statements++;
        }
        if (countRows + statsRows === 0) return results;
        log.batches++;
        log.statements += statements + 1; // and the batch's ledger row
        log.rowsWritten += countRows + statsRows;
        log.statsRows += statsRows;
        log.countRowsPerBatch.push(countRows);
        return results;
      },
    }) as unknown as D1Database;
  for (const a of allAggregators()) {
    await runInDurableObject(a, (agg: ClickAggregator) => {
      agg["db"] = wrap(env.DB);
    });
  }
  return log;
}

async function restoreAggregatorD1(): Promise<void> {
  for (const a of allAggregators()) {
    await runInDurableObject(a, (agg: ClickAggregator) => {
      agg["db"] = env.DB;
    });
  }
}

/** A load: `n` clicks of one campaign over 30 ads × 3 regions × 3 minutes, 10 % of them repeated click_ids. */
function load(campaign: string, n: number, now: number): ClickTuple[] {
  const regions = ["eu", "na", "as"];
  return Array.from({ length: n }, (_, i) => {
    const id = i % 10 === 9 ? i - 9 : i; // every tenth click repeats an earlier click_id
    return [`${campaign}-c${id}`, campaign, `ad-${id % 30}`, regions[Math.floor(id / 90) % 3], now - (Math.floor(id / 30) % 3) * 60_000] as ClickTuple;
  });
}

/** The ground truth: first occurrence of each click_id counts, per "window|ad|region". */
function truth(clicks: ClickTuple[]): Record<string, number> {
  const seen = new Set<string>();
  const out: Record<string, number> = {};
  for (const [id, , ad, region, ts] of clicks) {
    if (seen.has(id)) continue;
    seen.add(id);
    const k = `${windowStart(ts)}|${ad}|${region}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/**
 * Keeps a shard's own alarm from firing until the test runs it (its hand-off is due within an interval
 * of its first open cell, on the boundary schedule, and would race the test's runDurableObjectAlarm).
 * The alarm clears the hold; a failed hand-off's retry is scheduled as usual.
 */
async function holdAlarm(shard: DurableObjectStub<ClickShard>): Promise<void> {
  await runInDurableObject(shard, (s: ClickShard) => {
    s["backoffUntil"] = Date.now() + 120_000;
  });
}

/** Keeps aggregators' own flushes back (their alarms run when the test runs them), so that what they hold can be read. */
async function holdFlushes(aggregators: DurableObjectStub<ClickAggregator>[]): Promise<void> {
  for (const a of aggregators) {
    await runInDurableObject(a, (agg: ClickAggregator) => {
      agg["pipeline"].backoffUntil = Date.now() + 120_000;
    });
  }
}

/** The ground truth as D1 count rows of one campaign. */
function truthRows(campaign: string, clicks: ClickTuple[]): CountRow[] {
  return Object.entries(truth(clicks)).map(([k, n]) => {
    const [w, a, r] = k.split("|");
    return [Number(w), campaign, a, r, n];
  });
}

const shardsOf = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(`${prefix}:${i}`)));

/**
 * Feeds the clicks to `shards` shards (as one buffer forward), then one hand-off round and one aggregator
 * flush round. The aggregators' own alarms are held back meanwhile (FLUSH_INTERVAL_MS is 200 ms in the
 * tests, less than feeding 16 shards takes), so that all of the load meets in exactly one flush each.
 */
async function runLoad(prefix: string, shards: number, clicks: ClickTuple[], now: number): Promise<void> {
  await holdFlushes(allAggregators());
  const plan = planForward([{ receivedAt: now, clicks, rejected: { invalid: 3, too_late: 2, future: 1 } }], shards, 0);
  const stubs = shardsOf(prefix, shards);
  for (const [i, batch] of plan) await stubs[i].ingest(`${prefix}:${i}`, "d1-writes-test", 1, batch);
  for (const s of stubs) await runDurableObjectAlarm(s);
  for (const s of stubs) expect((await s.state()).frozenFlush).toBeNull();
  await flushAggregatorsOf(clicks[0][1]);
}

/**
 * Log rows and frozen flushes in the aggregators that hold cells of `campaign`. Other test files' parts
 * may be there too (they run at the same time and share the `agg:<i>` objects): only this campaign's count.
 */
async function aggregatorRowsOf(campaign: string, aggregators = allAggregators()): Promise<number> {
  let rows = 0;
  for (const a of aggregators) {
    rows += await runInDurableObject(a, (agg: ClickAggregator) =>
      agg["sql"].exec<{ n: number }>("SELECT (SELECT count(*) FROM open_log WHERE instr(cells, ?1) > 0) + (SELECT count(*) FROM flushes WHERE instr(cells, ?1) > 0) AS n", campaign).one().n,
    );
  }
  return rows;
}

/**
 * Runs the aggregators' alarms until none holds a cell of `campaign` (its frozen flush row goes only once
 * D1 took it). One round is not enough to read D1 after: an aggregator's own alarm, or another file's
 * drain, may be flushing this campaign's part at that moment, and then the test's run finds no alarm to
 * run and returns before that D1 batch commits.
 */
async function flushAggregatorsOf(campaign: string, aggregators = allAggregators()): Promise<void> {
  for (let round = 0; round < 100; round++) {
    for (const a of aggregators) await runDurableObjectAlarm(a);
    if ((await aggregatorRowsOf(campaign, aggregators)) === 0) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the aggregators still hold cells of ${campaign}`);
}

describe("D1 writes do not grow with the shard count (issue 10 §3)", () => {
  it("the same load at 4 and at 16 shards writes each cell once per aggregator flush", async () => {
    const campaign = uniqueCampaign("d1w");
    // The same clicks for both runs, an hour apart in event and arrival time: the same (campaign, ad,
    // region) cells, so the same aggregators, but new D1 rows each time (inserts in both runs).
    const runs = [4, 16].map((shards, k) => ({ shards, now: Date.now() - (2 - k) * 3_600_000 }));
    const ingestStats = (now: number) =>
      env.DB.prepare("SELECT coalesce(sum(accepted), 0) AS accepted, coalesce(sum(duplicates), 0) AS duplicates, coalesce(sum(invalid), 0) AS invalid FROM ingest_stats WHERE window_start = ?")
        .bind(windowStart(now))
        .first<{ accepted: number; duplicates: number; invalid: number }>();

    const logs: Record<number, D1Log> = {};
    const want: Record<string, number> = {};
    let cells = 0;
    for (const { shards, now } of runs) {
      const clicks = load(campaign, 3_000, now);
      const expected = truth(clicks);
      cells = Object.keys(expected).length;
      expect(cells).toBeGreaterThan(200);
      Object.assign(want, expected);
      const statsBefore = (await ingestStats(now))!;
      logs[shards] = await countAggregatorD1(campaign, windowStart(now));
      await runLoad(`${campaign}-s${shards}`, shards, clicks, now);
      await restoreAggregatorD1();
      const statsAfter = (await ingestStats(now))!;
      expect({
        accepted: statsAfter.accepted - statsBefore.accepted,
        duplicates: statsAfter.duplicates - statsBefore.duplicates,
        invalid: statsAfter.invalid - statsBefore.invalid,
      }).toEqual({ accepted: 3_000, duplicates: 300, invalid: 3 });
      // exact against the ground truth, cell by cell
      expect((await countsFor(campaign)).byCell).toEqual(want);
    }
    for (const shards of [4, 16]) {
      const log = logs[shards];
      // ≤ 1 click_counts row per cell per aggregator flush; one flush round here, so exactly one per cell
      expect(log.countRowsPerBatch.reduce((s, n) => s + n, 0)).toBe(cells);
      expect(log.batches).toBeLessThanOrEqual(allAggregators().length);
      // one arrival minute: one ingest_stats row, written by the minute's aggregator
      expect(log.statsRows).toBe(1);
    }
    // the same D1 work whatever the shard count (the design before aggregators: one upsert per cell per shard that saw it)
    expect(logs[16].statements).toBe(logs[4].statements);
    expect(logs[16].rowsWritten).toBe(logs[4].rowsWritten);
    expect(logs[16].countRowsPerBatch).toEqual(logs[4].countRowsPerBatch);
  });
});

describe("shard → aggregator hand-off", () => {
  it("a part the aggregator applied is counted once when the shard crashes before completing and re-sends it", async () => {
    const campaign = uniqueCampaign("handoff");
    const now = Date.now();
    const clicks = load(campaign, 600, now);
    const name = `${campaign}-shard:0`;
    const shardStub = () => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name)); // a stub does not survive abortAllDurableObjects
    const shard = shardStub();
    const batch = planForward([{ receivedAt: now, clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
    // one part per aggregator that owns one of the cells or the arrival minute's statistics
    const parts = new Set([...clicks.map(([, c, a, r]) => aggregatorOfCell(c, a, r, AGGREGATORS)), aggregatorOfMinute(windowStart(now), AGGREGATORS)]).size;
    expect(parts).toBeGreaterThan(1);

    // Every aggregator applies its part, but the answers never reach the shard (as if it crashed right
    // after). The shard's own alarms may re-send meanwhile: each re-send must be refused.
    const aggregators = allAggregators(); // real stubs, for the test's own calls
    let loseAnswers = true;
    const answers = aggregatorAnswersLost(() => loseAnswers);
    await holdAlarm(shard); // the test runs the first hand-off itself (its retries may run on their own)
    await shard.ingest(name, "handoff-test", 1, batch);
    await runDurableObjectAlarm(shard);
    expect(answers.filter((a) => a).length).toBe(parts);
    expect(answers.slice(0, parts).every((a) => a)).toBe(true);
    expect((await shard.state()).frozenFlush).not.toBeNull();
    // its retry waits for the test (a retry that fired on its own could be cut off by the crash below)
    await runInDurableObject(shard, (s: ClickShard, state) => {
      s["alarmAt"] = Date.now() + 60_000;
      return state.storage.setAlarm(s["alarmAt"]);
    });
    // the aggregators flush what they applied to D1 before the shard comes back
    await flushAggregatorsOf(campaign, aggregators);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));

    await abortAllDurableObjects(); // the shard crashes: only its storage remains
    loseAnswers = false;
    const sentBefore = answers.length;
    await runDurableObjectAlarm(shardStub()); // re-sends the same parts: each refused as applied before
    expect(answers.length).toBeGreaterThanOrEqual(sentBefore + parts);
    expect(answers.filter((a) => a).length).toBe(parts);
    expect((await shardStub().state()).frozenFlush).toBeNull();
    restoreBindings();
    await flushAggregatorsOf(campaign);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
  });
});

describe("hand-offs and flushes on common boundaries", () => {
  it("a shard hands off the lead before the next flush boundary; an aggregator flushes on that boundary", async () => {
    const { flushIntervalMs: interval, handoffLeadMs: lead } = clickSettings(env);
    // start just after a boundary, so that neither alarm fires before the test has read it
    while (Date.now() % interval > interval / 10) await new Promise((r) => setTimeout(r, 2));
    const campaign = uniqueCampaign("aligned");
    const now = Date.now();
    const name = `${campaign}-shard:0`;
    const shard = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    const clicks = load(campaign, 50, now);
    const batch = planForward([{ receivedAt: now, clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
    await shard.ingest(name, "aligned-test", 1, batch);
    const agg = env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(`${campaign}-agg`));
    await agg.apply(`${campaign}-agg`, "aligned-shard", 1, JSON.stringify([[windowStart(now), campaign, "ad-x", "eu", 1]]), "[]", now, 1);
    const handoff = await runInDurableObject(shard, (s: ClickShard) => s["alarmAt"]);
    const flush = await runInDurableObject(agg, (a: ClickAggregator) => a["alarmAt"]);
    const boundary = (Math.floor(now / interval) + 1) * interval;
    expect([handoff, flush]).toEqual([boundary - lead, boundary]);

    // leave nothing behind for the other tests: everything reaches D1
    const expected = { ...truth(clicks), [`${windowStart(now)}|ad-x|eu`]: 1 };
    for (let round = 0; round < 50 && JSON.stringify(Object.entries((await countsFor(campaign)).byCell).sort()) !== JSON.stringify(Object.entries(expected).sort()); round++) {
      await runDurableObjectAlarm(shard);
      for (const a of [...allAggregators(), agg]) await runDurableObjectAlarm(a);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await countsFor(campaign)).byCell).toEqual(expected);
  });
});

describe("a part's cell count travels with it", () => {
  it("the shard sends each part's count; the aggregator counts a part that comes without one", async () => {
    const campaign = uniqueCampaign("part-n");
    const now = Date.now();
    const clicks = load(campaign, 300, now);
    const name = `${campaign}-shard:0`;
    const shard = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    await holdFlushes(allAggregators()); // the log rows stay to be read
    const batch = planForward([{ receivedAt: now, clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
    await holdAlarm(shard);
    await shard.ingest(name, "part-n-test", 1, batch);
    await runDurableObjectAlarm(shard);
    let rows = 0;
    const cells: string[] = [];
    for (const a of allAggregators()) {
      await runInDurableObject(a, (agg: ClickAggregator) => {
        const log = agg["sql"].exec<{ n: number; cells: string }>("SELECT n, cells FROM open_log WHERE instr(cells, ?) > 0", campaign).toArray();
        for (const r of log) {
          const parsed = JSON.parse(r.cells) as Cell[];
          expect(r.n).toBe(parsed.length);
          rows++;
          // exactly this campaign's cells (instr also matches a longer name that starts with it)
          for (const [w, c, ad, region] of parsed) if (c === campaign) cells.push(`${w}|${ad}|${region}`);
        }
      });
    }
    expect(rows).toBeGreaterThan(1);
    // every cell of the load reached its aggregator once
    expect(cells.sort()).toEqual(Object.keys(truth(clicks)).sort());

    // A part from a shard before schema v7 (no count), or with a count that is not one: SQLite counts it.
    const agg = env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(`${campaign}-agg`));
    await holdFlushes([agg]);
    const part = (k: number) => JSON.stringify(Array.from({ length: k }, (_, i) => [windowStart(now), campaign, `ad-${i}`, "eu", 1]));
    await agg.apply(`${campaign}-agg`, "old-shard", 1, part(3), "[]", now);
    await agg.apply(`${campaign}-agg`, "new-shard", 1, part(2), "[]", now, 2);
    await agg.apply(`${campaign}-agg`, "odd-shard", 1, part(4), "[]", now, -1);
    expect((await agg.state()).openCells).toBe(9);
  });
});

describe("parts that arrive together are stored together", () => {
  it("one transaction and one log row for concurrent parts; a concurrent re-send waits and counts once; a failed group fails every caller", async () => {
    const campaign = uniqueCampaign("group");
    const name = `${campaign}-agg`;
    const agg = env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(name));
    await holdFlushes([agg]);
    const now = Date.now();
    const part = (ad: string, n: number) => JSON.stringify([[windowStart(now), campaign, ad, "eu", n]]);
    const stats = JSON.stringify([[windowStart(now), 1, 0, 0, 0, 0]]);
    // called in one turn (the shards' hand-offs arrive together just before a boundary)
    const together = await runInDurableObject(agg, async (a: ClickAggregator) => {
      const answers = await Promise.all([
        a.apply(name, "s1", 1, part("a1", 1), stats, now, 1),
        a.apply(name, "s2", 1, part("a2", 2), "[]", now, 1),
        a.apply(name, "s3", 1, part("a3", 3), stats, now),
        a.apply(name, "s1", 1, part("a1", 1), stats, now, 1), // s1's re-send, while its original waits
      ]);
      const rows = a["sql"].exec<{ n: number; cells: string; stats: string }>("SELECT n, cells, stats FROM open_log").toArray();
      return { answers: answers.map((r) => r.applied), rows };
    });
    expect(together.answers).toEqual([true, true, true, false]);
    expect(together.rows).toHaveLength(1);
    // one part came without a count: SQLite counted the joined row
    expect(together.rows[0].n).toBe(3);
    expect((JSON.parse(together.rows[0].cells) as Cell[]).map((c) => [c[2], c[4]])).toEqual([["a1", 1], ["a2", 2], ["a3", 3]]);
    expect(JSON.parse(together.rows[0].stats)).toHaveLength(2);

    // the group's transaction fails: every caller in it fails (none is acknowledged), nothing is kept
    const failed = await runInDurableObject(agg, async (a: ClickAggregator) => {
      const pipeline = a["pipeline"];
      const real = pipeline.addOpen.bind(pipeline);
      pipeline.addOpen = () => {
        throw new Error("SQLITE_FULL (injected)");
      };
      const settled = await Promise.allSettled([a.apply(name, "s4", 1, part("a4", 4), "[]", now, 1), a.apply(name, "s4", 1, part("a4", 4), "[]", now, 1)]);
      pipeline.addOpen = real;
      return settled.map((r) => r.status);
    });
    expect(failed).toEqual(["rejected", "rejected"]);
    // a part that is not a JSON array is refused alone; the part that arrived with it is stored
    const mixed = await runInDurableObject(agg, async (a: ClickAggregator) => {
      const settled = await Promise.allSettled([a.apply(name, "s5", 1, "{}", "[]", now, 1), a.apply(name, "s6", 1, part("a6", 6), "[]", now, 1)]);
      return settled.map((r) => (r.status === "fulfilled" ? r.value.applied : r.status));
    });
    expect(mixed).toEqual(["rejected", true]);
    expect((await agg.state()).openCells).toBe(4);
    // the shard's retry is applied, once
    expect((await agg.apply(name, "s4", 1, part("a4", 4), "[]", now, 1)).applied).toBe(true);
    expect((await agg.apply(name, "s4", 1, part("a4", 4), "[]", now, 1)).applied).toBe(false);
    expect((await agg.state()).openCells).toBe(5);
    expect(await agg.state()).toMatchObject({ sources: 5 });
  });
});

describe("upgrade: a flush a shard froze before aggregators existed", () => {
  /** A shard holding one flush frozen the old way (cells under flush id 7, no parts), written straight into its storage. */
  async function legacyFrozen(name: string, clicks: ClickTuple[], now: number) {
    const shard = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    const counts: CountRow[] = Object.entries(truth(clicks)).map(([k, n]) => {
      const [w, a, r] = k.split("|");
      return [Number(w), clicks[0][1], a, r, n];
    });
    const unique = counts.reduce((sum, c) => sum + c[4], 0);
    const stats: StatsRow[] = [[windowStart(now), clicks.length, clicks.length - unique, 0, 0, 0]];
    await runInDurableObject(shard, (s: ClickShard, state) => {
      state.storage.transactionSync(() => {
        const sql = s["sql"];
        writeMeta(sql, "name", name);
        for (const [w, c, a, r, n] of counts) sql.exec("INSERT INTO cells (flush_id, w, c, a, r, n) VALUES (7, ?, ?, ?, ?, ?)", w, c, a, r, n);
        const [minute, accepted, duplicates] = stats[0];
        sql.exec("INSERT INTO stats (flush_id, minute, accepted, duplicates, invalid, too_late, future) VALUES (7, ?, ?, ?, 0, 0, 0)", minute, accepted, duplicates);
        sql.exec("INSERT INTO flushes (flush_id, frozen_at) VALUES (7, ?)", Date.now());
      });
      s["name"] = name;
      return state.storage.setAlarm(Date.now() + 60_000); // run below by runDurableObjectAlarm
    });
    return { shard, counts, stats };
  }

  async function drain(shard: DurableObjectStub<ClickShard>): Promise<void> {
    await runDurableObjectAlarm(shard);
    for (const a of allAggregators()) await runDurableObjectAlarm(a);
    expect((await shard.state()).frozenFlush).toBeNull();
  }

  it("already in D1 (the old code's answer was lost): not counted again", async () => {
    const campaign = uniqueCampaign("legacy-done");
    const name = `${campaign}:0`;
    const now = Date.now();
    const clicks = load(campaign, 300, now);
    const { shard, counts, stats } = await legacyFrozen(name, clicks, now);
    // what the old code sent: one batch with its ledger row (source = the shard's name)
    const old = flushStatements(name, 7, new Date().toISOString(), counts, stats);
    await env.DB.batch(old.map((s) => env.DB.prepare(s.sql).bind(...s.params)));
    await drain(shard);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
  });

  it("not in D1: fenced in the ledger, then handed off; a late copy of the old batch is refused", async () => {
    const campaign = uniqueCampaign("legacy-open");
    const name = `${campaign}:0`;
    const now = Date.now();
    const clicks = load(campaign, 300, now);
    const { shard, counts, stats } = await legacyFrozen(name, clicks, now);
    await drain(shard);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
    const fence = await env.DB.prepare("SELECT cells FROM click_flush_ledger WHERE source = ? AND flush_id = 7").bind(name).first<{ cells: number }>();
    expect(fence?.cells).toBe(-1);
    // the old code's batch, arriving late, hits the fence and D1 rolls it back whole
    const old = flushStatements(name, 7, new Date().toISOString(), counts, stats);
    const late = await env.DB.batch(old.map((s) => env.DB.prepare(s.sql).bind(...s.params))).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isLedgerConflict(late)).toBe(true);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
  });
});

describe("upgrade: open cells counted before the shard's open log (schema v6)", () => {
  it("are carried into the log by the migration (≤ 1 000 cells a row) and reach D1 exactly once", async () => {
    const campaign = uniqueCampaign("v5-open");
    const name = `${campaign}:0`;
    const now = Date.now();
    // 2 500 cells: more than one log row's worth
    const clicks: ClickTuple[] = Array.from({ length: 2_500 }, (_, i) => [`${campaign}-c${i}`, campaign, `ad-${i}`, ["eu", "na"][i % 2], now]);
    const counts = truthRows(campaign, clicks);
    const stub = () => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    // A shard at schema v5: its open cells and statistics in `cells` / `stats` under flush id 0.
    await runInDurableObject(stub(), (s: ClickShard, state) => {
      state.storage.transactionSync(() => {
        const sql = s["sql"];
        sql.exec("DROP TABLE open_log");
        sql.exec("ALTER TABLE parts DROP COLUMN n");
        writeMeta(sql, "schema_version", 5);
        writeMeta(sql, "name", name);
        for (const [w, c, a, r, n] of counts) sql.exec("INSERT INTO cells (flush_id, w, c, a, r, n) VALUES (0, ?, ?, ?, ?, ?)", w, c, a, r, n);
        sql.exec("INSERT INTO stats (flush_id, minute, accepted, duplicates, invalid, too_late, future) VALUES (0, ?, ?, 0, 0, 0, 0)", windowStart(now), clicks.length);
      });
    });
    await abortAllDurableObjects(); // the new code starts on that storage: the v6 migration runs
    const shard = stub();
    const st = await shard.state();
    expect([st.openCells, st.openStats]).toEqual([counts.length, 1]);
    await runInDurableObject(shard, (s: ClickShard, state) => {
      s["name"] = name;
      expect(s["sql"].exec("SELECT count(*) AS n FROM cells").one().n).toBe(0);
      expect(s["sql"].exec("SELECT n FROM open_log ORDER BY id").toArray().map((r) => r.n)).toEqual([1_000, 1_000, 500, 0]);
      return state.storage.setAlarm(Date.now() + 60_000); // run below by runDurableObjectAlarm
    });
    await runDurableObjectAlarm(shard);
    expect(await shard.state()).toMatchObject({ openCells: 0, openStats: 0, frozenFlush: null });
    await flushAggregatorsOf(campaign);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
  });
});

describe("upgrade: an aggregator's cells from before its open log (schema v2)", () => {
  it("open and frozen cells both reach D1 exactly once", async () => {
    const campaign = uniqueCampaign("agg-v1");
    const name = `${campaign}-agg`;
    const now = Date.now();
    const clicks = load(campaign, 400, now);
    const counts = truthRows(campaign, clicks);
    const half = Math.floor(counts.length / 2);
    const stub = () => env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(name));
    // An aggregator at schema v1: half the cells frozen under flush 5 (not yet in D1), half open.
    await runInDurableObject(stub(), (agg: ClickAggregator, state) => {
      state.storage.transactionSync(() => {
        const sql = agg["sql"];
        sql.exec("DROP TABLE open_log");
        sql.exec("ALTER TABLE flushes DROP COLUMN cells");
        sql.exec("ALTER TABLE flushes DROP COLUMN stats");
        writeMeta(sql, "schema_version", 1);
        writeMeta(sql, "name", name);
        writeMeta(sql, "next_flush_id", 6);
        counts.forEach(([w, c, a, r, n], i) => sql.exec("INSERT INTO cells (flush_id, w, c, a, r, n) VALUES (?, ?, ?, ?, ?, ?)", i < half ? 5 : 0, w, c, a, r, n));
        sql.exec("INSERT INTO flushes (flush_id, frozen_at) VALUES (5, ?)", Date.now());
      });
    });
    await abortAllDurableObjects(); // the new code starts on that storage: the v2 migration runs
    const agg = stub();
    expect(await agg.state()).toMatchObject({ openCells: counts.length - half, frozenFlush: 5 });
    await runInDurableObject(agg, (a: ClickAggregator, state) => {
      a["name"] = name;
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    for (let i = 0; i < 4 && (await runDurableObjectAlarm(agg)); i++);
    expect(await agg.state()).toMatchObject({ openCells: 0, frozenFlush: null });
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
    const ledger = await env.DB.prepare("SELECT flush_id, cells FROM click_flush_ledger WHERE source = ? ORDER BY flush_id").bind(name).all<{ flush_id: number; cells: number }>();
    expect(ledger.results).toEqual([
      { flush_id: 5, cells: half },
      { flush_id: 6, cells: counts.length - half },
    ]);
  });
});

describe("log rows and parts stay under a SQLite value's size", () => {
  it("a forward of long ids is appended as several rows, handed off in parts under the bound as a backlog, counted once", async () => {
    const campaign = uniqueCampaign("long-ids").padEnd(64, "é");
    const name = `${campaign.slice(0, 20)}:0`;
    const now = Date.now();
    const ad = (i: number) => `${i}-`.padEnd(64, "广");
    const clicks: ClickTuple[] = Array.from({ length: 6_000 }, (_, i) => [`long-${now}-${i}`, campaign, ad(i), "eu", now]);
    const shard = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    const batch = planForward([{ receivedAt: now, clicks, rejected: { invalid: 0, too_late: 0, future: 0 } }], 1, 0).get(0)!;
    await holdAlarm(shard); // the test freezes the first hand-off itself, below
    await shard.ingest(name, "long-ids", 1, batch);
    const rows = await runInDurableObject(shard, (s: ClickShard) => s["sql"].exec<{ n: number; len: number }>("SELECT n, length(cells) AS len FROM open_log ORDER BY id").toArray());
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.reduce((a, r) => a + r.n, 0)).toBe(6_000);
    for (const r of rows) expect(r.len).toBeLessThanOrEqual(MAX_ROW_CHARS);
    // one hand-off takes at most MAX_ROW_CHARS of the log (one row here), so every part is under it too;
    // what is left is more than one hand-off's worth by characters (not by entries): a backlog, drained at once
    expect(rows.slice(1).reduce((a, r) => a + r.len, 0)).toBeGreaterThan(MAX_ROW_CHARS);
    const first = await runInDurableObject(shard, (s: ClickShard) => {
      const flushId = s["handoff"]["freeze"](Date.now())?.flushId;
      const partChars = s["sql"].exec<{ chars: number }>("SELECT sum(length(cells)) AS chars FROM parts WHERE flush_id = ?", flushId).one().chars;
      return { flushId, partChars, open: s["handoff"].log.entries(), backlog: s["handoff"].backlog() };
    });
    expect(first.flushId).not.toBeNull();
    expect(first.partChars).toBeLessThanOrEqual(MAX_ROW_CHARS);
    expect(first.open).toBe(6_000 - rows[0].n);
    expect(first.backlog).toBe(true);
    // the rest, hand-off after hand-off (the shard's own alarms run too once the first has cleared the
    // hold); every part, as the aggregators logged it, stays under the bound
    for (let i = 0; i < 50; i++) {
      const st = await shard.state();
      if (st.openCells === 0 && st.frozenFlush === null) break;
      await runDurableObjectAlarm(shard);
      for (const a of allAggregators()) {
        const parts = await runInDurableObject(a, (agg: ClickAggregator) => agg["sql"].exec<{ len: number }>("SELECT length(cells) AS len FROM open_log").toArray());
        for (const p of parts) expect(p.len).toBeLessThanOrEqual(MAX_ROW_CHARS);
        await runDurableObjectAlarm(a);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await shard.state()).toMatchObject({ openCells: 0, frozenFlush: null });
    await flushAggregatorsOf(campaign);
    expect((await countsFor(campaign)).byCell).toEqual(truth(clicks));
  });
});
