import { clickKey, keyListJson, shardOfKey } from "./hash";
import type { NormalizedClick, RejectionCounts } from "./types";
import { windowStart } from "./windows";

/** A click as the edge hands it to a ClickBuffer (compact): [click_id, campaign_id, ad_id, region, ts]. */
export type ClickTuple = [clickId: string, campaignId: string, adId: string, region: string, ts: number];

export function toTuples(clicks: NormalizedClick[]): ClickTuple[] {
  return clicks.map((c) => [c.click_id, c.campaign_id, c.ad_id, c.region, c.ts]);
}

/** One acknowledged request as a buffer stored it. */
export interface PendingBatch {
  receivedAt: number;
  clicks: ClickTuple[];
  rejected: RejectionCounts;
}

/** A cell of the aggregate: [window_start ms, campaign_id, ad_id, region]. */
export type CellDims = [windowStart: number, campaignId: string, adId: string, region: string];

/** Ingest-statistics rejections per arrival minute: [minute ms, invalid, too_late, future]. */
export type RejectionRow = [minute: number, invalid: number, tooLate: number, future: number];

/** What one ClickShard receives in one RPC: the events of many requests that hash to it. */
export interface ShardBatch {
  /** JSON5 `[0x…, 0x…]`: one 64-bit dedup key per event (keyHex), bound straight into the dedup INSERT. */
  keys: string;
  /** Per event: index into `cells`. */
  cellOf: number[];
  /** Per event: index into `minutes` (its arrival minute, for the ingest statistics). */
  minuteOf: number[];
  /** null when the cells travel `packed` (a shard that can read them said so: see packShardBatch). */
  cells: CellDims[] | null;
  packed?: PackedCells;
  minutes: number[];
  /** Rejections counted at the edge; each forward gives them to exactly one shard. */
  rejected: RejectionRow[];
}

class ShardBatchBuilder {
  /** Each event's dedup key as its halves (clickKey). */
  readonly his: number[] = [];
  readonly los: number[] = [];
  readonly cellOf: number[] = [];
  readonly minuteOf: number[] = [];
  readonly cells: CellDims[] = [];
  readonly minutes: number[] = [];
  readonly rejected: RejectionRow[] = [];
  /** window → campaign → ad → region → cell index: lookups by the parsed strings, no concatenation. */
  private readonly cellIndex = new Map<number, Map<string, Map<string, Map<string, number>>>>();
  private readonly minuteIndex = new Map<number, number>();

  minuteSlot(minute: number): number {
    let mi = this.minuteIndex.get(minute);
    if (mi === undefined) {
      mi = this.minutes.length;
      this.minutes.push(minute);
      this.minuteIndex.set(minute, mi);
    }
    return mi;
  }

  add(hi: number, lo: number, c: ClickTuple, minuteSlot: number): void {
    const w = windowStart(c[4]);
    let byCampaign = this.cellIndex.get(w);
    if (!byCampaign) this.cellIndex.set(w, (byCampaign = new Map()));
    let byAd = byCampaign.get(c[1]);
    if (!byAd) byCampaign.set(c[1], (byAd = new Map()));
    let byRegion = byAd.get(c[2]);
    if (!byRegion) byAd.set(c[2], (byRegion = new Map()));
    let ci = byRegion.get(c[3]);
    if (ci === undefined) {
      ci = this.cells.length;
      this.cells.push([w, c[1], c[2], c[3]]);
      byRegion.set(c[3], ci);
    }
    this.his.push(hi);
    this.los.push(lo);
    this.cellOf.push(ci);
    this.minuteOf.push(minuteSlot);
  }

  build(): ShardBatch {
    return {
      keys: keyListJson(this.his, this.los),
      cellOf: this.cellOf,
      minuteOf: this.minuteOf,
      cells: this.cells,
      minutes: this.minutes,
      rejected: this.rejected,
    };
  }
}

/**
 * Groups the clicks of many requests by the shard that owns each click_id. Rejection counts go to
 * `statsShard` only, so they are counted once. Deterministic: the same batches give the same plan,
 * which is what makes re-sending a frozen forward after a crash safe.
 */
export function planForward(batches: PendingBatch[], shards: number, statsShard: number): Map<number, ShardBatch> {
  const builders = new Map<number, ShardBatchBuilder>();
  const byShard: (ShardBatchBuilder | undefined)[] = new Array(shards);
  const builder = (s: number) => {
    let b = byShard[s];
    if (!b) builders.set(s, (b = byShard[s] = new ShardBatchBuilder()));
    return b;
  };
  const rejected = new Map<number, RejectionRow>();
  for (const batch of batches) {
    const minute = windowStart(batch.receivedAt);
    // the arrival-minute slot of this batch in each shard's builder, looked up once per batch
    const slots: number[] = new Array(shards).fill(-1);
    for (const c of batch.clicks) {
      const [hi, lo] = clickKey(c[0]);
      const s = shardOfKey(lo, shards);
      const b = builder(s);
      if (slots[s] < 0) slots[s] = b.minuteSlot(minute);
      b.add(hi, lo, c, slots[s]);
    }
    const r = batch.rejected;
    if (r.invalid + r.too_late + r.future > 0) {
      const row = rejected.get(minute) ?? [minute, 0, 0, 0];
      row[1] += r.invalid;
      row[2] += r.too_late;
      row[3] += r.future;
      rejected.set(minute, row);
    }
  }
  if (rejected.size > 0) builder(statsShard).rejected.push(...rejected.values());
  const out = new Map<number, ShardBatch>();
  for (const [s, b] of builders) out.set(s, b.build());
  return out;
}


/**
 * A batch's cells as one typed array and a table of their strings: `dims` holds 4 numbers per cell —
 * window start, then the indexes in `names` of its campaign, ad and region. Structured-clone copies a
 * typed array at once, where an array of small arrays of strings cost more to send between objects
 * than the shard's whole dedup (the RPC serializes and re-reads every element).
 */
export interface PackedCells {
  names: string[];
  dims: Float64Array;
}

/**
 * The batch with its cells packed, for a shard that answered `packed: true` (ClickShard.ingest). Its
 * `cells` is null, so that code from before packing fails on it (and the forward is re-sent unpacked)
 * instead of counting nothing.
 */
export function packShardBatch(batch: ShardBatch): ShardBatch {
  if (batch.cells === null) return batch;
  const index = new Map<string, number>();
  const names: string[] = [];
  const name = (v: string) => {
    let i = index.get(v);
    if (i === undefined) {
      index.set(v, (i = names.length));
      names.push(v);
    }
    return i;
  };
  const cells = batch.cells;
  const dims = new Float64Array(cells.length * 4);
  for (let i = 0, o = 0; i < cells.length; i++, o += 4) {
    const cell = cells[i];
    dims[o] = cell[0];
    dims[o + 1] = name(cell[1]);
    dims[o + 2] = name(cell[2]);
    dims[o + 3] = name(cell[3]);
  }
  return { ...batch, cells: null, packed: { names, dims } };
}

/** A batch's cells, packed or not; throws when they are neither, or a packed cell names no string. */
export function shardBatchCells(batch: ShardBatch): CellDims[] {
  if (batch.cells) return batch.cells;
  const p = batch.packed;
  if (!p || !(p.dims instanceof Float64Array) || p.dims.length % 4 !== 0 || !Array.isArray(p.names)) throw new TypeError("a shard batch carries no cells");
  const cells: CellDims[] = new Array(p.dims.length / 4);
  for (let i = 0; i < cells.length; i++) {
    const c = p.names[p.dims[4 * i + 1]];
    const a = p.names[p.dims[4 * i + 2]];
    const r = p.names[p.dims[4 * i + 3]];
    if (typeof c !== "string" || typeof a !== "string" || typeof r !== "string") throw new TypeError(`packed cell ${i} names a string that is not there`);
    cells[i] = [p.dims[4 * i], c, a, r];
  }
  return cells;
}
