/** The click pipeline's tunables, read from the Worker's vars (strings) with safe defaults. */
export interface ClickSettings {
  /** Shards hand their open cells to the aggregators once per this interval (freshness: ack → metrics). */
  flushIntervalMs: number;
  /**
   * Aggregators write their cells to D1 once per this interval (≥ flushIntervalMs): ≤ 60 000 / it D1 rows
   * per cell per minute. The metrics API adds what they hold meanwhile (workers/lib/pending-clicks.ts).
   */
  d1IntervalMs: number;
  latenessMs: number;
  skewMs: number;
  /** Dedup horizon: a click_id is remembered this long after it arrived (lateness + skew). */
  horizonMs: number;
  shards: number;
  /** ClickAggregators (`agg:<i>`) that merge the shards' partial counts before D1; may change with any deploy. */
  aggregators: number;
  /**
   * A shard hands its open cells to the aggregators this long before the next flush boundary (a multiple
   * of the flush interval), so that they reach it in time (lib/clicks/flush-schedule.ts): min(200, interval / 5).
   */
  handoffLeadMs: number;
  buffersPerGroup: number;
  /** Per-client rate limits (the CLICK_RATE_LIMITER bindings) on; off only for load tests. */
  rateLimit: boolean;
  /**
   * Tokens one request draws from its budget (default 1): the effective limit is the binding's
   * `simple.limit` ÷ this. Tightens the limits without redeploying the bindings (and lets tests reach them).
   */
  rateLimitWeight: number;
  /** "buffer" (default) or "direct" (one RPC per shard per request; kept for measurement). */
  mode: "buffer" | "direct";
}

/** The vars this module reads (a Worker's Env satisfies it). */
export interface ClickVars {
  FLUSH_INTERVAL_MS?: unknown;
  D1_FLUSH_INTERVAL_MS?: unknown;
  ALLOWED_LATENESS_SECONDS?: unknown;
  MAX_CLOCK_SKEW_SECONDS?: unknown;
  CLICK_SHARDS?: unknown;
  CLICK_BUFFERS?: unknown;
  CLICK_AGGREGATORS?: unknown;
  CLICK_RATE_LIMIT?: unknown;
  CLICK_RATE_LIMIT_WEIGHT?: unknown;
  /** Before the Rate Limiting binding: "0" still turns the limits off. */
  CLICK_RATE_LIMIT_PER_MINUTE?: unknown;
  CLICK_INGEST_MODE?: unknown;
}

function int(v: unknown, dflt: number, min: number, max: number): number {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n)) return dflt;
  return Math.min(max, Math.max(min, Math.floor(n)));
}

const cache = new WeakMap<object, ClickSettings>();

export function clickSettings(vars: ClickVars): ClickSettings {
  const hit = cache.get(vars);
  if (hit) return hit;
  const latenessMs = int(vars.ALLOWED_LATENESS_SECONDS, 86400, 0, 365 * 86400) * 1000;
  const skewMs = int(vars.MAX_CLOCK_SKEW_SECONDS, 300, 0, 86400) * 1000;
  const flushIntervalMs = int(vars.FLUSH_INTERVAL_MS, 1000, 10, 3_600_000);
  const s: ClickSettings = {
    flushIntervalMs,
    d1IntervalMs: int(vars.D1_FLUSH_INTERVAL_MS, 60_000, flushIntervalMs, 3_600_000),
    latenessMs,
    skewMs,
    horizonMs: latenessMs + skewMs,
    shards: int(vars.CLICK_SHARDS, 16, 1, 1024),
    aggregators: int(vars.CLICK_AGGREGATORS, 16, 1, 256),
    handoffLeadMs: Math.min(200, Math.ceil(flushIntervalMs / 5)),
    buffersPerGroup: int(vars.CLICK_BUFFERS, 1, 1, 64),
    rateLimit: vars.CLICK_RATE_LIMIT !== "off" && vars.CLICK_RATE_LIMIT_PER_MINUTE !== "0",
    rateLimitWeight: int(vars.CLICK_RATE_LIMIT_WEIGHT, 1, 1, 100),
    mode: vars.CLICK_INGEST_MODE === "direct" ? "direct" : "buffer",
  };
  cache.set(vars, s);
  return s;
}
