import { z } from "zod";

// OFREP (OpenFeature Remote Evaluation Protocol) request and answer shapes, as
// open-feature/protocol's service/openapi.yaml defines them. The Worker (workers/lib/ofrep-eval.ts)
// parses requests with its own stricter limits; these schemas describe the contract.

export const OfrepEvaluationRequest = z.object({
  context: z
    .object({ targetingKey: z.string().min(1).optional().meta({ description: "the client id (cohort key)" }) })
    .loose(),
});

export const OfrepFlag = z
  .object({
    key: z.string(),
    value: z.unknown(),
    reason: z.enum(["STATIC", "SPLIT"]),
    variant: z.string().meta({ description: "names the version, e.g. `v3`" }),
    metadata: z.object({ version: z.number().int(), generation: z.number().int() }).loose(),
  })
  .loose();

export const OfrepBulk = z
  .object({
    flags: z.array(OfrepFlag),
    eventStreams: z.array(z.object({ type: z.literal("sse"), url: z.string() }).loose()).optional(),
  })
  .loose();

export const OfrepError = z
  .object({ key: z.string().optional(), errorCode: z.string(), errorDetails: z.string().optional() })
  .loose();

export type OfrepFlag = z.infer<typeof OfrepFlag>;
export type OfrepBulk = z.infer<typeof OfrepBulk>;
