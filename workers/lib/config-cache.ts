import { fromRpcError } from "../../lib/errors";
import { releaseKey, versionKey } from "../../lib/config/kv-keys";
import type { ReleaseState } from "../../lib/config/release";
import type { VersionBlob } from "../../lib/config/types";
import { coordinator } from "./config-coordinator";

/**
 * Per-isolate caches of the edge read path. Version blobs are immutable, so they are kept until
 * evicted (bounded LRU by entries and bytes). The release state is small and changes; it is kept
 * for RELEASE_TTL_MS so a publish or rollback is visible within a second, and a client that has
 * seen a newer generation forces a re-read (KV, then the coordinator).
 */
export const RELEASE_TTL_MS = 200;
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
  /** Read from the coordinator itself: nothing newer existed then, whatever generation a client claims. */
  authoritative: boolean;
}

const releases = new Map<string, CachedRelease>();
const blobs = new Map<string, CachedBlob>();
let blobBytes = 0;

export function clearConfigCaches(): void {
  releases.clear();
  blobs.clear();
  blobBytes = 0;
}

/** Strong ETag of a version: the content hash plus the version number (same values, other version → other tag). */
export function etagOf(version: number, hash: string): string {
  return `"v${version}-${hash.replace(/^sha256:/, "").slice(0, 32)}"`;
}

function kvReadFailed(e: unknown): null {
  console.error("config KV read failed; reading from the coordinator", String((e as Error)?.message ?? e));
  return null;
}

async function fromCoordinator(env: Env, ns: string): Promise<ReleaseState | null> {
  try {
    return await coordinator(env, ns).getRelease(ns);
  } catch (e) {
    if (fromRpcError(e)?.code === "namespace_not_found") return null;
    throw e;
  }
}

async function loadRelease(env: Env, ns: string, minGeneration: number | null): Promise<{ state: ReleaseState | null; authoritative: boolean }> {
  // A KV outage is not fatal: the coordinator is the authority (null sends the read there).
  const state = await env.CONFIG_KV.get<ReleaseState>(releaseKey(ns), "json").catch(kvReadFailed);
  // KV is eventually consistent: when it lags behind what the client has seen (or has nothing yet),
  // the coordinator's answer is authoritative.
  if (!state || (minGeneration !== null && state.generation < minGeneration)) return { state: await fromCoordinator(env, ns), authoritative: true };
  return { state, authoritative: false };
}

/** The namespace's release state (null: no such namespace), never older than `minGeneration`. */
export async function getRelease(env: Env, ns: string, minGeneration: number | null): Promise<ReleaseState | null> {
  const now = Date.now();
  const hit = releases.get(ns);
  // A client claiming a generation the coordinator has not reached yet (or a bogus one) is served
  // the coordinator's fresh answer from the cache instead of sending every request to the DO.
  if (hit && now - hit.at < RELEASE_TTL_MS && (minGeneration === null || hit.authoritative || (hit.state !== null && hit.state.generation >= minGeneration))) {
    return hit.state;
  }
  // Each request reads for itself: sharing one in-flight read between requests would run the
  // continuation in another request's I/O context, and workerd then refuses the I/O that follows
  // ("Cannot perform I/O on behalf of a different request"). At most a few extra KV reads per TTL.
  const loaded = await loadRelease(env, ns, minGeneration);
  let state = loaded.state;
  const cur = releases.get(ns);
  // Never move the cache backwards (a lagging KV read must not undo a newer coordinator read).
  if (cur?.state && (!state || cur.state.generation > state.generation)) state = cur.state;
  if (releases.size >= RELEASE_MAX_ENTRIES && !releases.has(ns)) releases.clear();
  releases.set(ns, { state, at: Date.now(), authoritative: loaded.authoritative && state === loaded.state });
  return state;
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
      blob = await coordinator(env, ns).getVersionBlob(ns, version);
    } catch (e) {
      if (fromRpcError(e)?.code !== "namespace_not_found") throw e;
      blob = null;
    }
  }
  if (!blob) return null;
  const cached = toCached(blob);
  remember(key, cached);
  return cached;
}
