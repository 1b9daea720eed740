import { describe, expect, it } from "vitest";
import { clickKey, keyHex, keyListJson, shardOf, shardOfKey } from "../../lib/clicks/hash";
import { rateLimitKey } from "../../lib/clicks/rate-limit";
import { windowStart } from "../../lib/clicks/windows";

describe("click keys and shards", () => {
  it("is deterministic, 64 bits as [signed hi, unsigned lo]", () => {
    expect(clickKey("click-0001")).toEqual(clickKey("click-0001"));
    expect(clickKey("click-0001")).not.toEqual(clickKey("click-0002"));
    for (let i = 0; i < 1000; i++) {
      const [hi, lo] = clickKey(`id-${i}-xxxxxxxx`);
      expect(Number.isInteger(hi) && hi >= -(2 ** 31) && hi < 2 ** 31).toBe(true);
      expect(Number.isInteger(lo) && lo >= 0 && lo < 2 ** 32).toBe(true);
    }
  });

  it("has no collisions among 200k sequential ids", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(clickKey(`run-1-${i}`).join(":"));
    expect(seen.size).toBe(200_000);
  });

  it("spreads sequential ids evenly over the shards (chi-square)", () => {
    for (const shards of [16, 7]) {
      const n = 160_000;
      const counts = new Array(shards).fill(0);
      for (let i = 0; i < n; i++) counts[shardOf(`bench-run-${i}`, shards)]++;
      const expected = n / shards;
      const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
      // 99.9th percentile of chi-square with 15 degrees of freedom is ~37.7.
      expect(chi2).toBeLessThan(40);
      expect(Math.min(...counts)).toBeGreaterThan(expected * 0.97);
    }
  });

  it("writes keys as 16-digit JSON5 hex (as SQLite's printf('0x%016x') prints them back)", () => {
    expect(keyHex(0, 0xabc)).toBe("0x0000000000000abc");
    expect(keyHex(1, 2)).toBe("0x0000000100000002");
    expect(keyHex(-1, 0xffffffff)).toBe("0xffffffffffffffff");
    expect(keyHex(0x7fffffff, 0)).toBe("0x7fffffff00000000");
    for (let i = 0; i < 100; i++) {
      const [hi, lo] = clickKey(`id-${i}-xxxxxxxx`);
      expect(BigInt(keyHex(hi, lo))).toBe((BigInt(hi >>> 0) << 32n) | BigInt(lo));
    }
  });

  it("writes a list of keys as keyHex writes each, joined (what a shard's dedup reads)", () => {
    expect(keyListJson([], [])).toBe("[]");
    const his = [0, 1, -1, 0x7fffffff, -(2 ** 31)];
    const los = [0xabc, 2, 0xffffffff, 0, 1];
    for (let i = 0; i < 200; i++) {
      const [hi, lo] = clickKey(`list-${i}`);
      his.push(hi);
      los.push(lo);
    }
    expect(keyListJson(his, los)).toBe("[" + his.map((hi, i) => keyHex(hi, los[i])).join(",") + "]");
    expect(keyListJson([5], [6])).toBe(`[${keyHex(5, 6)}]`);
  });

  it("maps every key into range", () => {
    expect(shardOfKey(0, 16)).toBe(0);
    expect(shardOfKey(2 ** 32 - 1, 16)).toBe(15);
    expect(shardOfKey(2 ** 31, 16)).toBe(8);
  });
});

describe("one-minute windows", () => {
  it("buckets to the start of the UTC minute", () => {
    const m = Date.UTC(2026, 0, 1, 10, 30);
    expect(windowStart(m)).toBe(m);
    expect(windowStart(m + 59_999)).toBe(m);
    expect(windowStart(m + 60_000)).toBe(m + 60_000);
    expect(windowStart(m - 1)).toBe(m - 60_000);
    expect(windowStart(-1)).toBe(-60_000);
  });
});

describe("rate-limit key", () => {
  it("limits only real client addresses", () => {
    expect(rateLimitKey("203.0.113.9")).toBe("203.0.113.9");
    expect(rateLimitKey("2001:db8::1")).toBe("2001:db8::1");
    for (const local of [undefined, "", "127.0.0.1", "::1"]) expect(rateLimitKey(local)).toBeNull();
  });
});
