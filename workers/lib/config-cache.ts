import { ApiError, asApiError } from "../../lib/errors";
import { withTimeout } from "../../lib/timeout";
import { releaseKey, versionKey } from "../../lib/config/kv-keys";
import type { ReleaseState } from "../../lib/config/release";
import type { VersionBlob } from "../../lib/config/types";
import { coordinator } from "./config-coordinator";

/**
 * Caches of the edge read path (docs/production.md §7). Version blobs are immutable, so they are kept
 * until evicted (bounded LRU by entries and bytes). The release state is small and changes: it is read
 * from the coordinator through a per-isolate and a per-PoP copy of a few hundred ms, with KV as the
 * fallback; a client that has seen a newer generation forces a re-read.
 */
export const RELEASE_TTL_MS = 200;
/** How long the PoP's copy (Cache API) answers for the whole PoP before one isolate re-reads the coordinator. */
export const POP_RELEASE_TTL_MS = 500;
/** A coordinator slower than this counts as down: the read is served from the last known release. */
export const COORDINATOR_TIMEOUT_MS = 1000;
/** While one request re-reads, the others of the isolate may serve a copy up to this old. */
const REFRESH_HOLD_MS = RELEASE_TTL_MS + 100;
/** The PoP copy is kept this long as a fallback (freshness is judged by its own timestamp). */
const POP_KEEP_SECONDS = 300;
const BLOB_MAX_ENTRIES = 1000;
const BLOB_MAX_BYTES = 64 * 1024 * 1024;
const RELEASE_MAX_ENTRIES = 10_000;
/** KV's own edge cache for immutable blobs (seconds). */
const BLOB_KV_CACHE_TTL = 86_400;

export interface CachedBlob {
  version: number;
  hash: string;
  /** The values, already serialized: responses splice it in without re-stringifying. */
  valuesJson: string;
  etag: string;
  bytes: number;
  /** The last 200 body built from this blob (it only changes with the namespace's generation). */
  body: { generation: number; bytes: Uint8Array<ArrayBuffer> } | null;
}

const encoder = new TextEncoder();

/** The 200 body `{namespace, version, hash, generation, values}`, encoded once per generation. */
export function responseBody(ns: string, blob: CachedBlob, generation: number): Uint8Array<ArrayBuffer> {
  if (blob.body && blob.body.generation === generation) return blob.body.bytes;
  const text =
    `{"namespace":${JSON.stringify(ns)},"version":${blob.version},"hash":${JSON.stringify(blob.hash)},` +
    `"generation":${generation},"values":${blob.valuesJson}}`;
  const bytes = encoder.encode(text) as Uint8Array<ArrayBuffer>;
  blob.body = { generation, bytes };
  return bytes;
}

interface CachedRelease {
  state: ReleaseState | null;
  at: number;
  /** A fallback copy (KV, or an older isolate/PoP copy) served because the coordinator did not answer. */
  stale: boolean;
}

/** What the edge read path gets: the release state (null: no such namespace) and whether it is a fallback copy. */
export interface ReleaseRead {
  state: ReleaseState | null;
  stale: boolean;
}

/** The per-PoP copy in the Cache API: the state and when it was read from the coordinator. */
interface PopEntry {
  state: ReleaseState | null;
  at: number;
}

const releases = new Map<string, CachedRelease>();
/** Namespaces whose release state some request of this isolate is re-reading right now (start time). */
const refreshing = new Map<string, number>();
const blobs = new Map<string, CachedBlob>();
let blobBytes = 0;

export function clearConfigCaches(): void {
  releases.clear();
  refreshing.clear();
  blobs.clear();
  blobBytes = 0;
}

/** Strong ETag of a version: the content hash plus the version number (same values, other version → other tag). */
export function etagOf(version: number, hash: string): string {
  return `"v${version}-${hash.replace(/^sha256:/, "").slice(0, 32)}"`;
}

function kvReadFailed(e: unknown): null {
  console.error("config KV read failed", String((e as Error)?.message ?? e));
  return null;
}

function unavailable(ns: string, minGeneration: number | null, cause: unknown): ApiError {
  return new ApiError(503, "config_unavailable", `The release state of '${ns}' cannot be read right now; retry shortly`, {
    namespace: ns,
    min_generation: minGeneration,
    cause: String((cause as Error)?.message ?? cause).slice(0, 200),
  });
}

async function fromCoordinator(env: Env, ns: string): Promise<ReleaseState | null> {
  try {
    return await withTimeout(coordinator(env, ns).getRelease(ns), COORDINATOR_TIMEOUT_MS, "RolloutCoordinator.getRelease");
  } catch (e) {
    if (asApiError(e)?.code === "namespace_not_found") return null;
    throw e;
  }
}

const popUrl = (ns: string) => `https://config-release.edgeplane.internal/${encodeURIComponent(ns)}`;

/** The PoP's copy (Cache API; a no-op on workers.dev, where every isolate reads the coordinator). */
async function popRead(ns: string): Promise<PopEntry | null> {
  try {
    const res = await caches.default.match(popUrl(ns));
    return res ? ((await res.json()) as PopEntry) : null;
  } catch (e) {
    console.error("config PoP cache read failed", String((e as Error)?.message ?? e));
    return null;
  }
}

async function popWrite(ns: string, entry: PopEntry): Promise<void> {
  try {
    const res = new Response(JSON.stringify(entry), {
      headers: { "Content-Type": "application/json", "Cache-Control": `max-age=${POP_KEEP_SECONDS}` },
    });
    await caches.default.put(popUrl(ns), res);
  } catch (e) {
    console.error("config PoP cache write failed", String((e as Error)?.message ?? e));
  }
}

function store(ns: string, state: ReleaseState | null, stale: boolean): ReleaseRead {
  const cur = releases.get(ns);
  // Never move the cache backwards (an older PoP or KV copy must not undo a newer coordinator read).
  if (cur?.state && (!state || cur.state.generation > state.generation)) state = cur.state;
  releases.delete(ns); // LRU order: re-inserted as the newest
  releases.set(ns, { state, at: Date.now(), stale });
  if (releases.size > RELEASE_MAX_ENTRIES) releases.delete(releases.keys().next().value as string);
  return { state, stale };
}

/**
 * The coordinator did not answer (error, overload, timeout): serve the newest copy this edge knows
 * (isolate, PoP, KV), marked stale — but never one older than the generation the client has seen.
 */
async function fallback(env: Env, ns: string, minGeneration: number | null, known: (ReleaseState | null | undefined)[], cause: unknown): Promise<ReleaseRead> {
  console.error("config coordinator unavailable; serving the last known release", ns, String((cause as Error)?.message ?? cause));
  const kv = await env.CONFIG_KV.get<ReleaseState>(releaseKey(ns), "json").catch(kvReadFailed);
  let best: ReleaseState | null = null;
  for (const s of [...known, kv]) if (s && (!best || s.generation > best.generation)) best = s;
  if (!best || (minGeneration !== null && best.generation < minGeneration)) throw unavailable(ns, minGeneration, cause);
  return store(ns, best, true);
}

/**
 * The namespace's release state (null: no such namespace), never older than `minGeneration`.
 * Tiers: isolate copy (RELEASE_TTL_MS) → PoP copy in the Cache API (POP_RELEASE_TTL_MS) → the
 * coordinator (the authority). KV is only the fallback when the coordinator cannot answer, so a
 * change reaches every new reader within RELEASE_TTL_MS + POP_RELEASE_TTL_MS, not KV's ~60 s.
 */
export async function getRelease(env: Env, ns: string, minGeneration: number | null): Promise<ReleaseRead> {
  const now = Date.now();
  const hit = releases.get(ns);
  const satisfies = (s: ReleaseState | null | undefined) => minGeneration === null || (!!s && s.generation >= minGeneration);
  // A client that has seen a newer generation than the copy always gets the coordinator's answer: a
  // copy read from the coordinator a moment ago may predate a change the client saw elsewhere.
  if (hit && now - hit.at < RELEASE_TTL_MS && satisfies(hit.state)) return { state: hit.state, stale: hit.stale };
  // Another request of this isolate is already re-reading: serve the copy a little longer rather than
  // stampede the PoP cache and the coordinator. (Requests never await each other's I/O: workerd
  // refuses I/O continued in another request's context.)
  const since = refreshing.get(ns);
  if (hit && since !== undefined && now - since < REFRESH_HOLD_MS && now - hit.at < REFRESH_HOLD_MS && satisfies(hit.state)) {
    return { state: hit.state, stale: hit.stale };
  }
  refreshing.set(ns, now);
  let pop: PopEntry | null = null;
  try {
    pop = await popRead(ns);
    if (pop && now - pop.at < POP_RELEASE_TTL_MS && satisfies(pop.state)) return store(ns, pop.state, false);
    let state: ReleaseState | null;
    try {
      state = await fromCoordinator(env, ns);
    } catch (e) {
      return await fallback(env, ns, minGeneration, [hit?.state, pop?.state], e);
    }
    await popWrite(ns, { state, at: Date.now() });
    return store(ns, state, false);
  } finally {
    if (refreshing.get(ns) === now) refreshing.delete(ns);
  }
}

function remember(key: string, blob: CachedBlob): void {
  blobs.set(key, blob);
  blobBytes += blob.bytes;
  while (blobs.size > BLOB_MAX_ENTRIES || blobBytes > BLOB_MAX_BYTES) {
    const oldest = blobs.keys().next().value as string;
    blobBytes -= blobs.get(oldest)!.bytes;
    blobs.delete(oldest);
  }
}

function toCached(blob: VersionBlob): CachedBlob {
  const valuesJson = JSON.stringify(blob.values);
  return { version: blob.version, hash: blob.hash, valuesJson, etag: etagOf(blob.version, blob.hash), bytes: valuesJson.length * 5 + 400, body: null };
}

/** An immutable version blob: isolate LRU, then KV, then the coordinator (KV may not have it yet). */
export async function getVersionBlob(env: Env, ns: string, version: number): Promise<CachedBlob | null> {
  const key = versionKey(ns, version);
  const hit = blobs.get(key);
  if (hit) {
    blobs.delete(key); // LRU: re-insert as newest
    blobs.set(key, hit);
    return hit;
  }
  let blob = await env.CONFIG_KV.get<VersionBlob>(key, { type: "json", cacheTtl: BLOB_KV_CACHE_TTL }).catch(kvReadFailed);
  if (!blob) {
    try {
      blob = await withTimeout(coordinator(env, ns).getVersionBlob(ns, version), COORDINATOR_TIMEOUT_MS, "RolloutCoordinator.getVersionBlob");
    } catch (e) {
      if (asApiError(e)?.code !== "namespace_not_found") throw unavailable(ns, null, e);
      blob = null;
    }
  }
  if (!blob) return null;
  const cached = toCached(blob);
  remember(key, cached);
  return cached;
}
