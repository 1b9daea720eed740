import { ApiError, badRequest } from "../errors";
import { MAX_EVENTS_PER_REQUEST } from "./validate";

export type ClickBodyFormat = "json" | "ndjson";

/**
 * The body format of POST /v1/clicks from its Content-Type: `application/json` and `text/plain`
 * (what navigator.sendBeacon sends for a string) carry the `{"events": [...]}` envelope;
 * `application/x-ndjson` (also `application/jsonl`, `application/jsonlines`) one event per line.
 */
export function clickBodyFormat(contentType: string | undefined): ClickBodyFormat {
  const mime = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (mime === "application/json" || mime === "text/plain") return "json";
  if (mime === "application/x-ndjson" || mime === "application/jsonl" || mime === "application/jsonlines" || mime === "application/x-jsonlines") return "ndjson";
  throw new ApiError(415, "unsupported_media_type", mime ? `Content-Type '${mime}' is not supported` : "Content-Type is required", {
    supported: ["application/json", "application/x-ndjson", "text/plain"],
  });
}

function tooMany(n: number): ApiError {
  return new ApiError(413, "too_many_events", `A request carries at most ${MAX_EVENTS_PER_REQUEST} events (got ${n})`, {
    limit: MAX_EVENTS_PER_REQUEST,
    count: n,
  });
}

/** Parses a click body into its raw events (each validated separately later). Throws 400/413. */
export function parseClickBody(format: ClickBodyFormat, text: string): unknown[] {
  if (format === "ndjson") return parseNdjson(text);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badRequest("invalid_json", "Request body is not valid JSON", { reason: (e as Error).message });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw) || !("events" in raw)) {
    throw badRequest("invalid_body", 'Request body must be an object {"events": [...]}');
  }
  const events = raw.events;
  if (!Array.isArray(events)) throw badRequest("invalid_body", '"events" must be an array');
  if (events.length > MAX_EVENTS_PER_REQUEST) throw tooMany(events.length);
  return events;
}

function parseNdjson(text: string): unknown[] {
  const lines = text.split("\n");
  const events: unknown[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    if (events.length === MAX_EVENTS_PER_REQUEST) throw tooMany(lines.filter((l) => l.trim() !== "").length);
    try {
      events.push(JSON.parse(line));
    } catch (e) {
      throw badRequest("invalid_json", `Line ${i + 1} is not valid JSON`, { line: i + 1, reason: (e as Error).message });
    }
  }
  return events;
}
