import { describe, expect, it } from "vitest";
import { DAY_MS, withDailyZone } from "../../lib/clicks/metrics-window";
import { DEFAULT_DAILY_DAYS, DEFAULT_MINUTE_DAYS, LEDGER_SAFE_AGE_MS, cutoffs, retentionSettings } from "../../lib/clicks/retention";
import { failure, outcomeOf, success, unwrap } from "../../lib/outcome";
import { ApiError } from "../../lib/errors";

describe("retention settings and cut-offs", () => {
  it("reads the vars, with defaults for missing or malformed ones and floors that keep data safe", () => {
    expect(retentionSettings({})).toEqual({ minuteDays: DEFAULT_MINUTE_DAYS, dailyDays: DEFAULT_DAILY_DAYS });
    expect(retentionSettings({ CLICK_MINUTE_RETENTION_DAYS: "7", CLICK_DAILY_RETENTION_DAYS: "90" })).toEqual({ minuteDays: 7, dailyDays: 90 });
    expect(retentionSettings({ CLICK_MINUTE_RETENTION_DAYS: "soon", CLICK_DAILY_RETENTION_DAYS: "" })).toEqual({ minuteDays: DEFAULT_MINUTE_DAYS, dailyDays: DEFAULT_DAILY_DAYS });
    // never below one day of minutes; days are never deleted before the minutes they came from would be
    expect(retentionSettings({ CLICK_MINUTE_RETENTION_DAYS: "0", CLICK_DAILY_RETENTION_DAYS: "-3" })).toEqual({ minuteDays: 1, dailyDays: 1 });
    expect(retentionSettings({ CLICK_MINUTE_RETENTION_DAYS: "40", CLICK_DAILY_RETENTION_DAYS: "10" })).toEqual({ minuteDays: 40, dailyDays: 40 });
  });

  it("cuts at UTC midnights, so only whole days past their age are touched", () => {
    const now = Date.UTC(2026, 10, 30, 17, 45, 12);
    const c = cutoffs(now, { minuteDays: 35, dailyDays: 800 });
    expect(new Date(c.rollupBefore).toISOString()).toBe("2026-10-26T00:00:00.000Z");
    expect(c.deleteBefore).toBe(Date.UTC(2026, 10, 30) - 800 * DAY_MS);
    expect(c.ledgerBefore).toBe(new Date(now - LEDGER_SAFE_AGE_MS).toISOString());
  });
});

describe("withDailyZone", () => {
  const D = Date.UTC(2026, 0, 10);
  const H = 3_600_000;
  it("widens only the ends that fall before the boundary to whole days", () => {
    expect(withDailyZone(D + 5 * H, D + 6 * H, D + 3 * DAY_MS)).toEqual({ from: D, to: D + DAY_MS });
    expect(withDailyZone(D + 5 * H, D + 4 * DAY_MS + 6 * H, D + 3 * DAY_MS)).toEqual({ from: D, to: D + 4 * DAY_MS + 6 * H });
    expect(withDailyZone(D + 5 * H, D + 6 * H, 0)).toEqual({ from: D + 5 * H, to: D + 6 * H });
    expect(withDailyZone(D + DAY_MS, D + 2 * DAY_MS, D + DAY_MS)).toEqual({ from: D + DAY_MS, to: D + 2 * DAY_MS });
  });
});

describe("Outcome (the RPC error convention)", () => {
  it("carries a domain error as a value and unwraps it back into the same ApiError", async () => {
    const refused = await outcomeOf(() => {
      throw new ApiError(409, "conflict_here", "no", { x: 1 });
    });
    expect(refused).toEqual(failure(new ApiError(409, "conflict_here", "no", { x: 1 })));
    expect(() => unwrap(refused)).toThrow(expect.objectContaining({ status: 409, code: "conflict_here", message: "no", details: { x: 1 } }));
    expect(unwrap(await outcomeOf(async () => 42))).toBe(42);
    expect(unwrap(success("v"))).toBe("v");
  });

  it("lets unexpected errors through as exceptions", async () => {
    await expect(outcomeOf(() => Promise.reject(new TypeError("bug")))).rejects.toThrow(TypeError);
  });
});
