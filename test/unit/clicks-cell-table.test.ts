import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CellTable, Map3, type Cell } from "../../lib/clicks/cell-table";

/** What the shard and the aggregator did before CellTable: one concatenated key per cell, sorted as text. */
function reference(cells: Cell[]): Cell[] {
  const byKey = new Map<string, Cell>();
  for (const [w, c, a, r, n] of cells) {
    const key = `${w}\u0000${c}\u0000${a}\u0000${r}`;
    const cell = byKey.get(key);
    if (cell) cell[4] += n;
    else byKey.set(key, [w, c, a, r, n]);
  }
  return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
}

// ids that are prefixes of one another, non-ASCII and astral characters: the cases where an order by
// another key could differ
const id = fc.oneof(fc.constantFrom("a", "ab", "abc", "b", "é", "广告", "😀", "a😀", "Z", ""), fc.string({ maxLength: 4 }));
const cell = fc.tuple(
  fc.constantFrom(1_764_500_000_000, 1_764_500_060_000, 1_764_499_940_000),
  id,
  id,
  fc.constantFrom("eu", "na", "as", "e"),
  fc.integer({ min: 1, max: 1_000 }),
);

describe("CellTable", () => {
  it("sums each (window, campaign, ad, region) once and sorts them as the concatenated text keys did", () => {
    fc.assert(
      fc.property(fc.array(cell, { maxLength: 200 }), (cells) => {
        const table = new CellTable();
        for (const [w, c, a, r, n] of cells) table.add(w, c, a, r, n);
        const want = reference(cells.map((x) => [...x] as Cell));
        expect(table.sorted()).toEqual(want);
        expect(table.values()).toHaveLength(want.length);
      }),
    );
  });

  it("keeps apart ids that would run together (a|bc and ab|c)", () => {
    const table = new CellTable();
    table.add(1, "a", "bc", "eu", 1);
    table.add(1, "ab", "c", "eu", 2);
    expect(table.sorted()).toEqual([
      [1, "a", "bc", "eu", 1],
      [1, "ab", "c", "eu", 2],
    ]);
  });
});

describe("Map3", () => {
  it("keys by three strings, each value once", () => {
    const m = new Map3<number>();
    m.set("a", "b", "c", 1);
    m.set("a", "b", "d", 2);
    m.set("a", "bc", "", 3);
    m.set("a", "b", "c", 4);
    expect(m.get("a", "b", "c")).toBe(4);
    expect(m.get("a", "bc", "")).toBe(3);
    expect(m.get("ab", "c", "")).toBeUndefined();
    expect([...m.values()].sort()).toEqual([2, 3, 4]);
  });
});
