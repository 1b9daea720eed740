import { describe, expect, it } from "vitest";
import { boundaryAfter, handoffAt } from "../../lib/clicks/flush-schedule";

describe("flush boundaries and hand-off times", () => {
  it("a boundary is the next multiple of the interval, strictly after t", () => {
    expect(boundaryAfter(0, 1000)).toBe(1000);
    expect(boundaryAfter(999, 1000)).toBe(1000);
    expect(boundaryAfter(1000, 1000)).toBe(2000);
    expect(boundaryAfter(1_764_500_123_456, 1000)).toBe(1_764_500_124_000);
  });

  it("a shard hands off `lead` before the first boundary it can still reach with that lead", () => {
    const interval = 1000;
    const lead = 200;
    expect(handoffAt(0, interval, lead)).toBe(800);
    expect(handoffAt(799, interval, lead)).toBe(800);
    expect(handoffAt(800, interval, lead)).toBe(1800); // at the hand-off instant: the next one
    expect(handoffAt(950, interval, lead)).toBe(1800); // too close to the boundary: the next one
  });

  it("every cell leaves within an interval and is flushed within an interval plus the lead; one hand-off per interval", () => {
    for (const [interval, lead] of [
      [1000, 200],
      [200, 40],
      [60_000, 200],
    ]) {
      const times = new Set<number>();
      for (let t = 5 * interval; t < 8 * interval; t += 7) {
        const h = handoffAt(t, interval, lead);
        expect(h).toBeGreaterThanOrEqual(t);
        expect(h - t).toBeLessThanOrEqual(interval);
        const flush = boundaryAfter(h, interval);
        expect(flush - h).toBe(lead); // the hand-off reaches the aggregators `lead` before their flush
        expect(flush - t).toBeLessThanOrEqual(interval + lead);
        times.add(h);
      }
      expect(times.size).toBeLessThanOrEqual(4); // 3 intervals of opening times → hand-offs at 3–4 instants
    }
  });
});
