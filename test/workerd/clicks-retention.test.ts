import { createScheduledController, env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { DAY_MS } from "../../lib/clicks/metrics-window";
import worker from "../../workers/index";
import { runRetention } from "../../workers/retention";
import { insertCells, uniqueCampaign, type Cell } from "./clicks-helpers";
import { api, tokenFor } from "./helpers";

/**
 * The retention job (Cron Trigger → workers/retention.ts) against rows written straight into D1, with
 * the defaults of wrangler.toml: minutes rolled up past 35 days, days deleted past 800, ledger rows
 * pruned past 7 days. Every test uses its own campaign (or ledger sources) and checks only those, so
 * other tests' rows, rolled up by the same runs, never matter.
 */

const M = 60_000;
const H = 3_600_000;
const NOW = Date.now();
const TODAY = NOW - (NOW % DAY_MS);
const ROLLUP_BEFORE = TODAY - 35 * DAY_MS;
const iso = (ms: number) => new Date(ms).toISOString();

/** One Cron Trigger invocation of the Worker's `scheduled` handler: "ok" or "exception". */
async function cron(scheduledTime = NOW): Promise<"ok" | "exception"> {
  try {
    await worker.scheduled(createScheduledController({ scheduledTime, cron: "*/5 * * * *" }), env);
    return "ok";
  } catch {
    return "exception";
  }
}

/** Minute cells of a campaign over a few days: several ads, regions, hours and minutes per day. */
function cellsFor(campaign: string, days: number[]): Cell[] {
  const out: Cell[] = [];
  days.forEach((day, d) => {
    for (const hour of [0, 3, 13, 23]) {
      for (const minute of [0, 1, 59]) {
        for (const [i, ad] of ["a1", "a2", "a3"].entries()) {
          for (const r of ["eu", "na"]) out.push({ w: day + hour * H + minute * M, c: campaign, a: ad, r, n: 1 + ((d * 7 + hour + minute + i * 3 + r.length) % 5) });
        }
      }
    }
  });
  return out;
}

/** The test's own expectation: per (day, ad, region), the sum of the minute cells. */
function dailySums(cells: Cell[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of cells) {
    const key = `${c.w - (c.w % DAY_MS)}|${c.a}|${c.r}`;
    out[key] = (out[key] ?? 0) + c.n;
  }
  return out;
}

const sum = (cells: Cell[]) => cells.reduce((s, c) => s + c.n, 0);

async function rowsOf(campaign: string) {
  const minutes = await env.DB.prepare("SELECT window_start AS w, ad_id AS a, region AS r, clicks AS n FROM click_counts WHERE campaign_id = ? ORDER BY 1, 2, 3")
    .bind(campaign)
    .all<{ w: number; a: string; r: string; n: number }>();
  const days = await env.DB.prepare("SELECT day AS d, ad_id AS a, region AS r, clicks AS n FROM click_counts_daily WHERE campaign_id = ? ORDER BY 1, 2, 3")
    .bind(campaign)
    .all<{ d: number; a: string; r: string; n: number }>();
  const daily: Record<string, number> = {};
  for (const r of days.results) daily[`${r.d}|${r.a}|${r.r}`] = r.n;
  const total = minutes.results.reduce((s, r) => s + r.n, 0) + days.results.reduce((s, r) => s + r.n, 0);
  return { minutes: minutes.results, daily, total };
}

describe("click retention (Cron Trigger)", () => {
  it("rolls minutes older than 35 days into daily cells equal to their sums; re-running changes nothing", async () => {
    const c = uniqueCampaign("ret-roll");
    const old = cellsFor(c, [TODAY - 40 * DAY_MS, TODAY - 36 * DAY_MS]);
    const recent = cellsFor(c, [TODAY - 34 * DAY_MS, TODAY - 2 * DAY_MS]);
    await insertCells([...old, ...recent]);

    expect(await cron()).toBe("ok");
    const after = await rowsOf(c);
    expect(after.daily).toEqual(dailySums(old));
    expect(after.minutes.every((m) => m.w >= ROLLUP_BEFORE)).toBe(true);
    expect(after.minutes).toHaveLength(recent.length);
    expect(after.total).toBe(sum(old) + sum(recent));

    expect(await cron()).toBe("ok");
    expect(await rowsOf(c)).toEqual(after);
  });

  it("works in bounded slices: a run stops after its rounds, the next continues, nothing twice", async () => {
    const c = uniqueCampaign("ret-slice");
    const old = cellsFor(c, [TODAY - 50 * DAY_MS]);
    await insertCells(old);
    let runs = 0;
    for (;;) {
      const report = await runRetention(env, NOW, { sliceRows: 25, maxRounds: 2 });
      runs++;
      expect(report.errors).toEqual([]);
      expect(report.batches).toBeLessThanOrEqual(2 * 4);
      expect(report.rows.rollup).toBeLessThanOrEqual(2 * 25);
      expect((await rowsOf(c)).total).toBe(sum(old));
      if (report.complete) break;
      expect(runs).toBeLessThan(100);
    }
    expect(runs).toBeGreaterThanOrEqual(Math.ceil(old.length / 50));
    const after = await rowsOf(c);
    expect(after.minutes).toEqual([]);
    expect(after.daily).toEqual(dailySums(old));
  });

  it("a D1 failure between the roll-up's insert and delete rolls the slice back: nothing counted twice", async () => {
    const c = uniqueCampaign("ret-fail");
    const old = cellsFor(c, [TODAY - 45 * DAY_MS]);
    await insertCells(old);
    // A real failure inside D1: the slice's DELETE aborts after its INSERT into the daily table ran.
    await env.DB.prepare(`CREATE TRIGGER ret_fail BEFORE DELETE ON click_counts WHEN old.campaign_id = '${c}' BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END`).run();
    try {
      expect(await cron()).toBe("exception");
      const during = await rowsOf(c);
      expect(during.daily).toEqual({});
      expect(during.total).toBe(sum(old));
    } finally {
      await env.DB.prepare("DROP TRIGGER IF EXISTS ret_fail").run();
    }
    expect(await cron()).toBe("ok");
    const after = await rowsOf(c);
    expect(after.daily).toEqual(dailySums(old));
    expect(after.total).toBe(sum(old));
  });

  it("a slice D1 applied but whose answer was lost is not applied again by the retry", async () => {
    const c = uniqueCampaign("ret-lost");
    const old = cellsFor(c, [TODAY - 42 * DAY_MS]);
    await insertCells(old);
    let lost = 0;
    const db = env.DB;
    const flaky = Object.create(db) as D1Database;
    flaky.prepare = (q: string) => db.prepare(q);
    flaky.batch = async <T,>(stmts: D1PreparedStatement[]) => {
      const results = await db.batch<T>(stmts);
      if (lost++ === 0) throw new Error("D1_ERROR: Network connection lost (injected after commit)");
      return results;
    };
    const first = await runRetention({ ...env, DB: flaky }, NOW);
    expect(first.errors.map((e) => e.step)).toEqual(["rollup"]);
    expect((await rowsOf(c)).total).toBe(sum(old));
    const second = await runRetention({ ...env, DB: flaky }, NOW);
    expect(second.errors).toEqual([]);
    const after = await rowsOf(c);
    expect(after.daily).toEqual(dailySums(old));
    expect(after.total).toBe(sum(old));
  });

  it("deletes daily cells and ingest statistics older than 800 days, keeps younger ones", async () => {
    const c = uniqueCampaign("ret-expire");
    const source = `${c}:src`;
    const days = [TODAY - 802 * DAY_MS, TODAY - 801 * DAY_MS, TODAY - 799 * DAY_MS];
    const insDay = env.DB.prepare("INSERT INTO click_counts_daily (day, campaign_id, ad_id, region, clicks) VALUES (?, ?, 'a', 'eu', 5)");
    const insStat = env.DB.prepare("INSERT INTO ingest_stats (window_start, source, accepted) VALUES (?, ?, 5)");
    await env.DB.batch([...days.map((d) => insDay.bind(d, c)), ...days.map((d) => insStat.bind(d + 7 * M, source))]);

    expect(await cron()).toBe("ok");
    const kept = await env.DB.prepare("SELECT day FROM click_counts_daily WHERE campaign_id = ?").bind(c).all<{ day: number }>();
    expect(kept.results.map((r) => r.day)).toEqual([TODAY - 799 * DAY_MS]);
    const stats = await env.DB.prepare("SELECT window_start AS w FROM ingest_stats WHERE source = ?").bind(source).all<{ w: number }>();
    expect(stats.results.map((r) => r.w)).toEqual([TODAY - 799 * DAY_MS + 7 * M]);
  });

  it("prunes ledger rows older than 7 days but keeps every source's highest flush_id", async () => {
    const tag = uniqueCampaign("ret-ledger");
    const ago = (d: number) => iso(NOW - d * DAY_MS);
    const rows: [string, number, string][] = [
      // a busy source: old rows go, the recent ones stay
      ...[1, 2, 3, 4, 5].map((id): [string, number, string] => [`shard:${tag}`, id, ago(10)]),
      [`shard:${tag}`, 6, ago(1)],
      [`shard:${tag}`, 7, ago(0)],
      // sources that stopped flushing long ago (a retired shard epoch, an aggregator): their max stays
      ...[1, 2, 3].map((id): [string, number, string] => [`agg:${tag}:0`, id, ago(30)]),
      [`agg:${tag}:1`, 41, ago(400)],
      // within the safe age nothing goes, max or not
      ...[8, 9].map((id): [string, number, string] => [`agg:${tag}:2`, id, ago(6.5)]),
    ];
    const ins = env.DB.prepare("INSERT INTO click_flush_ledger (source, flush_id, flushed_at, cells, clicks) VALUES (?, ?, ?, 1, 1)");
    await env.DB.batch(rows.map(([s, id, at]) => ins.bind(s, id, at)));

    expect(await cron()).toBe("ok");
    const left = await env.DB.prepare("SELECT source, flush_id AS id FROM click_flush_ledger WHERE source LIKE ? ORDER BY source, flush_id")
      .bind(`%${tag}%`)
      .all<{ source: string; id: number }>();
    expect(left.results).toEqual([
      { source: `agg:${tag}:0`, id: 3 },
      { source: `agg:${tag}:1`, id: 41 },
      { source: `agg:${tag}:2`, id: 8 },
      { source: `agg:${tag}:2`, id: 9 },
      { source: `shard:${tag}`, id: 6 },
      { source: `shard:${tag}`, id: 7 },
    ]);
  });
});

describe("metrics across the roll-up boundary", () => {
  let viewer: string;
  const c = uniqueCampaign("ret-metrics");
  const A = TODAY - 40 * DAY_MS;
  const B = TODAY - 37 * DAY_MS;
  const R = TODAY - 2 * DAY_MS;
  const cells = cellsFor(c, [A, B, R]);
  const onDay = (day: number) => sum(cells.filter((x) => x.w >= day && x.w < day + DAY_MS));

  beforeAll(async () => {
    viewer = await tokenFor("viewer");
    await insertCells(cells);
    expect(await cron()).toBe("ok");
  });

  it("answers rolled-up days as whole days, the rest at the asked granularity, with the same total", async () => {
    const r = await api("GET", `/api/v1/clicks/metrics?granularity=hour&campaign_id=${c}&from=${iso(A)}&to=${iso(NOW)}`, { token: viewer });
    expect(r.status).toBe(200);
    const dailyBefore = Date.parse(r.body.daily_before);
    expect(dailyBefore).toBeGreaterThan(B);
    expect(dailyBefore).toBeLessThanOrEqual(ROLLUP_BEFORE);
    const hourly = (day: number) =>
      [0, 3, 13, 23].map((h) => ({ window_start: iso(day + h * H), clicks: sum(cells.filter((x) => x.w >= day + h * H && x.w < day + (h + 1) * H)) }));
    expect(r.body.series).toEqual([{ window_start: iso(A), clicks: onDay(A) }, { window_start: iso(B), clicks: onDay(B) }, ...hourly(R)]);
    expect(r.body.series.reduce((s: number, x: { clicks: number }) => s + x.clicks, 0)).toBe(sum(cells));
  });

  it("widens a range that starts or ends inside a rolled-up day to the whole day, and says so", async () => {
    const r = await api("GET", `/api/v1/clicks/metrics?granularity=minute&group_by=region&campaign_id=${c}&from=${iso(A + 5 * H)}&to=${iso(A + 6 * H)}`, { token: viewer });
    expect(r.status).toBe(200);
    expect(r.body.from).toBe(iso(A));
    expect(r.body.to).toBe(iso(A + DAY_MS));
    const inA = cells.filter((x) => x.w >= A && x.w < A + DAY_MS);
    expect(r.body.series).toEqual(
      ["eu", "na"].map((region) => ({ window_start: iso(A), region, clicks: sum(inA.filter((x) => x.r === region)) })),
    );
  });

  it("top sums minute and daily cells", async () => {
    const r = await api("GET", `/api/v1/clicks/top?by=ad&campaign_id=${c}&from=${iso(A + H)}&to=${iso(NOW)}`, { token: viewer });
    expect(r.status).toBe(200);
    expect(r.body.from).toBe(iso(A));
    const byAd = (ad: string) => sum(cells.filter((x) => x.a === ad));
    const expected = ["a1", "a2", "a3"].map((ad) => ({ campaign_id: c, ad_id: ad, clicks: byAd(ad) })).sort((x, y) => y.clicks - x.clicks || (x.ad_id < y.ad_id ? -1 : 1));
    expect(r.body.items).toEqual(expected);
  });

  it("counts a late minute that lands on a rolled-up day, before and after the next roll-up", async () => {
    const late = uniqueCampaign("ret-late");
    await insertCells(cellsFor(late, [A]));
    expect(await cron()).toBe("ok");
    await insertCells([{ w: A + 7 * H, c: late, a: "a1", r: "eu", n: 1000 }]);
    const total = sum(cellsFor(late, [A])) + 1000;
    const read = async () => {
      const r = await api("GET", `/api/v1/clicks/metrics?granularity=day&campaign_id=${late}&from=${iso(A)}&to=${iso(A + DAY_MS)}`, { token: viewer });
      return r.body.series;
    };
    expect(await read()).toEqual([{ window_start: iso(A), clicks: total }]);
    expect(await cron()).toBe("ok");
    expect(await read()).toEqual([{ window_start: iso(A), clicks: total }]);
    expect((await rowsOf(late)).minutes).toEqual([]);
  });
});
