import { describe, expect, it } from "vitest";
import { clickKey } from "../../lib/clicks/hash";
import { bucket } from "../../lib/config/bucket";
import { cyrb53 } from "../../lib/cyrb";

// Both hashes are persisted in meaning: dedup keys live in ClickShard storage and buckets decide the
// cohorts of rollouts in flight. Changing the function would re-count clicks and move clients.
describe("cyrb hashes are stable", () => {
  it("pins known values", () => {
    expect(bucket("checkout", "ro_1", "device-42")).toBe(3065);
    expect(clickKey("clk-0001")).toEqual([-774376960, 4148380820]);
    expect(Number.isSafeInteger(cyrb53("anything"))).toBe(true);
  });
});
