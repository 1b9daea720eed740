// Building blocks of the HTTP contract, shared by the Worker (request validation), the OpenAPI
// document (workers/openapi.ts) and @edgeplane/client (types). Only zod and extension-qualified
// relative imports here: the CLI runs these files directly on Node 22.
import { z } from "zod";
import { NAMESPACE_RE } from "../roles.ts";

export { NAMESPACE_RE };

/** Every failure: `{"error": {code, message, details}}`. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: "stable snake_case code, e.g. validation_failed" }),
      message: z.string(),
      details: z.unknown().meta({ description: "what exactly was wrong (per field issues, limits, …) or null" }),
    }),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBody>;

export const NamespaceName = z.string().regex(NAMESPACE_RE).meta({ description: "namespace name", example: "checkout" });

export const JsonObject = z
  .custom<Record<string, unknown>>((v) => typeof v === "object" && v !== null && !Array.isArray(v), "must be a JSON object")
  .meta({ type: "object", additionalProperties: true });

export const Timestamp = z.string().meta({ description: "RFC 3339 timestamp", example: "2026-11-30T08:00:00.000Z" });
