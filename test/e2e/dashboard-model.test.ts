import { describe, expect, it } from "vitest";
import * as M from "../../dashboard/model.ts";

/** The dashboard's pure data logic (dashboard/model.ts), run in Node without a browser. */

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

describe("time ranges", () => {
  it("presets end at the end of the open minute and span exactly the preset", () => {
    const now = T0 + 17 * MIN + 42_000;
    const r = M.presetRange("15m", now);
    expect(r).toEqual({ from: T0 + 3 * MIN, to: T0 + 18 * MIN, live: true });
    expect(M.presetRange("24h", now).to - M.presetRange("24h", now).from).toBe(24 * 60 * MIN);
    // Unknown preset → one hour.
    expect(M.presetRange("bogus", now).to - M.presetRange("bogus", now).from).toBe(60 * MIN);
  });

  it("custom ranges align outward to minutes and refuse empty or inverted ones", () => {
    expect(M.customRange(T0 + 30_000, T0 + 90_000)).toEqual({ from: T0, to: T0 + 2 * MIN, live: false });
    expect(M.customRange(T0 + 2 * MIN, T0)).toBeNull();
    expect(M.customRange(T0, T0)).toBeNull();
    expect(M.customRange(NaN, T0)).toBeNull();
  });

  it("chooses the granularity by span", () => {
    expect(M.granularityFor(60 * MIN)).toBe("minute");
    expect(M.granularityFor(24 * 60 * MIN)).toBe("minute");
    expect(M.granularityFor(24 * 60 * MIN, 6 * 60 * MIN)).toBe("hour");
    expect(M.granularityFor(30 * 24 * 60 * MIN)).toBe("day");
  });

  it("lists the window starts of a range", () => {
    expect(M.windowStarts(T0, T0 + 3 * MIN, "minute")).toEqual([T0, T0 + MIN, T0 + 2 * MIN]);
    expect(M.windowStarts(T0 + 30 * MIN, T0 + 150 * MIN, "hour")).toEqual([T0, T0 + 60 * MIN, T0 + 120 * MIN]);
  });
});

describe("series shaping", () => {
  const iso = (ms: number) => new Date(ms).toISOString();
  const rows = [
    { window_start: iso(T0), campaign_id: "a", clicks: 5 },
    { window_start: iso(T0), campaign_id: "b", clicks: 2 },
    { window_start: iso(T0 + MIN), campaign_id: "a", clicks: 1 },
    { window_start: iso(T0 + MIN), campaign_id: "c", clicks: 9 },
  ];

  it("sums per window and per dimension, biggest first", () => {
    expect([...M.sumByWindow(rows)]).toEqual([
      [T0, 7],
      [T0 + MIN, 10],
    ]);
    expect(M.totalsBy(rows, "campaign_id")).toEqual([
      { key: "c", clicks: 9 },
      { key: "a", clicks: 6 },
      { key: "b", clicks: 2 },
    ]);
  });

  it("lays out the chosen keys per window, rolls windows up, and stacks them", () => {
    const values = M.valuesFor(rows, "campaign_id", ["c", "a"], [T0, T0 + MIN]);
    expect(values).toEqual([
      [0, 9],
      [5, 1],
    ]);
    expect(M.stack([...values, [2, 0]])).toEqual([
      [0, 9],
      [5, 10],
      [7, 10],
    ]);
    expect([...M.rollup(M.sumByWindow(rows), 60 * MIN)]).toEqual([[T0, 17]]);
  });

  it("totals the ingest statistics with rejected = invalid + future", () => {
    const t = M.ingestTotals([
      { accepted: 10, duplicates: 1, too_late: 2, future: 3, invalid: 4 },
      { accepted: 5, duplicates: 0, too_late: 0, future: 1, invalid: 0 },
    ]);
    expect(t).toEqual({ accepted: 15, duplicates: 1, too_late: 2, future: 4, invalid: 4, rejected: 8 });
  });

  it("computes events per second over the trailing minute(s)", () => {
    const now = T0 + 2 * MIN + 30_000; // 30 s into the minute T0+2
    const stats = [
      { window_start: iso(T0), accepted: 6000 }, // too old
      { window_start: iso(T0 + MIN), accepted: 600 },
      { window_start: iso(T0 + 2 * MIN), accepted: 300 },
    ];
    // Minutes T0+1 (60 s) and T0+2 (30 s so far): 900 events over 90 s.
    expect(M.eventsPerSecond(stats, now)).toBe(10);
  });
});

describe("late corrections", () => {
  const step = MIN;
  const fetchedAt = T0 + 10 * MIN + 5_000;

  it("flags closed windows whose count changed, not the open or just-closed ones", () => {
    const prev = new Map([
      [T0, 10],
      [T0 + 5 * MIN, 3],
      [T0 + 9 * MIN, 4], // ended 5 s before the previous refresh: still settling
      [T0 + 10 * MIN, 1], // open
    ]);
    const next = new Map([
      [T0, 12],
      [T0 + 2 * MIN, 1], // a first late click into an empty, closed minute
      [T0 + 5 * MIN, 3],
      [T0 + 9 * MIN, 6],
      [T0 + 10 * MIN, 8],
    ]);
    expect(M.detectRevisions(prev, fetchedAt, next, step)).toEqual([
      { window: T0, before: 10, after: 12 },
      { window: T0 + 2 * MIN, before: 0, after: 1 },
    ]);
  });

  it("finds nothing on the first refresh or when nothing changed", () => {
    const m = new Map([[T0, 1]]);
    expect(M.detectRevisions(null, NaN, m, step)).toEqual([]);
    expect(M.detectRevisions(m, fetchedAt, new Map(m), step)).toEqual([]);
  });

  it("keeps the newest detections first, bounded", () => {
    let list: ReturnType<typeof M.mergeRevisions> = [];
    list = M.mergeRevisions(list, [{ window: 1, before: 0, after: 1 }, { window: 2, before: 0, after: 1 }], 100, 3);
    list = M.mergeRevisions(list, [{ window: 3, before: 1, after: 2 }, { window: 4, before: 1, after: 2 }], 200, 3);
    expect(list.map((r) => r.window)).toEqual([4, 3, 2]);
  });
});

describe("stage timer", () => {
  it("counts down to next_advance_at, else stage start + bake", () => {
    expect(M.stageRemainingMs({ next_advance_at: new Date(T0 + 90_000).toISOString() }, T0)).toBe(90_000);
    const r = { stage_index: 1, stages: [{ bake_seconds: 10 }, { bake_seconds: 60 }], stage_started_at: new Date(T0).toISOString(), next_advance_at: null };
    expect(M.stageRemainingMs(r, T0 + 15_000)).toBe(45_000);
    expect(M.stageRemainingMs({ state: "completed" }, T0)).toBeNull();
  });
});
