import { planForward, toTuples } from "../../lib/clicks/forward";
import { EpochCache, epochShardName } from "../../lib/clicks/epochs";
import { epochLoader } from "../../durable-objects/ClickEpochs";
import { BufferChooser, MAX_SLOTS, parseBufferName } from "../../lib/clicks/buffer-choice";
import { clickSettings } from "../../lib/clicks/settings";
import { unwrap, type Outcome } from "../../lib/outcome";
import type { StoreResult } from "../../durable-objects/ClickBuffer";
import type { NormalizedClick, RejectionCounts } from "../../lib/clicks/types";

export interface IngestResult {
  /** Duplicates, when the design knows them synchronously; undefined otherwise. */
  duplicates?: number;
}

export interface IngestOptions {
  /** Cloudflare's continent code of the request (request.cf.continent), to pick a buffer near it. */
  continent?: string | null;
}

/** Continent → Durable Object location hint, so that a request's buffer lives near its edge. */
const LOCATION_HINTS: Record<string, DurableObjectLocationHint> = {
  NA: "enam",
  SA: "sam",
  EU: "weur",
  AF: "afr",
  AS: "apac",
  OC: "oc",
};
/** Buffer location groups: "any" (no hint) and each hint, in the order the pipeline view lists them. */
const BUFFER_GROUPS: readonly string[] = ["any", ...Object.values(LOCATION_HINTS)];

/**
 * Names of the ClickBuffers the edge uses at the floor count (CLICK_BUFFERS per group; tests and tools
 * enumerate them). Under load an isolate spreads over more slots (`slots`, see lib/clicks/buffer-choice.ts).
 */
export function clickBufferNames(env: Env, slots = clickSettings(env).buffersPerGroup): string[] {
  return BUFFER_GROUPS.flatMap((g) => Array.from({ length: slots }, (_, i) => `buffer:${g}:${i}`));
}

/**
 * Every buffer the pipeline view should show: the configured ones, those this isolate spread over, and
 * those the epoch registry heard from (other isolates' spread), in group order then slot order.
 */
export function knownBufferNames(env: Env, registered: readonly string[]): string[] {
  const own = clickBufferNames(env, Math.max(clickSettings(env).buffersPerGroup, chooser?.slotCount ?? 1));
  const order = (n: string) => {
    const b = parseBufferName(n);
    if (!b) return Number.MAX_SAFE_INTEGER;
    const gi = BUFFER_GROUPS.indexOf(b.group);
    return (gi < 0 ? BUFFER_GROUPS.length : gi) * MAX_SLOTS + b.slot;
  };
  const names = new Set(own);
  for (const n of registered) names.add(n);
  return [...names].sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Makes validated clicks durable in the pipeline (a Durable Object) and resolves only when they are.
 * Shared by POST /v1/clicks and GET /c/:token.
 *
 * Default ("buffer"): ONE RPC to one ClickBuffer, which stores the batch as one row and forwards it
 * to the shards in bulk moments later. "direct" (CLICK_INGEST_MODE=direct): one RPC per shard touched,
 * which knows duplicates synchronously but costs many hops per request (see docs/clicks-pipeline.md).
 */
export async function ingestClicks(env: Env, clicks: NormalizedClick[], rejected: RejectionCounts, opts: IngestOptions = {}): Promise<IngestResult> {
  if (clicks.length === 0 && rejected.invalid + rejected.too_late + rejected.future === 0) return {};
  const settings = clickSettings(env);
  const receivedAt = Date.now();
  if (settings.mode === "direct") {
    epochCache ??= new EpochCache(epochLoader(env, true));
    const epoch = await epochCache.current(receivedAt);
    const plan = planForward([{ receivedAt, clicks: toTuples(clicks), rejected }], epoch.shards, Math.floor(Math.random() * epoch.shards));
    const results = await Promise.all(
      [...plan].map(([s, batch]) => {
        const name = epochShardName(epoch.epoch, s);
        return env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(name)).ingest(name, "edge", 0, batch);
      }),
    );
    return { duplicates: results.reduce((sum, r) => sum + r.duplicates, 0) };
  }
  const hint = opts.continent ? LOCATION_HINTS[opts.continent.toUpperCase()] : undefined;
  chooser ??= new BufferChooser(settings.buffersPerGroup, crypto.getRandomValues(new Uint32Array(1))[0]);
  const name = `buffer:${hint ?? "any"}:${chooser.slot()}`;
  const stub = env.CLICK_BUFFER.get(bufferId(env, name), hint ? { locationHint: hint } : undefined);
  const answer: Outcome<StoreResult> | StoreResult = await stub.store(name, receivedAt, JSON.stringify(toTuples(clicks)), clicks.length, rejected, "outcome");
  // During a gradual deploy a buffer may still run the previous version: it ignores "outcome", answers
  // `{load}` bare and throws its refusal (then a 500: not acknowledged, the client retries).
  const res = "ok" in answer ? unwrap(answer) : answer;
  if (typeof res?.load === "number") chooser.report(res.load, Date.now());
  return {};
}

/** Direct mode only: this isolate's copy of the shard epochs. */
let epochCache: EpochCache | null = null;
/** This isolate's buffer choice (slot count follows the buffers' load reports). */
let chooser: BufferChooser | null = null;

/** The isolate's buffer chooser, for tests and the bench (null before the first buffered ingest). */
export function isolateBufferChooser(): BufferChooser | null {
  return chooser;
}

const ids = new Map<string, DurableObjectId>();
function bufferId(env: Env, name: string): DurableObjectId {
  let id = ids.get(name);
  if (!id) ids.set(name, (id = env.CLICK_BUFFER.idFromName(name)));
  return id;
}
