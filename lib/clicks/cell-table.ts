/**
 * Grouping by (campaign, ad, region) and by (window, campaign, ad, region) in nested Maps, looked up by
 * the parsed values themselves. A key string built per lookup (`${w}\0${c}\0${a}\0${r}`) cost ≈ 0.5 µs
 * a cell in V8 — the window formatted as text, the concatenation, hashing it, a string-table lookup —
 * and was most of the time a shard's hand-off or an aggregator's freeze spent merging.
 */

/** A cell: window start (epoch ms), campaign, ad, region, clicks. */
export type Cell = [number, string, string, string, number];

/** A Map keyed by three strings. */
export class Map3<V> {
  private readonly root = new Map<string, Map<string, Map<string, V>>>();

  get(a: string, b: string, c: string): V | undefined {
    return this.root.get(a)?.get(b)?.get(c);
  }

  set(a: string, b: string, c: string, value: V): void {
    let byB = this.root.get(a);
    if (!byB) this.root.set(a, (byB = new Map()));
    let byC = byB.get(b);
    if (!byC) byB.set(b, (byC = new Map()));
    byC.set(c, value);
  }

  *values(): IterableIterator<V> {
    for (const byB of this.root.values()) for (const byC of byB.values()) yield* byC.values();
  }
}

/** Clicks summed per (window, campaign, ad, region). */
export class CellTable {
  private readonly windows = new Map<number, Map3<Cell>>();
  /** Distinct cells. */
  size = 0;

  add(w: number, c: string, a: string, r: string, n: number): void {
    let cells = this.windows.get(w);
    if (!cells) this.windows.set(w, (cells = new Map3()));
    const cell = cells.get(c, a, r);
    if (cell) cell[4] += n;
    else {
      cells.set(c, a, r, [w, c, a, r, n]);
      this.size++;
    }
  }

  values(): Cell[] {
    const out: Cell[] = [];
    for (const cells of this.windows.values()) for (const cell of cells.values()) out.push(cell);
    return out;
  }

  /** In (window, campaign, ad, region) order (ids compared as JavaScript strings compare). */
  sorted(): Cell[] {
    return this.values().sort(compareCells);
  }
}

const compareText = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

function compareCells(x: Cell, y: Cell): number {
  return x[0] - y[0] || compareText(x[1], y[1]) || compareText(x[2], y[2]) || compareText(x[3], y[3]);
}
