import { z } from "zod";
import { ApiError } from "../../lib/errors";
import { jsonNestingDepth, MAX_JSON_DEPTH } from "../../lib/json-depth";
import { resolveVersion, type ReleaseState } from "../../lib/config/release";
import { flagTable, MAX_TARGETING_KEY, placement, type Evaluated, type FlagTable, type OfrepErrorCode } from "../../lib/ofrep/evaluate";
import { readBodyText } from "./body";
import { getRelease, getVersionBlob, type CachedBlob } from "./config-cache";
import type { AppContext } from "./context";
import { requestRegion } from "./region";

/**
 * The OFREP routes' evaluation: the same functions as `GET /v1/configs/:ns` (release cache, cohort
 * resolution, version blobs), so both give a client the same version.
 */

const BODY_LIMIT = 64 * 1024;

/** An ApiError that also names its OFREP error code (rendered by workers/ofrep.ts). */
export function ofrepError(status: number, errorCode: OfrepErrorCode, code: string, message: string, details: Record<string, unknown> = {}): ApiError {
  return new ApiError(status, code, message, { ...details, ofrep_error_code: errorCode });
}

const Context = z
  .object({
    targetingKey: z.string().min(1).max(MAX_TARGETING_KEY).optional(),
  })
  .loose();
const Body = z.object({ context: Context }).loose();

export interface EvalRequest {
  targetingKey: string | null;
}

/** Parses `{"context": {...}}`: PARSE_ERROR for bodies that are not a JSON object, INVALID_CONTEXT for a bad context. */
export async function readEvalRequest(c: AppContext): Promise<EvalRequest> {
  const text = await readBodyText(c, BODY_LIMIT);
  if (jsonNestingDepth(text) > MAX_JSON_DEPTH) throw ofrepError(400, "PARSE_ERROR", "json_too_deep", `JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw ofrepError(400, "PARSE_ERROR", "invalid_json", "Request body is not valid JSON", { reason: (e as Error).message });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw ofrepError(400, "PARSE_ERROR", "invalid_request", "Request body must be a JSON object");
  const r = Body.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: "/" + i.path.map(String).join("/"), message: i.message }));
    throw ofrepError(400, "INVALID_CONTEXT", "invalid_context", `context must be an object whose targetingKey is a string of 1-${MAX_TARGETING_KEY} characters`, { issues });
  }
  return { targetingKey: r.data.context.targetingKey ?? null };
}

const tables = new WeakMap<CachedBlob, FlagTable>();

/** The flag table of a cached version blob (built once per blob, dropped with it). */
function tableOf(blob: CachedBlob): FlagTable {
  let t = tables.get(blob);
  if (!t) {
    t = flagTable(blob.valuesJson);
    tables.set(blob, t);
  }
  return t;
}

export interface Evaluation {
  release: ReleaseState;
  /** The coordinator could not be reached and the last known release answered (X-Config-Stale). */
  stale: boolean;
  /** null: the namespace exists but has no released version yet. */
  result: { table: FlagTable; evaluated: Evaluated } | null;
}

/**
 * Evaluates the namespace for one client: region from the request (as the config read), cohort from
 * the targeting key; `minGeneration` (from a stream event's etag) forces a release state at least
 * that new. 404 for an unknown namespace, 400 TARGETING_KEY_MISSING when the client's region is
 * split by a rollout and no targeting key was sent.
 */
export async function evaluateNamespace(c: AppContext, ns: string, req: EvalRequest, minGeneration: number | null): Promise<Evaluation> {
  const { state: release, stale } = await getRelease(c.env, ns, minGeneration);
  if (!release) throw ofrepError(404, "FLAG_NOT_FOUND", "namespace_not_found", `Namespace '${ns}' does not exist`, { namespace: ns });
  const region = requestRegion(c);
  const place = placement(release, region);
  if (place.needsTargetingKey && req.targetingKey === null) {
    throw ofrepError(400, "TARGETING_KEY_MISSING", "targeting_key_missing", "A rollout splits this region by client: context.targetingKey is required", { region });
  }
  const version = resolveVersion(release, region, req.targetingKey);
  if (version === null) return { release, stale, result: null };
  const blob = await getVersionBlob(c.env, ns, version);
  if (!blob) throw new ApiError(500, "version_unavailable", `Version ${version} of '${ns}' could not be read`);
  return { release, stale, result: { table: tableOf(blob), evaluated: { version, generation: release.generation, reason: place.reason } } };
}
