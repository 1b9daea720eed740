/**
 * Shard epochs: the durable history of CLICK_SHARDS (docs/clicks-pipeline.md, "Changing the shard
 * count"). Epoch e has `shards` objects named by epochShardName(e, i); a click key's owner in an epoch
 * is shardOfKey(lo, shards). The ClickEpochs object records the history; everyone else caches it.
 */
export interface Epoch {
  epoch: number;
  shards: number;
  /** When the registry adopted it (epoch ms; 0 for the first). */
  since: number;
}

/** How long a cached epoch list is used before it is fetched again. */
export const EPOCH_REFRESH_MS = 10_000;
/** Longest a cached list may be used when the registry cannot be reached. */
export const EPOCH_MAX_STALE_MS = 60_000;
/**
 * An epoch stays live (its owners are consulted) until horizon + this after its successor started.
 * It must exceed the staleness of any cached list (EPOCH_MAX_STALE_MS) plus clock skew between objects.
 */
export const EPOCH_MARGIN_MS = 10 * 60_000;

/** Epoch 1 keeps the names shards had before epochs existed, so their dedup state stays in use. */
export function epochShardName(epoch: number, i: number): string {
  return epoch <= 1 ? `shard:${i}` : `shard:e${epoch}:${i}`;
}

/** The epoch and index of a shard name (null for names the pipeline never gives out). */
export function parseShardName(name: string): { epoch: number; index: number } | null {
  const m = /^shard:(?:e(\d+):)?(\d+)$/.exec(name);
  if (!m) return null;
  return { epoch: m[1] === undefined ? 1 : Number(m[1]), index: Number(m[2]) };
}

/**
 * The epochs whose owners must agree on a key at `now`, oldest first: every epoch from the oldest still
 * live (its successor started less than horizon + margin ago) to the newest, and at least from `own`
 * (the epoch a batch was planned in). One epoch: the steady state, no consultation.
 */
export function claimRange(all: readonly Epoch[], own: number, now: number, horizonMs: number): Epoch[] {
  const sorted = [...all].sort((a, b) => a.epoch - b.epoch);
  // an epoch is live while its successor started less than horizon + margin ago; `since` only grows
  let first = sorted.length - 1;
  for (let j = 0; j < sorted.length - 1; j++) {
    if (now < sorted[j + 1].since + horizonMs + EPOCH_MARGIN_MS) {
      first = j;
      break;
    }
  }
  const out = sorted.slice(first);
  const ownIdx = sorted.findIndex((e) => e.epoch === own);
  if (ownIdx >= 0 && ownIdx < first) return sorted.slice(ownIdx);
  return out;
}

/**
 * A cached copy of the epoch list, refreshed every EPOCH_REFRESH_MS (and at once when a caller needs an
 * epoch newer than the copy's). When the registry cannot be reached, the copy serves for up to
 * EPOCH_MAX_STALE_MS; after that callers fail (and retry) rather than decide with an old list.
 */
export class EpochCache {
  private list: Epoch[] | null = null;
  private fetchedAt = 0;
  private inflight: Promise<Epoch[]> | null = null;

  constructor(private readonly load: () => Promise<Epoch[]>) {}

  async get(now: number, mustInclude?: number): Promise<Epoch[]> {
    const has = (l: Epoch[]) => l.length > 0 && (mustInclude === undefined || l.some((e) => e.epoch >= mustInclude));
    if (this.list && now - this.fetchedAt < EPOCH_REFRESH_MS && has(this.list)) return this.list;
    try {
      this.inflight ??= this.load().finally(() => (this.inflight = null));
      const list = await this.inflight;
      this.list = list;
      this.fetchedAt = now;
    } catch (err) {
      if (!this.list || now - this.fetchedAt >= EPOCH_MAX_STALE_MS) throw err;
    }
    if (!has(this.list)) throw new Error(`shard epoch ${mustInclude} is unknown to the registry`);
    return this.list;
  }

  /** The newest epoch (what new forwards are planned in). */
  async current(now: number): Promise<Epoch> {
    const list = await this.get(now);
    return list.reduce((a, b) => (b.epoch > a.epoch ? b : a));
  }
}
