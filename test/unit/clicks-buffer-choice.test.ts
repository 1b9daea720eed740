import { describe, expect, it } from "vitest";
import { BufferChooser, isBufferName, MAX_SLOTS, TARGET_RPS } from "../../lib/clicks/buffer-choice";
import { FORWARD_DELAY_MS } from "../../durable-objects/ClickBuffer";

/**
 * Requests per Durable Object at 50 000 single-event beacons/s (one request each), with the edge's real
 * buffer choice: the beacons land on `isolates` isolates; every second each isolate deals its share of
 * requests through its own chooser, every buffer counts what it received, and each isolate hears the
 * load of the buffers it used (as store() answers carry it). Each active buffer forwards to every shard
 * once per FORWARD_DELAY_MS.
 */
function simulate(beaconsPerSecond: number, isolates: number, seconds = 30) {
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const choosers = Array.from({ length: isolates }, () => new BufferChooser(1, rand()));
  const perIsolate = Math.max(1, Math.round(beaconsPerSecond / isolates));
  let load = new Map<number, number>();
  for (let t = 0; t < seconds; t++) {
    load = new Map();
    const used = choosers.map((c) => {
      const slots = new Set<number>();
      for (let i = 0; i < perIsolate; i++) {
        const s = c.slot();
        slots.add(s);
        load.set(s, (load.get(s) ?? 0) + 1);
      }
      return slots;
    });
    choosers.forEach((c, i) => {
      for (const s of used[i]) c.report(load.get(s)!, t * 1000);
    });
  }
  const buffers = load.size;
  return {
    maxBufferRps: Math.max(...load.values()),
    buffers,
    shardRps: buffers * (1000 / FORWARD_DELAY_MS),
    slots: Math.max(...choosers.map((c) => c.slotCount)),
  };
}

describe("no hot object at 50 000 single-event beacons/s", () => {
  for (const isolates of [1, 50, 500, 5_000, 25_000]) {
    it(`${isolates} isolates: every buffer and shard ≤ 500 requests/s`, () => {
      const r = simulate(50_000, isolates);
      console.log(`50k beacons/s over ${isolates} isolates: ${r.buffers} buffers, max ${Math.round(r.maxBufferRps)} req/s per buffer, ${r.shardRps} req/s per shard`);
      expect(r.maxBufferRps).toBeLessThanOrEqual(500);
      expect(r.shardRps).toBeLessThanOrEqual(500);
    });
  }

  it("without load reports (the old design: one buffer per group) the same load is far over the limit", () => {
    const choosers = Array.from({ length: 500 }, (_, i) => new BufferChooser(1, i * 7919));
    const load = new Map<number, number>();
    for (const c of choosers) for (let i = 0; i < 100; i++) load.set(c.slot(), (load.get(c.slot()) ?? 0) + 1);
    expect(Math.max(...load.values())).toBe(50_000);
  });

  it("grows at most once a second and shrinks back after a quiet minute", () => {
    const c = new BufferChooser(2, 5);
    c.report(TARGET_RPS + 1, 0);
    c.report(TARGET_RPS + 1, 500);
    expect(c.slotCount).toBe(4);
    c.report(TARGET_RPS + 1, 1_000);
    expect(c.slotCount).toBe(8);
    c.report(10, 2_000);
    c.report(10, 61_999);
    expect(c.slotCount).toBe(8);
    c.report(10, 62_000);
    expect(c.slotCount).toBe(4);
    for (let t = 62_000; t < 1_000_000; t += 1_000) c.report(10, t);
    expect(c.slotCount).toBe(2); // never below the floor (CLICK_BUFFERS)
  });
});

describe("isBufferName (what the epoch registry records for the pipeline view)", () => {
  it("takes buffer:<group>:<slot> with a reachable slot and nothing else", () => {
    for (const ok of ["buffer:any:0", "buffer:weur:3", `buffer:apac:${MAX_SLOTS - 1}`]) expect(isBufferName(ok)).toBe(true);
    const bad = [`buffer:any:${MAX_SLOTS}`, "buffer:any:-1", "buffer:any:1.5", "buffer:Any:1", "buffer::1", "buffer:outcome-test:x", "shard:1", "buffer:any:1 ", "x".repeat(5000), 7, null, undefined];
    for (const b of bad) expect(isBufferName(b)).toBe(false);
  });
});
