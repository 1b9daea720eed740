import { describe, expect, it } from "vitest";
import type { Cell } from "../../lib/clicks/cell-table";
import { compareText, mergeSeries, mergeStats, mergeTop, pendingGroups, type TopRow } from "../../lib/clicks/pending-merge";

const M = 60_000;
const H = 3_600_000;

describe("merging the aggregators' pending counts into D1's answer", () => {
  it("orders text as SQLite's BINARY collation does (code points, not UTF-16 units)", () => {
    const ids = ["b", "a", "\u{1F600}", "\uFFFD", "ab", "", "é"];
    expect([...ids].sort(compareText)).toEqual(["", "a", "ab", "b", "é", "\uFFFD", "\u{1F600}"]);
    expect(compareText(null, "a")).toBeLessThan(0);
  });

  it("adds pending cells to their window and grouped dimensions, keeps D1's order, and skips cells outside the range", () => {
    const rows = [{ bucket: 0, campaignId: "c1", adId: null, region: null, clicks: 5 }];
    const pending: Cell[] = [
      [30 * M, "c1", "a1", "eu", 2], // same hour, same campaign: added to D1's row
      [10 * M, "c0", "a9", "na", 1], // a group D1 did not have: sorted before c1
      [H, "c1", "a1", "eu", 4], // the next hour
      [2 * H, "c1", "a1", "eu", 100], // outside [from, to)
    ];
    const merged = mergeSeries(rows, pending, { from: 0, to: 2 * H, granularity: "hour", groupBy: ["campaign"], dailyBefore: 0 });
    expect(merged).toEqual([
      { bucket: 0, campaignId: "c0", adId: null, region: null, clicks: 1 },
      { bucket: 0, campaignId: "c1", adId: null, region: null, clicks: 7 },
      { bucket: H, campaignId: "c1", adId: null, region: null, clicks: 4 },
    ]);
    expect(rows[0].clicks).toBe(5); // D1's rows are not changed in place
  });

  it("ranks exactly: a pending group passes D1's leaders, ties go by id, and the limit holds", () => {
    // D1's top limit + (pending groups) = 2 + 1 rows, and the pending group's own D1 total
    const top: TopRow[] = [
      { campaignId: "a", adId: null, clicks: 10 },
      { campaignId: "b", adId: null, clicks: 9 },
      { campaignId: "c", adId: null, clicks: 8 },
    ];
    const groupTotals: TopRow[] = [{ campaignId: "z", adId: null, clicks: 3 }];
    const pending: Cell[] = [[0, "z", "ad", "eu", 7], [M, "b", "ad", "eu", 1]];
    expect(pendingGroups(pending, "campaign")).toEqual([["z", null], ["b", null]]);
    expect(pendingGroups(pending, "ad")).toEqual([["z", "ad"], ["b", "ad"]]);
    expect(mergeTop(top, groupTotals, pending, { from: 0, to: H, by: "campaign", limit: 2 })).toEqual([
      { campaignId: "a", adId: null, clicks: 10 },
      { campaignId: "b", adId: null, clicks: 10 },
    ]);
    expect(mergeTop(top, groupTotals, pending, { from: 0, to: H, by: "campaign", limit: 4 }).map((r) => [r.campaignId, r.clicks])).toEqual([
      ["a", 10],
      ["b", 10],
      ["z", 10],
      ["c", 8],
    ]);
  });

  it("adds pending statistics per window", () => {
    const rows = [{ bucket: 0, accepted: 5, duplicates: 1, tooLate: 0, future: 0, invalid: 0 }];
    const merged = mergeStats(rows, [[M, 3, 1, 2, 4, 5], [2 * H, 9, 9, 9, 9, 9]], { from: 0, to: H, granularity: "hour" });
    expect(merged).toEqual([{ bucket: 0, accepted: 8, duplicates: 2, invalid: 2, tooLate: 4, future: 5 }]);
  });
});
