import { notFound } from "../../lib/errors";
import { resolveVersion, type ReleaseState } from "../../lib/config/release";
import { getRelease, getVersionBlob, type CachedBlob } from "./config-cache";

/** One config read as every client-facing route (GET /v1/configs/:ns, OFREP) resolves it. */
export interface ConfigReadInput {
  ns: string;
  /** `?version=N`: exactly that version. */
  pinned: number | null;
  /** The generation the client last saw (`X-Config-Generation`): the answer is never based on an older one. */
  minGeneration: number | null;
  region: string | null;
  clientId: string | null;
}

export interface ConfigRead {
  release: ReleaseState;
  blob: CachedBlob;
  /** True when the coordinator could not be reached and the last known release answered. */
  stale: boolean;
}

/**
 * Resolves the version a client gets and its values: 404 namespace_not_found / no_release /
 * version_not_found, 503 config_unavailable when neither the coordinator nor any copy can answer.
 * Needs neither D1 nor (while a copy is known) the coordinator.
 */
export async function readConfig(env: Env, input: ConfigReadInput): Promise<ConfigRead> {
  const { ns } = input;
  const { state: release, stale } = await getRelease(env, ns, input.minGeneration);
  if (!release) throw notFound("namespace_not_found", `Namespace '${ns}' does not exist`, { namespace: ns });
  const version = input.pinned ?? resolveVersion(release, input.region, input.clientId);
  if (version === null) throw notFound("no_release", `Namespace '${ns}' has no released version yet`, { namespace: ns });
  const blob = await getVersionBlob(env, ns, version);
  if (!blob) throw notFound("version_not_found", `Namespace '${ns}' has no version ${version}`, { namespace: ns, version });
  return { release, blob, stale };
}

/** Response headers of a config answer (200 and 304). */
export function configHeaders(read: ConfigRead): Record<string, string> {
  const headers: Record<string, string> = {
    ETag: read.blob.etag,
    "X-Config-Version": String(read.blob.version),
    "X-Config-Generation": String(read.release.generation),
    "Cache-Control": "private, no-cache",
  };
  if (read.stale) headers["X-Config-Stale"] = "1";
  return headers;
}
