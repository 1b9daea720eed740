import { describe, expect, it } from "vitest";
import { clickKey, keyHex } from "../../lib/clicks/hash";
import { partitionExpired, partitionOf, partitionSpanMs, partitionTable, sliceOfHalf, sliceOfKey, sliceSigned } from "../../lib/clicks/dedup-keys";

describe("dedup partitions and slices", () => {
  it("spans a 24th of the horizon in whole seconds, between 1 s and an hour", () => {
    expect(partitionSpanMs((86_400 + 300) * 1000)).toBe(3_600_000);
    expect(partitionSpanMs(10_000)).toBe(1000);
    expect(partitionSpanMs(2 * 3_600_000)).toBe(300_000);
  });

  it("names a partition by its end, after every expiry it holds, and expires it only then", () => {
    const span = 3_600_000;
    const exp = Date.UTC(2026, 10, 30, 9, 59, 59, 999);
    const p = partitionOf(exp, span);
    expect(p * 1000).toBe(Date.UTC(2026, 10, 30, 10));
    expect(partitionOf(Date.UTC(2026, 10, 30, 9), span)).toBe(p);
    expect(partitionOf(Date.UTC(2026, 10, 30, 10), span)).toBe(p + 3600);
    expect(partitionExpired(p, exp)).toBe(false);
    expect(partitionExpired(p, exp + 1)).toBe(true);
    expect(partitionTable(p)).toBe(`dedup_p${p}`);
    expect(() => partitionTable(1.5)).toThrow();
    expect(() => partitionTable(-1)).toThrow();
  });

  it("slices keys by their first hex digit, the same range SQLite's signed keys give", () => {
    const top = (hex: string) => BigInt.asIntN(64, BigInt(hex)) >> 60n;
    for (const id of ["a", "b", "click-1", "click-2", "zz", "0", "x-17"]) {
      const hex = keyHex(...clickKey(id));
      expect(BigInt(sliceSigned(sliceOfKey(hex)))).toBe(top(hex));
      expect(sliceOfHalf(clickKey(id)[0])).toBe(sliceOfKey(hex));
    }
    expect(sliceOfHalf(-1)).toBe(15);
    expect(sliceOfKey("0xf000000000000000")).toBe(15);
    expect(sliceSigned(15)).toBe(-1);
    expect(sliceOfKey("0x7fffffffffffffff")).toBe(7);
  });
});
