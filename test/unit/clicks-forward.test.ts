import { describe, expect, it } from "vitest";
import { chunkJson, flushStatements, isLedgerConflict } from "../../lib/clicks/flush-sql";
import { packShardBatch, planForward, shardBatchCells, type ClickTuple, type PendingBatch } from "../../lib/clicks/forward";
import { clickKey, keyHex, shardOf } from "../../lib/clicks/hash";
import { windowStart } from "../../lib/clicks/windows";

const T = Date.UTC(2026, 10, 25, 12, 0, 10);
const NONE = { invalid: 0, too_late: 0, future: 0 };

describe("planForward", () => {
  const clicks: ClickTuple[] = Array.from({ length: 500 }, (_, i) => [`click-${i}-abcdef`, `c${i % 2}`, `a${i % 5}`, i % 3 ? "eu" : "na", T - (i % 4) * 60_000]);
  const batches: PendingBatch[] = [
    { receivedAt: T, clicks: clicks.slice(0, 300), rejected: { invalid: 2, too_late: 1, future: 0 } },
    { receivedAt: T + 60_000, clicks: clicks.slice(300), rejected: { invalid: 0, too_late: 0, future: 3 } },
  ];

  it("sends every click to the shard that owns its id, with its cell and arrival minute", () => {
    const plan = planForward(batches, 16, 5);
    let total = 0;
    const recovered: string[] = [];
    for (const [s, b] of plan) {
      const keys = b.keys.slice(1, -1).split(",");
      expect(keys.length).toBe(b.cellOf.length);
      expect(b.minuteOf.length).toBe(b.cellOf.length);
      total += keys.length;
      keys.forEach((_, i) => {
        const [w, c, a, r] = shardBatchCells(b)[b.cellOf[i]];
        recovered.push(`${s}|${w}|${c}|${a}|${r}|${b.minutes[b.minuteOf[i]]}|${keys[i]}`);
      });
    }
    expect(total).toBe(500);
    const expected = clicks.map((c, i) => {
      const minute = i < 300 ? windowStart(T) : windowStart(T + 60_000);
      return `${shardOf(c[0], 16)}|${windowStart(c[4])}|${c[1]}|${c[2]}|${c[3]}|${minute}|${keyHex(...clickKey(c[0]))}`;
    });
    expect(recovered.sort()).toEqual(expected.sort());
  });

  it("packs a batch's cells into one typed array and a string table, and reads them back as they were", () => {
    for (const [, b] of planForward(batches, 4, 0)) {
      const packed = packShardBatch(b);
      expect(packed.cells).toBeNull();
      expect(packed.packed!.dims).toBeInstanceOf(Float64Array);
      expect(new Set(packed.packed!.names).size).toBe(packed.packed!.names.length);
      expect(shardBatchCells(packed)).toEqual(b.cells);
      expect(packShardBatch(packed)).toBe(packed);
      // everything else travels as it was
      expect({ ...packed, cells: b.cells, packed: undefined }).toEqual({ ...b, packed: undefined });
    }
  });

  it("refuses a batch whose cells are missing or name strings it does not carry", () => {
    const [, b] = [...planForward(batches, 1, 0)][0];
    expect(() => shardBatchCells({ ...b, cells: null })).toThrow(TypeError);
    const packed = packShardBatch(b);
    expect(() => shardBatchCells({ ...packed, packed: { names: packed.packed!.names.slice(1), dims: packed.packed!.dims } })).toThrow(TypeError);
    expect(() => shardBatchCells({ ...packed, packed: { names: packed.packed!.names, dims: packed.packed!.dims.subarray(1) } })).toThrow(TypeError);
  });

  it("gives rejections to the stats shard only, per arrival minute", () => {
    const plan = planForward(batches, 16, 5);
    for (const [s, b] of plan) if (s !== 5) expect(b.rejected).toEqual([]);
    expect(plan.get(5)!.rejected).toEqual([
      [windowStart(T), 2, 1, 0],
      [windowStart(T + 60_000), 0, 0, 3],
    ]);
    const onlyRejections = planForward([{ receivedAt: T, clicks: [], rejected: { invalid: 1, too_late: 0, future: 0 } }], 16, 3);
    expect([...onlyRejections.keys()]).toEqual([3]);
    expect(planForward([{ receivedAt: T, clicks: [], rejected: NONE }], 16, 3).size).toBe(0);
  });

  it("is deterministic (a re-sent forward is identical)", () => {
    expect(planForward(batches, 16, 5)).toEqual(planForward(batches, 16, 5));
  });
});

describe("flush statements", () => {
  it("puts the ledger row first and chunks the upserts under the size limit", () => {
    const counts = Array.from({ length: 5000 }, (_, i) => [T, `campaign-${i}`, "ad", "eu", i + 1] as [number, string, string, string, number]);
    const stmts = flushStatements("shard:1", 9, "2026-11-25T12:00:00.000Z", counts, [[T, 10, 1, 0, 0, 2]]);
    expect(stmts[0].sql).toMatch(/^INSERT INTO click_flush_ledger/);
    expect(stmts[0].params).toEqual(["shard:1", 9, "2026-11-25T12:00:00.000Z", 5000, (5000 * 5001) / 2]);
    const countChunks = stmts.filter((s) => s.sql.includes("click_counts"));
    expect(countChunks.length).toBeGreaterThan(1);
    const back = countChunks.flatMap((s) => JSON.parse(String(s.params[0])));
    expect(back).toEqual(counts);
    for (const s of countChunks) expect(new TextEncoder().encode(String(s.params[0])).byteLength).toBeLessThanOrEqual(90_000);
    expect(stmts.at(-1)!.params).toEqual(["shard:1", JSON.stringify([[T, 10, 1, 0, 0, 2]])]);
    expect(flushStatements("s", 1, "t", [], [])).toHaveLength(1);
  });

  it("chunks by UTF-8 bytes", () => {
    const rows = Array.from({ length: 100 }, () => ["é".repeat(100)]);
    for (const c of chunkJson(rows, 1000)) expect(new TextEncoder().encode(c).byteLength).toBeLessThanOrEqual(1000);
    expect(chunkJson(rows, 1000).flatMap((c) => JSON.parse(c))).toEqual(rows);
  });

  it("recognizes a replayed flush by its ledger conflict", () => {
    expect(isLedgerConflict(new Error("D1_ERROR: UNIQUE constraint failed: click_flush_ledger.source, click_flush_ledger.flush_id: SQLITE_CONSTRAINT"))).toBe(true);
    expect(isLedgerConflict(new Error("D1_ERROR: UNIQUE constraint failed: click_counts.window_start"))).toBe(false);
    expect(isLedgerConflict(new Error("Network connection lost"))).toBe(false);
  });
});
