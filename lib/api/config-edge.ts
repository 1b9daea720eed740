// /v1/configs/:ns: what client apps read, and their health reports.
import { z } from "zod";

export const MAX_CLIENT_ID = 256;

export const ConfigReadQuery = z.object({
  client_id: z.string().min(1).max(MAX_CLIENT_ID).optional().meta({ description: "the cohort key (also X-Client-Id)" }),
  version: z.string().regex(/^[1-9][0-9]{0,9}$/).optional().meta({ description: "pin a version" }),
});

export const ConfigRead = z
  .object({ namespace: z.string(), version: z.number().int(), hash: z.string(), generation: z.number().int(), values: z.record(z.string(), z.unknown()) })
  .meta({ id: "ConfigRead" });

export const Report = z.object({
  client_id: z.string().min(1).max(MAX_CLIENT_ID),
  version: z.number().int().min(1),
  status: z.enum(["ok", "error"]),
  error: z.string().max(2000).optional(),
});
export const Reports = z.union([z.object({ reports: z.array(Report).min(1).max(1000) }), Report]);
export const ReportsAccepted = z.object({ accepted: z.number().int(), ignored: z.number().int().optional() });

export type ConfigRead = z.infer<typeof ConfigRead>;
export type HealthReport = z.infer<typeof Report>;
export type ReportsAccepted = z.infer<typeof ReportsAccepted>;
