import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ApiError } from "../../lib/errors";
import {
  IngestStatsQuery,
  MAX_FILTER_VALUES,
  MAX_WINDOWS,
  MetricsQuery,
  TopQuery,
  parseInstant,
  parseQuery,
  resolveRange,
  type QueryParams,
} from "../../lib/clicks/metrics-query";
import { DAY_MS, HOUR_MS, MINUTE_MS, alignRange, windowCeil, windowCount, windowStart } from "../../lib/clicks/metrics-window";

const T0 = Date.UTC(2026, 10, 25, 13, 37, 42, 123); // 2026-11-25T13:37:42.123Z

function q(params: Record<string, string | string[]>): QueryParams {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Array.isArray(v) ? v : [v]]));
}

function errorOf(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error("expected an ApiError");
}

function badParams(fn: () => unknown): string[] {
  const e = errorOf(fn);
  expect(e.status).toBe(400);
  expect(e.code).toBe("invalid_query");
  return (e.details as { param: string }[]).map((d) => d.param).sort();
}

describe("window arithmetic", () => {
  it("floors to UTC minute, hour and day", () => {
    expect(windowStart(T0, "minute")).toBe(Date.UTC(2026, 10, 25, 13, 37));
    expect(windowStart(T0, "hour")).toBe(Date.UTC(2026, 10, 25, 13));
    expect(windowStart(T0, "day")).toBe(Date.UTC(2026, 10, 25));
    expect(windowStart(Date.UTC(2026, 10, 25), "day")).toBe(Date.UTC(2026, 10, 25));
  });

  it("ceils to the next boundary unless already on one", () => {
    expect(windowCeil(T0, "minute")).toBe(Date.UTC(2026, 10, 25, 13, 38));
    expect(windowCeil(T0, "hour")).toBe(Date.UTC(2026, 10, 25, 14));
    expect(windowCeil(T0, "day")).toBe(Date.UTC(2026, 10, 26));
    expect(windowCeil(Date.UTC(2026, 10, 25, 14), "hour")).toBe(Date.UTC(2026, 10, 25, 14));
  });

  it("aligns ranges outward and counts windows", () => {
    const r = alignRange(Date.UTC(2026, 0, 1, 10, 30), Date.UTC(2026, 0, 1, 11, 30), "hour");
    expect(r).toEqual({ from: Date.UTC(2026, 0, 1, 10), to: Date.UTC(2026, 0, 1, 12) });
    expect(windowCount(r.from, r.to, "hour")).toBe(2);
    expect(windowCount(r.from, r.to, "minute")).toBe(120);
    expect(windowCount(Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 31), "day")).toBe(30);
  });

  it("every minute of an hour or day rolls up into it (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), (ms) => {
        const minute = windowStart(ms, "minute");
        const hour = windowStart(ms, "hour");
        const day = windowStart(ms, "day");
        expect(windowStart(minute, "hour")).toBe(hour);
        expect(windowStart(hour, "day")).toBe(day);
        expect(ms - minute).toBeLessThan(MINUTE_MS);
        expect(ms - hour).toBeLessThan(HOUR_MS);
        expect(ms - day).toBeLessThan(DAY_MS);
        expect(new Date(day).toISOString().endsWith("T00:00:00.000Z")).toBe(true);
        expect(new Date(hour).toISOString().slice(14)).toBe("00:00.000Z");
      }),
    );
  });
});

describe("instants", () => {
  it("reads RFC 3339 with any offset and epoch milliseconds", () => {
    expect(parseInstant("2026-11-25T13:37:42.123Z")).toBe(T0);
    expect(parseInstant("2026-11-25t13:37:42.123z")).toBe(T0);
    expect(parseInstant("2026-11-25T15:37:42.123+02:00")).toBe(T0);
    expect(parseInstant("2026-11-25T15:37:42.123 02:00")).toBe(T0); // '+' decoded as a space
    expect(parseInstant("2026-11-25T13:07:42.123-00:30")).toBe(T0);
    expect(parseInstant("2026-11-25T13:37:42.123456789Z")).toBe(T0);
    expect(parseInstant("2026-11-25T13:37:42Z")).toBe(T0 - 123);
    expect(parseInstant(String(T0))).toBe(T0);
    expect(parseInstant("0")).toBe(0);
    expect(parseInstant("2024-02-29T00:00:00Z")).toBe(Date.UTC(2024, 1, 29));
  });

  it("refuses everything else", () => {
    for (const s of [
      "",
      "now",
      "-1",
      "1.5",
      "1e12",
      " 1700000000000",
      "99999999999999999",
      "2026-02-30T00:00:00Z",
      "2025-02-29T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-11-25T24:00:00Z",
      "2026-11-25T13:60:00Z",
      "2026-11-25T13:37:60Z",
      "2026-11-25T13:37:42",
      "2026-11-25",
      "2026-11-25T13:37Z",
      "2026-11-25T13:37:42+2:00",
      "2026-11-25T13:37:42+24:00",
      "1969-12-31T23:59:59Z",
      "9999-12-31T00:00:00Z",
    ]) {
      expect(parseInstant(s), s).toBeNull();
    }
  });
});

describe("metrics query parsing", () => {
  it("parses a full query", () => {
    const r = parseQuery(
      MetricsQuery,
      q({
        from: "2026-11-25T00:00:00Z",
        to: String(T0),
        granularity: "hour",
        group_by: "region, campaign",
        campaign_id: ["c1", "c2", "c1"],
        ad_id: "a1",
        region: "EU",
      }),
    );
    expect(r).toEqual({
      from: Date.UTC(2026, 10, 25),
      to: T0,
      granularity: "hour",
      group_by: ["campaign", "region"],
      campaign_id: ["c1", "c2"],
      ad_id: ["a1"],
      region: ["eu"],
    });
  });

  it("accepts dimension aliases and an empty group_by", () => {
    expect(parseQuery(MetricsQuery, q({ group_by: "ad_id,campaign_id,ad" })).group_by).toEqual(["campaign", "ad"]);
    expect(parseQuery(MetricsQuery, q({ group_by: "" })).group_by).toEqual([]);
    expect(parseQuery(MetricsQuery, q({}))).toEqual({});
  });

  it("names every bad parameter at once", () => {
    expect(
      badParams(() =>
        parseQuery(
          MetricsQuery,
          q({ from: "yesterday", to: "2026-02-30T00:00:00Z", granularity: "week", group_by: "campaign,country", bogus: "1" }),
        ),
      ),
    ).toEqual(["bogus", "from", "granularity", "group_by", "to"]);
  });

  it("refuses each kind of bad value", () => {
    expect(badParams(() => parseQuery(MetricsQuery, q({ from: ["1", "2"] })))).toEqual(["from"]);
    expect(badParams(() => parseQuery(MetricsQuery, q({ granularity: "" })))).toEqual(["granularity"]);
    expect(badParams(() => parseQuery(MetricsQuery, q({ granularity: "HOUR" })))).toEqual(["granularity"]);
    expect(badParams(() => parseQuery(MetricsQuery, q({ group_by: "campaign,,ad" })))).toEqual(["group_by"]);
    expect(badParams(() => parseQuery(MetricsQuery, q({ campaign_id: "" })))).toEqual(["campaign_id"]);
    expect(badParams(() => parseQuery(MetricsQuery, q({ ad_id: "x".repeat(65) })))).toEqual(["ad_id"]);
    const many = Array.from({ length: MAX_FILTER_VALUES + 1 }, (_, i) => `r${i}`);
    expect(badParams(() => parseQuery(MetricsQuery, q({ region: many })))).toEqual(["region"]);
    const e = errorOf(() => parseQuery(MetricsQuery, q({ group_by: "country" })));
    expect(JSON.stringify(e.details)).toContain("country");
    expect(JSON.stringify(e.details)).toContain("campaign, ad, region");
  });

  it("parses top and ingest-stats queries", () => {
    expect(parseQuery(TopQuery, q({ by: "ad", limit: "25" }))).toEqual({ by: "ad", limit: 25 });
    expect(parseQuery(TopQuery, q({ by: "campaign_id" }))).toEqual({ by: "campaign" });
    for (const limit of ["0", "101", "-1", "1.5", "ten", "", "1e2"]) {
      expect(badParams(() => parseQuery(TopQuery, q({ limit }))), limit).toEqual(["limit"]);
    }
    expect(badParams(() => parseQuery(TopQuery, q({ by: "region" })))).toEqual(["by"]);
    expect(badParams(() => parseQuery(TopQuery, q({ granularity: "hour" })))).toEqual(["granularity"]);
    expect(parseQuery(IngestStatsQuery, q({ granularity: "day" }))).toEqual({ granularity: "day" });
    expect(badParams(() => parseQuery(IngestStatsQuery, q({ group_by: "campaign" })))).toEqual(["group_by"]);
  });
});

describe("range resolution", () => {
  it("aligns outward to the granularity", () => {
    expect(resolveRange({ from: T0 - 5 * MINUTE_MS, to: T0 }, "minute", T0)).toEqual({
      from: Date.UTC(2026, 10, 25, 13, 32),
      to: Date.UTC(2026, 10, 25, 13, 38),
    });
    expect(resolveRange({ from: T0 - 1, to: T0 }, "day", T0)).toEqual({ from: Date.UTC(2026, 10, 25), to: Date.UTC(2026, 10, 26) });
  });

  it("defaults to the last hour / day / week ending now", () => {
    expect(resolveRange({}, "minute", T0)).toEqual({ from: Date.UTC(2026, 10, 25, 12, 37), to: Date.UTC(2026, 10, 25, 13, 38) });
    expect(resolveRange({}, "hour", T0)).toEqual({ from: Date.UTC(2026, 10, 24, 13), to: Date.UTC(2026, 10, 25, 14) });
    expect(resolveRange({}, "day", T0)).toEqual({ from: Date.UTC(2026, 10, 18), to: Date.UTC(2026, 10, 26) });
    expect(resolveRange({ to: Date.UTC(2026, 0, 1) }, "minute", T0)).toEqual({ from: Date.UTC(2025, 11, 31, 23), to: Date.UTC(2026, 0, 1) });
    expect(resolveRange({ from: Date.UTC(2026, 10, 25, 13) }, "minute", T0).to).toBe(Date.UTC(2026, 10, 25, 13, 38));
  });

  it("requires from < to", () => {
    expect(badParams(() => resolveRange({ from: T0, to: T0 }, "minute", T0))).toEqual(["from"]);
    expect(badParams(() => resolveRange({ from: T0 + 1, to: T0 }, "hour", T0))).toEqual(["from"]);
    expect(badParams(() => resolveRange({ from: T0 + HOUR_MS }, "minute", T0))).toEqual(["from"]);
  });

  it("bounds the number of windows", () => {
    const from = Date.UTC(2026, 0, 1);
    expect(resolveRange({ from, to: from + MAX_WINDOWS * MINUTE_MS }, "minute", T0).to).toBe(from + MAX_WINDOWS * MINUTE_MS);
    const e = errorOf(() => resolveRange({ from, to: from + MAX_WINDOWS * MINUTE_MS + 1 }, "minute", T0));
    expect(e.status).toBe(400);
    expect(e.code).toBe("range_too_large");
    expect(e.details).toMatchObject({ granularity: "minute", windows: MAX_WINDOWS + 1, max_windows: MAX_WINDOWS });
    // The same span is fine at a coarser granularity.
    expect(resolveRange({ from, to: from + (MAX_WINDOWS + 1) * MINUTE_MS }, "hour", T0).from).toBe(from);
    expect(errorOf(() => resolveRange({ from: 0, to: T0 }, "day", T0, 100)).code).toBe("range_too_large");
  });
});
