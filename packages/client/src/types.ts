// The API's types, inferred from the Worker's own zod schemas (lib/api/*).

/**
 * The values type of each namespace, by name. Empty here; `edgeplane types <ns>` emits a module
 * augmentation that adds one entry per namespace, so reads through the client are typed.
 */
export interface Namespaces {}

export type {
  CreateVersionBody,
  NamespaceInfo,
  NamespaceList,
  PutNamespaceBody,
  ReleaseState,
  RollbackBody,
  RolloutAction,
  RolloutDetail,
  RolloutList,
  StartRolloutRequest,
  VersionCreated,
  VersionDetail,
  VersionDiff,
  VersionList,
} from "../../../lib/api/admin-config.ts";
export type { RolloutPlan } from "../../../lib/api/rollout-plan.ts";
export type { AuditEntry, AuditList, AuditQueryInput, AuditVerify, CreateTokenBody, TokenCreated, TokenInfo, TokenList, TokenRevoked } from "../../../lib/api/admin-access.ts";
export type {
  ClickEvent,
  ClickLinkCreated,
  CreateClickLinkBody,
  IngestResult,
  IngestStats,
  IngestStatsParams,
  MetricsParams,
  MetricsSeries,
  PipelineEpochs,
  PipelineState,
  TopClicks,
  TopParams,
} from "../../../lib/api/clicks.ts";
export type { ConfigRead, HealthReport, ReportsAccepted } from "../../../lib/api/config-edge.ts";
export type { ErrorBody } from "../../../lib/api/common.ts";
