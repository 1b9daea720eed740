import type { ReleaseState } from "../config/release";

/**
 * OpenFeature Remote Evaluation Protocol (OFREP) answers for a config namespace. A flag is a
 * top-level key of the namespace's values; which version a client sees is decided exactly as for
 * `GET /v1/configs/:ns` (lib/config/release.ts); this module only shapes the answer.
 */

export type OfrepReason = "STATIC" | "SPLIT";

/** OFREP error codes (OpenFeature spec "error codes") the routes use. */
export type OfrepErrorCode = "PARSE_ERROR" | "INVALID_CONTEXT" | "TARGETING_KEY_MISSING" | "FLAG_NOT_FOUND" | "GENERAL";

export const MAX_TARGETING_KEY = 256;

/** How the client's region relates to a rollout: no rollout → STATIC; a candidate in the region → SPLIT. */
export interface Placement {
  reason: OfrepReason;
  /** True when the answer depends on the targeting key (0 < percent < 100 in the client's region). */
  needsTargetingKey: boolean;
}

export function placement(release: ReleaseState, region: string | null): Placement {
  const r = region ? release.regions[region] : undefined;
  if (!r || r.candidate === null || !r.rollout_id || r.percent <= 0) return { reason: "STATIC", needsTargetingKey: false };
  return { reason: "SPLIT", needsTargetingKey: r.percent < 100 };
}

/** `v<version>`: the variant names the version the client got. */
export const variantOf = (version: number) => `v${version}`;

/**
 * The per-flag pieces of a version, serialized once per blob: the bulk answer and single-flag answers
 * are spliced from these strings instead of re-stringifying the values on every request.
 */
export interface FlagTable {
  keys: string[];
  /** key → JSON of the value */
  json: Map<string, string>;
}

export function flagTable(valuesJson: string): FlagTable {
  const values = JSON.parse(valuesJson) as Record<string, unknown>;
  const keys = Object.keys(values);
  const json = new Map<string, string>();
  for (const k of keys) json.set(k, JSON.stringify(values[k]));
  return { keys, json };
}

export interface Evaluated {
  version: number;
  generation: number;
  reason: OfrepReason;
}

function metadataJson(e: Evaluated): string {
  return `{"version":${e.version},"generation":${e.generation}}`;
}

/** `{"key","value","reason","variant","metadata"}` of one flag (the flag must exist in `table`). */
export function flagJson(table: FlagTable, key: string, e: Evaluated): string {
  return (
    `{"key":${JSON.stringify(key)},"value":${table.json.get(key)},"reason":"${e.reason}",` +
    `"variant":"${variantOf(e.version)}","metadata":${metadataJson(e)}}`
  );
}

/** The bulk answer `{flags, metadata, eventStreams?}`; `e` null = the namespace has no release yet. */
export function bulkJson(table: FlagTable | null, e: Evaluated | null, generation: number, streamUrl: string | null): string {
  const flags = table && e ? table.keys.map((k) => flagJson(table, k, e)).join(",") : "";
  const meta = e ? metadataJson(e) : `{"generation":${generation}}`;
  const streams = streamUrl ? `,"eventStreams":[{"type":"sse","url":${JSON.stringify(streamUrl)}}]` : "";
  return `{"flags":[${flags}],"metadata":${meta}${streams}}`;
}

/** The `etag` an event stream announces for a release generation; sent back as `flagConfigEtag`. */
export const generationTag = (generation: number) => `"g${generation}"`;

/** `flagConfigEtag` (from a stream event) → the generation the re-fetch must not be older than. */
export function generationFromTag(tag: string | undefined): number | null {
  if (!tag) return null;
  const m = /^(?:W\/)?"?g([0-9]{1,15})"?$/.exec(tag.trim());
  return m ? Number(m[1]) : null;
}

/** Unix seconds of an ISO time (the events' `lastModified`); 0 when unparsable. */
export function unixSeconds(iso: string): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}
