import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ClickAggregator } from "../../durable-objects/ClickAggregator";
import type { ClickShard } from "../../durable-objects/ClickShard";
import { MAX_FLUSH_CELLS } from "../../durable-objects/clicks/frozen-flushes";
import { aggregatorOfCell } from "../../lib/clicks/aggregators";
import { planForward, type ClickTuple } from "../../lib/clicks/forward";
import { AGGREGATORS, aggregatorStub, allAggregators, allBuffers, allShards, countsFor, drainPipeline, events, postClicks, uniqueCampaign } from "./clicks-helpers";
import { aggregatorsDown, restoreBindings } from "./bindings";
import { api } from "./helpers";

async function forwardAll(): Promise<void> {
  for (let round = 0; round < 5; round++) for (const b of allBuffers()) await runDurableObjectAlarm(b);
}

const failingDb = (real: D1Database) =>
  ({
    prepare: (sql: string) => real.prepare(sql),
    batch: async () => {
      throw new Error("D1_ERROR: Network connection lost.");
    },
  }) as unknown as D1Database;

/** Puts a D1 stand-in into aggregator i, where D1 is written (tests only; the field exists for this). */
async function setAggregatorDb(i: number, make: (real: D1Database) => D1Database): Promise<void> {
  await runInDurableObject(aggregatorStub(i), (agg: ClickAggregator) => {
    agg["db"] = make(env.DB);
  });
}

const alarmOf = (i: number) => runInDurableObject(aggregatorStub(i), (_a: ClickAggregator, state) => state.storage.getAlarm());

/** Shards hand off, then every aggregator runs its alarm `rounds` times. */
async function handOffAndFlush(rounds = 1): Promise<void> {
  for (const s of allShards()) await runDurableObjectAlarm(s);
  for (let k = 0; k < rounds; k++) for (const a of allAggregators()) await runDurableObjectAlarm(a);
}

describe("outages drain, they do not jam", () => {
  it("a failed flush's backoff survives new traffic (new hand-offs do not pull the alarm forward)", async () => {
    const campaign = uniqueCampaign("backoff");
    const evs = events(campaign, 400, { ts: Date.now() - 2_000 });
    const agg = aggregatorOfCell(campaign, evs[0].ad_id, "eu", AGGREGATORS);
    await setAggregatorDb(agg, failingDb);
    await postClicks(evs);
    await forwardAll();
    for (const s of allShards()) await runDurableObjectAlarm(s);
    for (let k = 0; k < 5; k++) await runDurableObjectAlarm(aggregatorStub(agg)); // 5 failures: backoff 200 ms · 2⁵
    const retryAt = await alarmOf(agg);
    expect(retryAt).not.toBeNull();
    expect(retryAt! - Date.now()).toBeGreaterThan(2_000);
    expect((await aggregatorStub(agg).state()).frozenFlush).not.toBeNull();
    // more clicks reach the aggregator while D1 is still down
    await postClicks(events(campaign, 400, { ts: Date.now() - 2_000, idPrefix: `${campaign}-more` }));
    await forwardAll();
    for (const s of allShards()) await runDurableObjectAlarm(s);
    expect((await aggregatorStub(agg).state()).openCells).toBeGreaterThan(0);
    expect(await alarmOf(agg)).toBeGreaterThanOrEqual(retryAt!);
    // the operator sees the stuck aggregator in GET /api/v1/clicks/pipeline
    const pipeline = await api("GET", "/api/v1/clicks/pipeline");
    expect(pipeline.status).toBe(200);
    expect(pipeline.body.aggregators).toHaveLength(AGGREGATORS);
    const stuck = pipeline.body.aggregators.find((a: { name: string }) => a.name === `agg:${agg}`);
    expect(stuck.frozen_flush).not.toBeNull();
    expect(stuck.open_cells).toBeGreaterThan(0);
    await setAggregatorDb(agg, (real) => real);
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(800);
    const after = await api("GET", "/api/v1/clicks/pipeline");
    expect(after.body.aggregators.find((a: { name: string }) => a.name === `agg:${agg}`)).toMatchObject({ open_cells: 0, frozen_flush: null });
  });

  it("a failed hand-off's backoff survives new traffic at the shard, and nothing is lost", async () => {
    const campaign = uniqueCampaign("handoff-down");
    aggregatorsDown();
    await postClicks(events(campaign, 300, { ts: Date.now() - 2_000 }));
    await forwardAll();
    for (let k = 0; k < 5; k++) for (const s of allShards()) await runDurableObjectAlarm(s); // 5 failures: 200 ms · 2⁵
    const states = await Promise.all(allShards().map((s) => s.state()));
    const stuck = states.findIndex((st) => st.frozenFlush !== null);
    expect(stuck).toBeGreaterThanOrEqual(0);
    const shardAlarm = () => runInDurableObject(allShards()[stuck], (_s: ClickShard, state) => state.storage.getAlarm());
    const retryAt = await shardAlarm();
    expect(retryAt! - Date.now()).toBeGreaterThan(2_000);
    // more clicks for every shard while the aggregators are unreachable: they wait in open cells
    await postClicks(events(campaign, 300, { ts: Date.now() - 2_000, idPrefix: `${campaign}-more` }));
    await forwardAll();
    expect((await allShards()[stuck].state()).openCells).toBeGreaterThan(0);
    expect(await shardAlarm()).toBeGreaterThanOrEqual(retryAt!);
    restoreBindings();
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(600);
  });

  it("an Analytics Engine error part-way re-sends nothing already written and does not loop the alarm", async () => {
    const campaign = uniqueCampaign("ae");
    const points: { blobs?: unknown[]; doubles?: number[]; indexes?: unknown[] }[] = [];
    let failAfter = 2;
    for (const a of allAggregators()) {
      await runInDurableObject(a, (agg: ClickAggregator) => {
        const fake = {
          writeDataPoint: (p: (typeof points)[number]) => {
            if (failAfter-- <= 0) throw new Error("AE unavailable");
            points.push(p);
          },
        };
        Object.defineProperty(agg["env"], "CLICKS_AE", { value: fake, configurable: true });
      });
    }
    // 6 cells over the aggregators; each outbox fails once AE is down
    await postClicks(events(campaign, 120, { ad: (i) => `ad-${i % 6}` }));
    await drainPipeline(); // flushes; the AE drain fails after two points
    const failedAlarms = await Promise.all(allAggregators().map((_, i) => alarmOf(i)));
    const soon = failedAlarms.filter((a) => a !== null && a - Date.now() < 3_000 && a - Date.now() > -10_000);
    // the shards whose AE write failed wait ≥ 5 s instead of retrying at once
    expect(points.length).toBe(2);
    failAfter = Number.POSITIVE_INFINITY;
    for (const a of allAggregators()) await runDurableObjectAlarm(a);
    for (const a of allAggregators()) await runDurableObjectAlarm(a);
    const ours = points.filter((p) => p.blobs?.[0] === campaign);
    expect(ours.reduce((n, p) => n + (p.doubles?.[0] ?? 0), 0)).toBe(120);
    const perCell = new Map<string, number>();
    for (const p of ours) perCell.set(String(p.blobs?.slice(1)), (perCell.get(String(p.blobs?.slice(1))) ?? 0) + (p.doubles?.[0] ?? 0));
    expect(perCell.size).toBe(6);
    expect(soon.length).toBeLessThan(allAggregators().length);
  });

  it("AE indexes fit in 96 bytes for Unicode campaign ids", async () => {
    const campaign = "広".repeat(60) + uniqueCampaign("").slice(-4); // 64 characters, 184 bytes
    const points: { blobs?: unknown[]; indexes?: unknown[] }[] = [];
    for (const a of allAggregators()) {
      await runInDurableObject(a, (agg: ClickAggregator) => {
        Object.defineProperty(agg["env"], "CLICKS_AE", { value: { writeDataPoint: (p: (typeof points)[number]) => points.push(p) }, configurable: true });
      });
    }
    expect((await postClicks(events(campaign, 30, { idPrefix: uniqueCampaign("unicode") }))).body.accepted).toBe(30);
    await drainPipeline();
    for (const a of allAggregators()) await runDurableObjectAlarm(a);
    const ours = points.filter((p) => p.blobs?.[0] === campaign);
    expect(ours.length).toBeGreaterThan(0);
    for (const p of ours) {
      const index = String(p.indexes?.[0]);
      expect(new TextEncoder().encode(index).byteLength).toBeLessThanOrEqual(96);
      expect(campaign.startsWith(index)).toBe(true);
    }
  });

  it("D1 down for a simulated hour with thousands of distinct cells: drains in bounded batches, exactly once", async () => {
    const campaign = uniqueCampaign("outage");
    const name = `outage-${campaign}`;
    const stub = env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name));
    const target = 1; // every cell of this test belongs to aggregator 1, so its backlog holds all 6 000
    const ads: string[] = [];
    // long multi-byte ids (≤ 64 characters, ~170 UTF-8 bytes each): the batches' byte bounds are tested too
    const adId = (j: number) => `${"広告".repeat(28)}-${j}`;
    for (let j = 0; ads.length < 6_000; j++) if (aggregatorOfCell(campaign, adId(j), "eu", AGGREGATORS) === target) ads.push(adId(j));
    const agg = aggregatorStub(target);
    const source = `agg:${target}`;
    const before = Number((await env.DB.prepare("SELECT max(flush_id) AS m FROM click_flush_ledger WHERE source = ?").bind(source).first<{ m: number | null }>())?.m ?? 0);
    const now = Date.now();
    const batch = (from: number, to: number) =>
      planForward(
        [
          {
            receivedAt: now,
            clicks: Array.from({ length: to - from }, (_, k) => {
              const i = from + k;
              return [`${campaign}-${i}`, campaign, ads[i], "eu", now - (i % 60) * 60_000] as ClickTuple;
            }),
            rejected: { invalid: 0, too_late: 0, future: 0 },
          },
        ],
        1,
        0,
      ).get(0)!;
    await setAggregatorDb(target, failingDb);
    // an hour of failed flushes (backoff capped at 30 s: ~120 attempts) while clicks keep arriving
    for (let step = 0; step < 6; step++) {
      await stub.ingest(name, "outage-test", step + 1, batch(step * 1_000, (step + 1) * 1_000));
      await runDurableObjectAlarm(stub); // hand-off: ≤ MAX_FLUSH_CELLS cells per part
      for (let k = 0; k < 20; k++) await runDurableObjectAlarm(agg);
    }
    expect((await stub.state()).openCells).toBe(0);
    expect((await agg.state()).frozenFlush).not.toBeNull();
    expect((await agg.state()).openCells).toBeGreaterThan(MAX_FLUSH_CELLS);
    const batches: { statements: number; maxStatementBytes: number; bytes: number }[] = [];
    const boundBytes = new WeakMap<D1PreparedStatement, number>();
    const utf8 = new TextEncoder();
    await setAggregatorDb(target, (real) =>
      ({
        prepare: (sql: string) => {
          const st = real.prepare(sql);
          const bind = st.bind.bind(st);
          st.bind = (...params: unknown[]) => {
            const bound = bind(...params);
            boundBytes.set(bound, utf8.encode(sql).byteLength + params.reduce<number>((n, p) => n + utf8.encode(String(p)).byteLength, 0));
            return bound;
          };
          return st;
        },
        batch: async (stmts: D1PreparedStatement[]) => {
          const sizes = stmts.map((st) => boundBytes.get(st) ?? 0);
          batches.push({ statements: stmts.length, maxStatementBytes: Math.max(...sizes), bytes: sizes.reduce((a, b) => a + b, 0) });
          return real.batch(stmts);
        },
      }) as unknown as D1Database,
    );
    for (let k = 0; k < 30; k++) {
      const st = await agg.state();
      if (st.openCells === 0 && st.frozenFlush === null) break;
      await runDurableObjectAlarm(agg);
    }
    const st = await agg.state();
    expect(st.openCells).toBe(0);
    expect(st.frozenFlush).toBeNull();
    // bounded batches: ≤ MAX_FLUSH_CELLS cells each (ledger row), a handful of statements
    const ledger = await env.DB.prepare("SELECT flush_id, cells, clicks FROM click_flush_ledger WHERE source = ? AND flush_id > ? ORDER BY flush_id")
      .bind(source, before)
      .all<{ cells: number; clicks: number }>();
    expect(ledger.results.length).toBeGreaterThanOrEqual(6);
    for (const row of ledger.results) expect(row.cells).toBeLessThanOrEqual(MAX_FLUSH_CELLS);
    expect(batches.length).toBeGreaterThanOrEqual(6);
    for (const b of batches) {
      expect(b.statements).toBeLessThanOrEqual(20);
      // D1: a statement (SQL + bound values) under 100 KB; a whole batch well under a few MB
      expect(b.maxStatementBytes).toBeGreaterThan(0);
      expect(b.maxStatementBytes).toBeLessThanOrEqual(100_000);
      expect(b.bytes).toBeLessThanOrEqual(1_500_000);
    }
    // the biggest batch really carried long ids (the byte bound was exercised, not trivially met)
    expect(Math.max(...batches.map((b) => b.bytes))).toBeGreaterThan(150_000);
    // exactly once: 6 000 distinct cells of one click each
    const got = await countsFor(campaign);
    expect(got.total).toBe(6_000);
    expect(Object.keys(got.byCell).length).toBe(6_000);
    expect(Object.values(got.byCell).every((n) => n === 1)).toBe(true);
  });
});
