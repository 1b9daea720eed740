import type { z } from "zod";
import { ApiError, badRequest } from "../../lib/errors";
import { jsonNestingDepth, MAX_JSON_DEPTH } from "../../lib/json-depth";
import type { AppContext } from "./context";

export const DEFAULT_BODY_LIMIT = 64 * 1024;
const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

/** Reads the raw body as text, refusing more than `maxBytes` (413) without buffering past the limit. */
export async function readBodyText(c: AppContext, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const body = c.req.raw.body;
  if (!body) return "";
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      // Read on (discarding, bounded) before answering: cancelling a body still being uploaded breaks
      // the connection under `wrangler dev` and can take the whole dev server down (workers-sdk#15709, #15203).
      for (let drained = size; drained < MAX_DRAIN_BYTES; ) {
        const next = await reader.read();
        if (next.done) break;
        drained += next.value.byteLength;
      }
      await reader.cancel().catch(() => {});
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
