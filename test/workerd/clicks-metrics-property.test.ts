import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { insertCells, type Cell } from "./clicks-helpers";
import { api } from "./helpers";

/**
 * Property: for random minute cells in D1 and random queries (range, granularity, group_by, filters),
 * the metrics API equals a reference written here from first principles (align outward, floor, sum, sort).
 */

const M = 60_000;
const SIZE = { minute: M, hour: 3_600_000, day: 86_400_000 } as const;
const BASE = Date.UTC(2026, 4, 30, 20); // spans a day boundary
const SPAN = 3 * 86_400_000;
const CAMPAIGNS = ["a", "b", "c,d", "é"];
const ADS = ["x", "y"];
const REGIONS = ["eu", "na", "as"];

const cellArb = fc.record({
  w: fc.integer({ min: 0, max: SPAN / M - 1 }).map((i) => BASE + i * M),
  c: fc.constantFrom(...CAMPAIGNS),
  a: fc.constantFrom(...ADS),
  r: fc.constantFrom(...REGIONS),
  n: fc.integer({ min: 1, max: 50 }),
});

const queryArb = fc.record({
  from: fc.integer({ min: BASE - 3_600_000, max: BASE + SPAN }),
  // At most 4 days: within the 10 080-window limit even per minute.
  len: fc.integer({ min: 1, max: 4 * 86_400_000 }),
  granularity: fc.constantFrom("minute", "hour", "day") as fc.Arbitrary<keyof typeof SIZE>,
  groupBy: fc.subarray(["campaign", "ad", "region"] as const),
  campaigns: fc.subarray(CAMPAIGNS),
  regions: fc.subarray(REGIONS, { maxLength: 2 }),
});

type Query = typeof queryArb extends fc.Arbitrary<infer T> ? T : never;

function reference(cells: Cell[], q: Query) {
  const size = SIZE[q.granularity];
  const from = Math.floor(q.from / size) * size;
  const to = Math.ceil((q.from + q.len) / size) * size;
  const sums = new Map<string, { w: number; c?: string; a?: string; r?: string; n: number }>();
  for (const cell of cells) {
    if (cell.w < from || cell.w >= to) continue;
    if (q.campaigns.length && !q.campaigns.includes(cell.c)) continue;
    if (q.regions.length && !q.regions.includes(cell.r)) continue;
    const w = Math.floor(cell.w / size) * size;
    const c = q.groupBy.includes("campaign") ? cell.c : undefined;
    const a = q.groupBy.includes("ad") ? cell.a : undefined;
    const r = q.groupBy.includes("region") ? cell.r : undefined;
    const key = JSON.stringify([w, c, a, r]);
    const prev = sums.get(key);
    if (prev) prev.n += cell.n;
    else sums.set(key, { w, c, a, r, n: cell.n });
  }
  const cmp = (x?: string, y?: string) => (x === y ? 0 : (x ?? "") < (y ?? "") ? -1 : 1);
  const series = [...sums.values()]
    .sort((x, y) => x.w - y.w || cmp(x.c, y.c) || cmp(x.a, y.a) || cmp(x.r, y.r))
    .map((x) => ({
      window_start: new Date(x.w).toISOString(),
      ...(x.c !== undefined ? { campaign_id: x.c } : {}),
      ...(x.a !== undefined ? { ad_id: x.a } : {}),
      ...(x.r !== undefined ? { region: x.r } : {}),
      clicks: x.n,
    }));
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), series };
}

/** Distinct primary keys, as the pipeline's additive upserts would leave them. */
function merge(cells: Cell[]): Cell[] {
  const m = new Map<string, Cell>();
  for (const c of cells) {
    const k = JSON.stringify([c.w, c.c, c.a, c.r]);
    const prev = m.get(k);
    if (prev) prev.n += c.n;
    else m.set(k, { ...c });
  }
  return [...m.values()];
}

describe("metrics rollup property", () => {
  it("equals the reference for random data and queries", { timeout: 120_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cellArb, { minLength: 0, maxLength: 60 }), fc.array(queryArb, { minLength: 1, maxLength: 4 }), async (raw, queries) => {
        const cells = merge(raw);
        await env.DB.prepare("DELETE FROM click_counts").run();
        await insertCells(cells);
        for (const q of queries) {
          const params = new URLSearchParams({ from: String(q.from), to: new Date(q.from + q.len).toISOString(), granularity: q.granularity, group_by: q.groupBy.join(",") });
          for (const c of q.campaigns) params.append("campaign_id", c);
          for (const r of q.regions) params.append("region", r);
          const res = await api("GET", `/api/v1/clicks/metrics?${params}`);
          const want = reference(cells, q);
          expect(res.status).toBe(200);
          expect({ from: res.body.from, to: res.body.to, series: res.body.series }).toEqual(want);
        }
      }),
      { numRuns: 40 },
    );
  });
});
