import { generationTag, unixSeconds } from "./evaluate";

/**
 * A namespace's release change as the event streams carry it. The event id is the release
 * generation: stable (every connection, leaf and restart names the same change the same way) and
 * increasing, so `Last-Event-ID` says exactly which changes a reconnecting client has seen.
 */
export interface StreamEvent {
  generation: number;
  /** Unix seconds of the release change. */
  lastModified: number;
}

export function streamEventOf(release: { generation: number; updated_at: string }): StreamEvent {
  return { generation: release.generation, lastModified: unixSeconds(release.updated_at) };
}

export function isStreamEvent(x: unknown): x is StreamEvent {
  const e = x as StreamEvent;
  return typeof x === "object" && x !== null && Number.isSafeInteger(e.generation) && e.generation >= 0 && Number.isSafeInteger(e.lastModified);
}

/**
 * The SSE frame (ADR-0008): `event: message`, the OFREP payload in `data`. Missed changes collapse
 * into the newest one: each event means "re-fetch", and its etag names the generation to read at least.
 */
export function sseFrame(e: StreamEvent): string {
  const data = JSON.stringify({ type: "refetchEvaluation", etag: generationTag(e.generation), lastModified: e.lastModified });
  return `id: ${e.generation}\nevent: message\ndata: ${data}\n\n`;
}

/** `Last-Event-ID` (or the URL's `g`): the last generation the client has seen, null when absent/invalid. */
export function parseLastEventId(v: string | null | undefined): number | null {
  if (v === null || v === undefined) return null;
  const t = v.trim();
  return /^[0-9]{1,15}$/.test(t) ? Number(t) : null;
}
