import { describe, expect, it } from "vitest";
import { aggregatorName, aggregatorOfCell, aggregatorOfMinute } from "../../lib/clicks/aggregators";

const REGIONS = ["na", "sa", "eu", "af", "as", "oc", "an"];

describe("cell → aggregator", () => {
  it("is a stable index below the count, the same for every minute of a cell", () => {
    for (const count of [1, 3, 16, 40]) {
      for (let ad = 0; ad < 200; ad++) {
        const i = aggregatorOfCell("spring", `ad-${ad}`, "eu", count);
        expect(Number.isInteger(i) && i >= 0 && i < count).toBe(true);
        expect(aggregatorOfCell("spring", `ad-${ad}`, "eu", count)).toBe(i);
      }
    }
    expect(aggregatorName(3)).toBe("agg:3");
  });

  it("spreads one hot campaign's 3 000 ads × 7 regions evenly over 16 aggregators (no hot object)", () => {
    const perAgg = new Array<number>(16).fill(0);
    for (let ad = 0; ad < 3_000; ad++) for (const r of REGIONS) perAgg[aggregatorOfCell("black-friday", `ad-${ad}`, r, 16)]++;
    const mean = (3_000 * 7) / 16;
    for (const n of perAgg) expect(Math.abs(n - mean) / mean).toBeLessThan(0.1);
  });

  it("does not mix up fields (campaign 'a|b', ad 'c' ≠ campaign 'a', ad 'b|c')", () => {
    const a = new Set<number>();
    const b = new Set<number>();
    for (let k = 0; k < 64; k++) {
      a.add(aggregatorOfCell(`a${k}`, `b${k}c`, "eu", 1 << 20));
      b.add(aggregatorOfCell(`a${k}b`, `${k}c`, "eu", 1 << 20));
    }
    expect([...a].filter((x) => b.has(x)).length).toBeLessThan(3);
  });

  it("gives consecutive arrival minutes to consecutive aggregators", () => {
    const m = 29_000_000 * 60_000;
    expect(new Set(Array.from({ length: 16 }, (_, k) => aggregatorOfMinute(m + k * 60_000, 16))).size).toBe(16);
  });
});
