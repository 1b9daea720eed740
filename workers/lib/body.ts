import type { z } from "zod";
import { ApiError, badRequest } from "../../lib/errors";
import { jsonNestingDepth, MAX_JSON_DEPTH } from "../../lib/json-depth";
import type { AppContext } from "./context";

export const DEFAULT_BODY_LIMIT = 64 * 1024;

/**
 * Reads the raw body as text, refusing more than `maxBytes` (413) without buffering past the limit.
 *
 * An oversize body is read to its end (and discarded) before the 413 goes out, never cancelled:
 * under `wrangler dev`, a request whose body the Worker leaves unread or cancels makes workerd reset
 * the connection, the dev proxy's forward of the request rejects, and wrangler treats that as fatal
 * and exits (workers-sdk#15709, #15203; fix proposed in workers-sdk#15448). Answering early does not
 * help either: clients stop uploading once they have the answer, with the same reset. Reading costs
 * bandwidth, not memory; in production Cloudflare caps request bodies (100-500 MB by plan) before the
 * Worker runs. `drainUnread` does the same for every response whose handler never read the body.
 */
export async function readBodyText(c: AppContext, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  const body = c.req.raw.body;
  if (Number.isFinite(declared) && declared > maxBytes) {
    if (body) await drain(body.getReader());
    throw tooLarge(maxBytes);
  }
  if (!body) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await drain(reader);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const ch of chunks) {
    all.set(ch, at);
    at += ch.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
  } catch {
    throw badRequest("invalid_encoding", "Request body is not valid UTF-8");
  }
}

/** Reads a body to its end, keeping nothing; a client that went away just ends it. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  try {
    for (;;) if ((await reader.read()).done) return;
  } catch {
    /* the client disconnected: nothing left to read */
  } finally {
    reader.releaseLock();
  }
}

/** Reads what the handler left unread of a request body (an early 401/404/400 …); see readBodyText. */
export async function drainUnread(req: Request): Promise<void> {
  if (req.body && !req.bodyUsed && !req.body.locked) await drain(req.body.getReader());
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError(413, "payload_too_large", `Request body exceeds ${maxBytes} bytes`, { limit_bytes: maxBytes });
}

/** Parses a JSON body and validates it with zod; 400 `invalid_json` / `invalid_request` with every issue. */
export async function readJson<T extends z.ZodType>(c: AppContext, schema: T, maxBytes = DEFAULT_BODY_LIMIT): Promise<z.infer<T>> {
  const text = await readBodyText(c, maxBytes);
  const depth = jsonNestingDepth(text);
  if (depth > MAX_JSON_DEPTH) {
    throw badRequest("json_too_deep", `JSON nests ${depth} levels deep; at most ${MAX_JSON_DEPTH} are accepted`, { max_depth: MAX_JSON_DEPTH });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badRequest("invalid_json", "Request body is not valid JSON", { reason: (e as Error).message });
  }
  return parseWith(schema, raw, "invalid_request", "Request body is invalid");
}

/** Validates untrusted input (body, query, params) with zod; 400 with every issue as details. */
export function parseWith<T extends z.ZodType>(schema: T, raw: unknown, code = "invalid_request", message = "Invalid request"): z.infer<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw badRequest(
      code,
      message,
      r.error.issues.map((i) => ({ path: "/" + i.path.map(String).join("/"), message: i.message })),
    );
  }
  return r.data;
}
