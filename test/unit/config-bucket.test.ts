import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bucket, BUCKETS, inCandidate, percentThreshold } from "../../lib/config/bucket";
import { resolveVersion, type ReleaseState } from "../../lib/config/release";

describe("bucket", () => {
  it("is an integer in [0, 10000) and a pure function of its inputs", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (ns, ro, client) => {
        const b = bucket(ns, ro, client);
        expect(Number.isInteger(b)).toBe(true);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(BUCKETS);
        expect(bucket(ns, ro, client)).toBe(b);
      }),
    );
  });

  it("is monotone: raising the percent never moves a client back to stable", () => {
    const pct = fc.integer({ min: 1, max: 10_000 }).map((n) => n / 100);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), pct, pct, (ro, client, p1, p2) => {
        const [lo, hi] = p1 <= p2 ? [p1, p2] : [p2, p1];
        if (inCandidate("ns", ro, client, lo)) expect(inCandidate("ns", ro, client, hi)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("puts about `percent` of many clients in the candidate", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9_999 }).map((n) => n / 100), fc.string({ minLength: 1, maxLength: 12 }), (percent, ro) => {
        const N = 20_000;
        let inside = 0;
        for (let i = 0; i < N; i++) if (inCandidate("checkout", ro, `client-${i}`, percent)) inside++;
        // 5 standard deviations of a binomial, plus a little slack for tiny percents.
        const p = percent / 100;
        const sd = Math.sqrt(N * p * (1 - p));
        expect(Math.abs(inside - N * p)).toBeLessThanOrEqual(5 * sd + 5);
      }),
      { numRuns: 25 },
    );
  });

  it("gives different rollouts independent cohorts", () => {
    let both = 0;
    const N = 20_000;
    for (let i = 0; i < N; i++) if (inCandidate("ns", "ro_a", `c${i}`, 50) && inCandidate("ns", "ro_b", `c${i}`, 50)) both++;
    expect(Math.abs(both / N - 0.25)).toBeLessThan(0.02);
  });

  it("maps percent with two decimals to a threshold", () => {
    expect(percentThreshold(0.01)).toBe(1);
    expect(percentThreshold(12.34)).toBe(1234);
    expect(percentThreshold(100)).toBe(10_000);
  });
});

describe("resolveVersion", () => {
  const state: ReleaseState = {
    namespace: "checkout",
    generation: 3,
    stable: 1,
    regions: {
      eu: { stable: 1, candidate: 2, percent: 30, rollout_id: "ro_x" },
      na: { stable: 1, candidate: 2, percent: 100, rollout_id: "ro_x" },
      as: { stable: 1, candidate: null, percent: 0, rollout_id: null },
    },
    updated_at: "2026-01-01T00:00:00.000Z",
  };
  it("serves stable without a client id or outside the configured regions, the candidate inside the cohort", () => {
    expect(resolveVersion(state, "eu", null)).toBe(1);
    expect(resolveVersion(state, "mars", "c1")).toBe(1);
    expect(resolveVersion(state, null, "c1")).toBe(1);
    expect(resolveVersion(state, "as", "c1")).toBe(1);
    expect(resolveVersion(state, "na", "c1")).toBe(2);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (client) => {
        expect(resolveVersion(state, "eu", client)).toBe(inCandidate("checkout", "ro_x", client, 30) ? 2 : 1);
      }),
    );
  });
});
