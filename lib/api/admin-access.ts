// /admin/v1/tokens and /admin/v1/audit.
import { z } from "zod";
import { NAMESPACE_RE, Timestamp } from "./common.ts";
import { ROLES } from "../roles.ts";

export { ROLES };

export const CreateToken = z.object({
  name: z.string().trim().min(1).max(100),
  role: z.enum(ROLES),
  namespaces: z
    .array(z.string().refine((s) => s === "*" || NAMESPACE_RE.test(s), "must be '*' or a namespace name"))
    .min(1)
    .max(100)
    .optional()
    .meta({ description: "defaults to the minting token's own scope" }),
});
export const TokenListQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export const AuditQuery = z.object({
  namespace: z.string().regex(NAMESPACE_RE).optional(),
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  order: z.enum(["asc", "desc"]).default("asc"),
});

export const TokenCreated = z
  .object({ id: z.string(), token: z.string().meta({ description: "the secret: shown once, never stored" }), name: z.string(), role: z.enum(ROLES), namespaces: z.array(z.string()), created_at: Timestamp })
  .meta({ id: "TokenCreated" });
export const TokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  namespaces: z.array(z.string()),
  created_at: Timestamp,
  created_by: z.string(),
  revoked_at: Timestamp.nullable(),
});
export const TokenList = z.object({ tokens: z.array(TokenInfo) });
export const TokenRevoked = z.object({ id: z.string(), revoked_at: Timestamp });

export const AuditEntry = z
  .object({
    seq: z.number().int(),
    ts: Timestamp,
    actor: z.string(),
    action: z.string(),
    namespace: z.string().nullable(),
    version: z.number().int().nullable(),
    rollout_id: z.string().nullable(),
    details: z.unknown(),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: "AuditEntry" });
export const AuditList = z.object({ entries: z.array(AuditEntry), next_after: z.number().int().nullable() });
export const AuditVerify = z.object({ ok: z.boolean(), checked: z.number().int(), head: z.string(), first_bad_seq: z.number().int().nullable(), reason: z.string().nullable() });

export type CreateTokenBody = z.input<typeof CreateToken>;
export type AuditQueryInput = Partial<z.output<typeof AuditQuery>>;
export type TokenCreated = z.infer<typeof TokenCreated>;
export type TokenInfo = z.infer<typeof TokenInfo>;
export type TokenList = z.infer<typeof TokenList>;
export type TokenRevoked = z.infer<typeof TokenRevoked>;
export type AuditEntry = z.infer<typeof AuditEntry>;
export type AuditList = z.infer<typeof AuditList>;
export type AuditVerify = z.infer<typeof AuditVerify>;
