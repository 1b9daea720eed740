import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { insertCells, type Cell } from "./clicks-helpers";
import { api, tokenFor } from "./helpers";

/**
 * The metrics API against rows written straight into D1 (the pipeline's output tables), so these
 * tests pin the read side alone. Expected answers are computed here from the raw rows.
 */

const D = Date.UTC(2026, 0, 10); // 2026-01-10T00:00:00Z
const M = 60_000;
const H = 3_600_000;

const CELLS: Cell[] = [
  { w: D - M, c: "c1", a: "a1", r: "eu", n: 100 }, // before the range used below
  { w: D + 10 * H, c: "c1", a: "a1", r: "eu", n: 3 },
  { w: D + 10 * H, c: "c1", a: "a2", r: "na", n: 2 },
  { w: D + 10 * H, c: "c2", a: "b1", r: "eu", n: 6 },
  { w: D + 10 * H + M, c: "c1", a: "a1", r: "eu", n: 4 },
  { w: D + 10 * H + 59 * M, c: "c2", a: "b1", r: "eu", n: 5 },
  { w: D + 11 * H, c: "c2", a: "b1", r: "as", n: 7 },
  { w: D + 11 * H, c: "c1", a: "a1", r: "eu", n: 1 },
  { w: D + 23 * H + 59 * M, c: "c1", a: "a1", r: "na", n: 1 },
  { w: D + 24 * H, c: "c1", a: "a1", r: "eu", n: 10 },
  { w: D + 24 * H + 30 * M, c: "c3", a: "z9", r: "oc", n: 2 },
  { w: D + 48 * H, c: "c1", a: "a1", r: "eu", n: 1000 }, // at `to`, excluded (to is exclusive)
];
const FROM = D;
const TO = D + 48 * H;

const GRAN = { minute: M, hour: H, day: 24 * H } as const;
type Gran = keyof typeof GRAN;
const DIMS = ["campaign", "ad", "region"] as const;
type Dim = (typeof DIMS)[number];

/** Reference rollup, written independently of the API: floor to the window, sum per named dims. */
function expected(gran: Gran, groupBy: Dim[], keep: (c: Cell) => boolean = () => true) {
  const sums = new Map<string, { w: number; c?: string; a?: string; r?: string; n: number }>();
  for (const cell of CELLS) {
    if (cell.w < FROM || cell.w >= TO || !keep(cell)) continue;
    const w = Math.floor(cell.w / GRAN[gran]) * GRAN[gran];
    const dims = { c: groupBy.includes("campaign") ? cell.c : undefined, a: groupBy.includes("ad") ? cell.a : undefined, r: groupBy.includes("region") ? cell.r : undefined };
    const key = JSON.stringify([w, dims.c, dims.a, dims.r]);
    const prev = sums.get(key);
    if (prev) prev.n += cell.n;
    else sums.set(key, { w, ...dims, n: cell.n });
  }
  const rows = [...sums.values()].sort((x, y) => x.w - y.w || cmp(x.c, y.c) || cmp(x.a, y.a) || cmp(x.r, y.r));
  return rows.map((x) => ({
    window_start: new Date(x.w).toISOString(),
    ...(x.c !== undefined ? { campaign_id: x.c } : {}),
    ...(x.a !== undefined ? { ad_id: x.a } : {}),
    ...(x.r !== undefined ? { region: x.r } : {}),
    clicks: x.n,
  }));
}

function cmp(a?: string, b?: string): number {
  return a === b ? 0 : (a ?? "") < (b ?? "") ? -1 : 1;
}

function subsets<T>(xs: readonly T[]): T[][] {
  return xs.reduce<T[][]>((acc, x) => acc.concat(acc.map((s) => [...s, x])), [[]]);
}

const iso = (ms: number) => new Date(ms).toISOString();

let viewer: string;

beforeAll(async () => {
  await insertCells(CELLS);
  viewer = await tokenFor("viewer");
});

describe("GET /api/v1/clicks/metrics", () => {
  it("answers minute totals with the documented shape", async () => {
    const r = await api("GET", `/api/v1/clicks/metrics?from=${iso(D + 10 * H)}&to=${iso(D + 10 * H + 2 * M)}`, { token: viewer });
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(r.body).toEqual({
      granularity: "minute",
      from: "2026-01-10T10:00:00.000Z",
      to: "2026-01-10T10:02:00.000Z",
      daily_before: null,
      group_by: [],
      series: [
        { window_start: "2026-01-10T10:00:00.000Z", clicks: 11 },
        { window_start: "2026-01-10T10:01:00.000Z", clicks: 4 },
      ],
    });
  });

  it("rolls hours and days up from minutes (literal expectations)", async () => {
    const hour = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&granularity=hour&group_by=campaign`, { token: viewer });
    expect(hour.body.series).toEqual([
      { window_start: "2026-01-10T10:00:00.000Z", campaign_id: "c1", clicks: 9 },
      { window_start: "2026-01-10T10:00:00.000Z", campaign_id: "c2", clicks: 11 },
      { window_start: "2026-01-10T11:00:00.000Z", campaign_id: "c1", clicks: 1 },
      { window_start: "2026-01-10T11:00:00.000Z", campaign_id: "c2", clicks: 7 },
      { window_start: "2026-01-10T23:00:00.000Z", campaign_id: "c1", clicks: 1 },
      { window_start: "2026-01-11T00:00:00.000Z", campaign_id: "c1", clicks: 10 },
      { window_start: "2026-01-11T00:00:00.000Z", campaign_id: "c3", clicks: 2 },
    ]);
    const day = await api("GET", `/api/v1/clicks/metrics?from=${iso(FROM)}&to=${iso(TO)}&granularity=day`, { token: viewer });
    expect(day.body.series).toEqual([
      { window_start: "2026-01-10T00:00:00.000Z", clicks: 29 },
      { window_start: "2026-01-11T00:00:00.000Z", clicks: 12 },
    ]);
  });

  it("agrees with the reference rollup for every granularity and every group_by subset", async () => {
    for (const gran of ["minute", "hour", "day"] as const) {
      for (const groupBy of subsets(DIMS)) {
        const path = `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&granularity=${gran}&group_by=${groupBy.join(",")}`;
        const r = await api("GET", path, { token: viewer });
        expect(r.status, path).toBe(200);
        expect(r.body.group_by).toEqual(groupBy);
        expect(r.body.series, path).toEqual(expected(gran, groupBy));
        // Only the named dimensions are present, in every row.
        const keys = ["window_start", ...(groupBy.includes("campaign") ? ["campaign_id"] : []), ...(groupBy.includes("ad") ? ["ad_id"] : []), ...(groupBy.includes("region") ? ["region"] : []), "clicks"];
        for (const row of r.body.series) expect(Object.keys(row).sort()).toEqual(keys.sort());
      }
    }
  });

  it("orders dimensions canonically whatever order group_by names them in", async () => {
    const a = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&group_by=region,ad,campaign`, { token: viewer });
    const b = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&group_by=campaign,ad,region`, { token: viewer });
    expect(a.body).toEqual(b.body);
    expect(a.body.group_by).toEqual(["campaign", "ad", "region"]);
  });

  it("filters by campaign, ad and region (one value or repeated)", async () => {
    const one = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&granularity=day&campaign_id=c2`, { token: viewer });
    expect(one.body.series).toEqual(expected("day", [], (c) => c.c === "c2"));
    expect(one.body.series).toEqual([{ window_start: "2026-01-10T00:00:00.000Z", clicks: 18 }]);
    const two = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&granularity=hour&group_by=ad&campaign_id=c1&campaign_id=c3&region=EU`, { token: viewer });
    expect(two.body.series).toEqual(expected("hour", ["ad"], (c) => (c.c === "c1" || c.c === "c3") && c.r === "eu"));
    const ad = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&granularity=minute&group_by=region&ad_id=b1`, { token: viewer });
    expect(ad.body.series).toEqual(expected("minute", ["region"], (c) => c.a === "b1"));
    const none = await api("GET", `/api/v1/clicks/metrics?from=${FROM}&to=${TO}&campaign_id=nope`, { token: viewer });
    expect(none.body.series).toEqual([]);
  });

  it("treats to as exclusive and aligns the range outward to whole windows", async () => {
    const r = await api("GET", `/api/v1/clicks/metrics?from=${iso(D + 10 * H + 30 * M)}&to=${iso(D + 11 * H + 1)}&granularity=hour`, { token: viewer });
    expect(r.body.from).toBe("2026-01-10T10:00:00.000Z");
    expect(r.body.to).toBe("2026-01-10T12:00:00.000Z");
    expect(r.body.series).toEqual([
      { window_start: "2026-01-10T10:00:00.000Z", clicks: 20 },
      { window_start: "2026-01-10T11:00:00.000Z", clicks: 8 },
    ]);
    const excl = await api("GET", `/api/v1/clicks/metrics?from=${D + 11 * H}&to=${D + 11 * H + M}`, { token: viewer });
    expect(excl.body.series).toEqual([{ window_start: "2026-01-10T11:00:00.000Z", clicks: 8 }]);
    const before = await api("GET", `/api/v1/clicks/metrics?from=${D + 10 * H}&to=${D + 11 * H}&granularity=hour`, { token: viewer });
    expect(before.body.series).toEqual([{ window_start: "2026-01-10T10:00:00.000Z", clicks: 20 }]);
  });

  it("accepts RFC 3339 with offsets (including '+' sent unencoded) and epoch ms alike", async () => {
    const a = await api("GET", `/api/v1/clicks/metrics?from=2026-01-10T12:00:00+02:00&to=2026-01-10T13:00:00%2B02:00&group_by=ad`, { token: viewer });
    const b = await api("GET", `/api/v1/clicks/metrics?from=${D + 10 * H}&to=${D + 11 * H}&group_by=ad`, { token: viewer });
    expect(a.status).toBe(200);
    expect(a.body).toEqual(b.body);
  });

  it("defaults to the last hour ending now", async () => {
    const r = await api("GET", "/api/v1/clicks/metrics", { token: viewer });
    expect(r.status).toBe(200);
    const from = Date.parse(r.body.from);
    const to = Date.parse(r.body.to);
    // The last hour, plus the current (partial) minute unless now is exactly on a boundary.
    expect([60 * M, 61 * M]).toContain(to - from);
    expect(to % M).toBe(0);
    expect(to).toBeGreaterThan(Date.now() - 2 * M);
  });

  it("rejects bad parameters with invalid_query naming each one", async () => {
    const cases: [string, string[]][] = [
      ["granularity=week", ["granularity"]],
      ["group_by=campaign,country", ["group_by"]],
      ["from=yesterday", ["from"]],
      ["to=2026-02-30T00:00:00Z", ["to"]],
      ["from=1&from=2", ["from"]],
      ["campaign_id=", ["campaign_id"]],
      [`ad_id=${"x".repeat(65)}`, ["ad_id"]],
      ["limit=5", ["limit"]],
      ["granularity=hour&group_by=ads&bogus=1", ["bogus", "group_by"]],
      [`from=${D + H}&to=${D}`, ["from"]],
      [`from=${D}&to=${D}`, ["from"]],
    ];
    for (const [qs, params] of cases) {
      const r = await api("GET", `/api/v1/clicks/metrics?${qs}`, { token: viewer });
      expect(r.status, qs).toBe(400);
      expect(r.body.error.code, qs).toBe("invalid_query");
      expect(r.body.error.details.map((d: { param: string }) => d.param).sort(), qs).toEqual(params);
    }
  });

  it("refuses ranges with too many windows", async () => {
    const r = await api("GET", `/api/v1/clicks/metrics?from=${D}&to=${D + 8 * 24 * H}&granularity=minute`, { token: viewer });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("range_too_large");
    expect(r.body.error.details).toMatchObject({ granularity: "minute", windows: 8 * 1440, max_windows: 10_080 });
    const ok = await api("GET", `/api/v1/clicks/metrics?from=${D}&to=${D + 8 * 24 * H}&granularity=hour`, { token: viewer });
    expect(ok.status).toBe(200);
  });

  it("refuses answers with too many series rows", async () => {
    const base = Date.UTC(2025, 5, 1);
    await env.DB.prepare(
      `WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 10000)
       INSERT INTO click_counts (window_start, campaign_id, ad_id, region, clicks) SELECT ? + x * 60000, 'bulk', 'ad', 'eu', 1 FROM n`,
    )
      .bind(base)
      .run();
    const span = `from=${base}&to=${base + 10_001 * M}`;
    const r = await api("GET", `/api/v1/clicks/metrics?${span}`, { token: viewer });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("too_many_rows");
    expect(r.body.error.details).toMatchObject({ max_rows: 10_000 });
    const exact = await api("GET", `/api/v1/clicks/metrics?from=${base}&to=${base + 10_000 * M}`, { token: viewer });
    expect(exact.status).toBe(200);
    expect(exact.body.series).toHaveLength(10_000);
    const hourly = await api("GET", `/api/v1/clicks/metrics?${span}&granularity=day`, { token: viewer });
    expect(hourly.status).toBe(200);
    expect(hourly.body.series.reduce((s: number, x: { clicks: number }) => s + x.clicks, 0)).toBe(10_001);
  });
});

describe("GET /api/v1/clicks/top", () => {
  it("ranks campaigns by clicks, ties by id", async () => {
    const r = await api("GET", `/api/v1/clicks/top?from=${FROM}&to=${TO}`, { token: viewer });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      by: "campaign",
      from: iso(FROM),
      to: iso(TO),
      daily_before: null,
      items: [
        { campaign_id: "c1", clicks: 21 },
        { campaign_id: "c2", clicks: 18 },
        { campaign_id: "c3", clicks: 2 },
      ],
    });
  });

  it("ranks ads with their campaign, honours limit and filters", async () => {
    const r = await api("GET", `/api/v1/clicks/top?by=ad&from=${FROM}&to=${TO}&limit=2`, { token: viewer });
    expect(r.body.items).toEqual([
      { campaign_id: "c1", ad_id: "a1", clicks: 19 },
      { campaign_id: "c2", ad_id: "b1", clicks: 18 },
    ]);
    const eu = await api("GET", `/api/v1/clicks/top?by=ad&from=${FROM}&to=${TO}&region=eu&campaign_id=c1`, { token: viewer });
    expect(eu.body.items).toEqual([{ campaign_id: "c1", ad_id: "a1", clicks: 18 }]);
  });

  it("breaks ties by id", async () => {
    const r = await api("GET", `/api/v1/clicks/top?by=ad&from=${D + 10 * H}&to=${D + 10 * H + M}`, { token: viewer });
    expect(r.body.items).toEqual([
      { campaign_id: "c2", ad_id: "b1", clicks: 6 },
      { campaign_id: "c1", ad_id: "a1", clicks: 3 },
      { campaign_id: "c1", ad_id: "a2", clicks: 2 },
    ]);
    const t = await api("GET", `/api/v1/clicks/top?from=${D + 11 * H}&to=${D + 24 * H}`, { token: viewer });
    expect(t.body.items).toEqual([
      { campaign_id: "c2", clicks: 7 },
      { campaign_id: "c1", clicks: 2 },
    ]);
  });

  it("rejects bad parameters", async () => {
    for (const qs of ["by=region", "limit=0", "limit=101", "limit=x", "granularity=hour", `from=${TO}&to=${FROM}`]) {
      const r = await api("GET", `/api/v1/clicks/top?${qs}`, { token: viewer });
      expect(r.status, qs).toBe(400);
      expect(r.body.error.code, qs).toBe("invalid_query");
    }
    const big = await api("GET", `/api/v1/clicks/top?from=0&to=${TO}`, { token: viewer });
    expect(big.status).toBe(400);
    expect(big.body.error.code).toBe("range_too_large");
  });
});

describe("GET /api/v1/clicks/ingest-stats", () => {
  it("sums every source per minute and totals the range", async () => {
    const w = Date.UTC(2026, 2, 1, 8, 0);
    const stmt = env.DB.prepare("INSERT INTO ingest_stats (window_start, source, accepted, duplicates, too_late, future, invalid) VALUES (?, ?, ?, ?, ?, ?, ?)");
    await env.DB.batch([
      stmt.bind(w, "shard:0", 10, 1, 0, 0, 2),
      stmt.bind(w, "shard:1", 5, 0, 3, 1, 0),
      stmt.bind(w + 2 * M, "shard:0", 7, 2, 0, 0, 0),
      stmt.bind(w + 90 * M, "shard:0", 1, 0, 0, 0, 0),
    ]);
    const r = await api("GET", `/api/v1/clicks/ingest-stats?from=${w}&to=${w + H}`, { token: viewer });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      granularity: "minute",
      from: iso(w),
      to: iso(w + H),
      totals: { accepted: 22, duplicates: 3, too_late: 3, future: 1, invalid: 2 },
      series: [
        { window_start: iso(w), accepted: 15, duplicates: 1, too_late: 3, future: 1, invalid: 2 },
        { window_start: iso(w + 2 * M), accepted: 7, duplicates: 2, too_late: 0, future: 0, invalid: 0 },
      ],
    });
    const hourly = await api("GET", `/api/v1/clicks/ingest-stats?from=${w}&to=${w + 2 * H}&granularity=hour`, { token: viewer });
    expect(hourly.body.series).toEqual([
      { window_start: iso(w), accepted: 22, duplicates: 3, too_late: 3, future: 1, invalid: 2 },
      { window_start: iso(w + H), accepted: 1, duplicates: 0, too_late: 0, future: 0, invalid: 0 },
    ]);
  });

  it("rejects bad parameters", async () => {
    for (const qs of ["from=soon", "group_by=campaign", "granularity=second", "campaign_id=c1"]) {
      const r = await api("GET", `/api/v1/clicks/ingest-stats?${qs}`, { token: viewer });
      expect(r.status, qs).toBe(400);
      expect(r.body.error.code, qs).toBe("invalid_query");
    }
  });
});

describe("metrics auth", () => {
  it("401 without or with a bad token, 403 for a reader, 200 for viewer, publisher and admin", async () => {
    const reader = await tokenFor("reader");
    const publisher = await tokenFor("publisher", ["checkout"]);
    for (const path of ["/api/v1/clicks/metrics", "/api/v1/clicks/top", "/api/v1/clicks/ingest-stats"]) {
      expect((await api("GET", path, { token: null })).status, path).toBe(401);
      expect((await api("GET", path, { token: "nope" })).status, path).toBe(401);
      const f = await api("GET", path, { token: reader });
      expect(f.status, path).toBe(403);
      expect(f.body.error.code).toBe("forbidden");
      expect((await api("GET", path, { token: viewer })).status, path).toBe(200);
      expect((await api("GET", path, { token: publisher })).status, path).toBe(200);
      expect((await api("GET", path)).status, path).toBe(200);
    }
  });
});
