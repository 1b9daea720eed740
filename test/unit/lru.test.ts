import { describe, expect, it } from "vitest";
import { LruMap, VerdictCache } from "../../lib/lru";

describe("LruMap", () => {
  it("evicts the least recently used entry, not everything, when full", () => {
    const m = new LruMap<string, number>(3);
    m.set("a", 1);
    m.set("b", 2);
    m.set("c", 3);
    expect(m.get("a")).toBe(1); // a is now the most recent
    m.set("d", 4);
    expect(m.size).toBe(3);
    expect(m.get("b")).toBeUndefined();
    expect([m.get("a"), m.get("c"), m.get("d")]).toEqual([1, 3, 4]);
  });
});

describe("VerdictCache", () => {
  it("keeps valid entries through a flood of invalid ones", () => {
    const c = new VerdictCache<string>(100, 100);
    c.setValid("good", "principal", 10_000);
    for (let i = 0; i < 10_000; i++) c.setInvalid(`bad-${i}`, 10_000);
    expect(c.get("good", 0)).toEqual({ hit: true, value: "principal" });
    expect(c.get("bad-9999", 0)).toEqual({ hit: true, value: null });
    expect(c.get("bad-0", 0)).toEqual({ hit: false });
  });

  it("expires entries and lets a verdict replace the other", () => {
    const c = new VerdictCache<string>(10, 10);
    c.setValid("t", "p", 100);
    expect(c.get("t", 99)).toEqual({ hit: true, value: "p" });
    expect(c.get("t", 100)).toEqual({ hit: false });
    c.setInvalid("t", 200);
    expect(c.get("t", 150)).toEqual({ hit: true, value: null });
    c.setValid("t", "q", 300);
    expect(c.get("t", 150)).toEqual({ hit: true, value: "q" });
  });
});
