/**
 * Which ClickBuffer a request goes to, with a buffer count derived from load instead of a var someone
 * must raise (docs/production.md §4). An isolate deals its requests round-robin over `slots` buffers
 * per location group (starting at its random seed), so the load of a group spreads evenly over its
 * buffers. Every store() answer carries the buffer's store RPCs per second; an isolate that hears a
 * buffer above TARGET_RPS doubles its slot count (at most once a second); after a minute in which every
 * buffer it heard from stayed below a quarter of that, it halves it again (never below CLICK_BUFFERS).
 */
export const TARGET_RPS = 400;
export const MAX_SLOTS = 1024;
/** Doubling at most this often: a buffer's load report lags by up to a second. */
const GROW_EVERY_MS = 1_000;
/** Shrink only after this long below TARGET_RPS / 4. */
const SHRINK_AFTER_MS = 60_000;

export class BufferChooser {
  private slots: number;
  private lastGrow = -Infinity;
  private quietSince: number | null = null;
  private next = 0;

  constructor(
    private readonly floor: number,
    /** This isolate's random seed (a uint32). */
    private readonly seed: number,
  ) {
    this.slots = Math.max(1, floor);
  }

  get slotCount(): number {
    return this.slots;
  }

  /** The slot for the next request (round-robin from the seed). */
  slot(): number {
    this.next = (this.next + 1) >>> 0;
    return (this.seed + this.next) % this.slots;
  }

  /** A buffer's reported store RPCs per second. */
  report(load: number, now: number): void {
    if (load > TARGET_RPS) {
      this.quietSince = null;
      if (now - this.lastGrow >= GROW_EVERY_MS && this.slots < MAX_SLOTS) {
        this.slots *= 2;
        this.lastGrow = now;
      }
    } else if (load < TARGET_RPS / 4) {
      this.quietSince ??= now;
      if (now - this.quietSince >= SHRINK_AFTER_MS && this.slots > Math.max(1, this.floor)) {
        this.slots = Math.max(Math.max(1, this.floor), this.slots / 2);
        this.quietSince = now;
      }
    } else {
      this.quietSince = null;
    }
  }
}

/** A ClickBuffer's name: `buffer:<location group>:<slot>` (workers/lib/click-ingest.ts). */
const BUFFER_NAME = /^buffer:([a-z]{1,8}):(\d{1,4})$/;

/** The group and slot of a well-formed buffer name whose slot an isolate can reach (< MAX_SLOTS); else null. */
export function parseBufferName(name: unknown): { group: string; slot: number } | null {
  const m = typeof name === "string" ? BUFFER_NAME.exec(name) : null;
  return m !== null && Number(m[2]) < MAX_SLOTS ? { group: m[1], slot: Number(m[2]) } : null;
}

export function isBufferName(name: unknown): name is string {
  return parseBufferName(name) !== null;
}
