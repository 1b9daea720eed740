// The typed admin API. Every request and response type is inferred from the zod schemas the Worker
// itself uses (lib/api/*), so a change of the contract is a type error here, in the CLI and in the
// dashboard at once.
import type {
  AuditList,
  AuditQueryInput,
  AuditVerify,
  ClickLinkCreated,
  ConfigRead,
  CreateClickLinkBody,
  CreateTokenBody,
  CreateVersionBody,
  HealthReport,
  IngestStats,
  PipelineState,
  IngestStatsParams,
  MetricsParams,
  MetricsSeries,
  NamespaceInfo,
  NamespaceList,
  PutNamespaceBody,
  ReleaseState,
  ReportsAccepted,
  RollbackBody,
  RolloutAction,
  RolloutDetail,
  RolloutList,
  StartRolloutRequest,
  TokenCreated,
  TokenList,
  TokenRevoked,
  TopClicks,
  TopParams,
  VersionCreated,
  VersionDetail,
  VersionDiff,
  VersionList,
} from "./types.ts";
import { seg, Transport, type TransportOptions } from "./http.ts";

const ns = (name: string) => `/admin/v1/namespaces/${seg(name)}`;

/** A client for edgeplane's admin and metrics API. */
export class AdminClient {
  readonly http: Transport;

  constructor(opts: TransportOptions | Transport) {
    this.http = opts instanceof Transport ? opts : new Transport(opts);
  }

  readonly namespaces = {
    list: (q: { limit?: number; cursor?: string } = {}) => this.http.get<NamespaceList>("/admin/v1/namespaces", q),
    get: (name: string) => this.http.get<NamespaceInfo>(ns(name)),
    /** Creates (201) or changes (200) a namespace. */
    put: (name: string, body: PutNamespaceBody) => this.http.send<NamespaceInfo>("PUT", ns(name), body),
    /** `put` with the status: 201 created, 200 changed. */
    putWithStatus: (name: string, body: PutNamespaceBody) => this.http.request<NamespaceInfo>("PUT", ns(name), { body }),
  };

  readonly versions = {
    list: (name: string, q: { limit?: number; cursor?: string } = {}) => this.http.get<VersionList>(`${ns(name)}/versions`, q),
    get: (name: string, version: number) => this.http.get<VersionDetail>(`${ns(name)}/versions/${seg(version)}`),
    diff: (name: string, version: number, against: number) => this.http.get<VersionDiff>(`${ns(name)}/versions/${seg(version)}/diff`, { against }),
    /** Publishes a version; the same `idempotencyKey` publishes once. */
    create: async (name: string, body: CreateVersionBody, opts: { idempotencyKey?: string } = {}) => {
      const r = await this.http.request<VersionCreated>("POST", `${ns(name)}/versions`, {
        body,
        headers: opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : {},
      });
      return { ...r.body, replayed: r.headers.get("idempotency-replayed") === "true" };
    },
    /** Checks values against the namespace's schema; rejects with EdgeplaneError 422 `validation_failed`. */
    validate: (name: string, values: Record<string, unknown>) => this.http.send<{ valid: true }>("POST", `${ns(name)}/validate`, { values }),
  };

  readonly rollouts = {
    start: (name: string, body: StartRolloutRequest) => this.http.send<RolloutDetail>("POST", `${ns(name)}/rollouts`, body),
    list: (name: string, q: { limit?: number } = {}) => this.http.get<RolloutList>(`${ns(name)}/rollouts`, q),
    /** `id` may be `current`: the active rollout, or the latest. */
    get: (name: string, id: string) => this.http.get<RolloutDetail>(`${ns(name)}/rollouts/${seg(id)}`),
    control: (name: string, id: string, action: RolloutAction) => this.http.send<RolloutDetail>("POST", `${ns(name)}/rollouts/${seg(id)}/${action}`),
  };

  /** Emergency rollback: every region to `to_version` at once. */
  rollback(name: string, body: RollbackBody): Promise<ReleaseState> {
    return this.http.send<ReleaseState>("POST", `${ns(name)}/rollback`, body);
  }

  release(name: string): Promise<ReleaseState> {
    return this.http.get<ReleaseState>(`${ns(name)}/release`);
  }

  readonly audit = {
    list: (q: AuditQueryInput = {}) => this.http.get<AuditList>("/admin/v1/audit", q),
    verify: () => this.http.get<AuditVerify>("/admin/v1/audit/verify"),
  };

  readonly tokens = {
    create: (body: CreateTokenBody) => this.http.send<TokenCreated>("POST", "/admin/v1/tokens", body),
    list: (q: { limit?: number } = {}) => this.http.get<TokenList>("/admin/v1/tokens", q),
    revoke: (id: string) => this.http.send<TokenRevoked>("DELETE", `/admin/v1/tokens/${seg(id)}`),
  };

  readonly clicks = {
    metrics: (q: MetricsParams = {}) => this.http.get<MetricsSeries>("/api/v1/clicks/metrics", q),
    top: (q: TopParams = {}) => this.http.get<TopClicks>("/api/v1/clicks/top", q),
    ingestStats: (q: IngestStatsParams = {}) => this.http.get<IngestStats>("/api/v1/clicks/ingest-stats", q),
    /** Shard epochs and what waits at each hop (buffers, shards, aggregators) on its way to D1. */
    pipeline: () => this.http.get<PipelineState>("/api/v1/clicks/pipeline"),
    createLink: (body: CreateClickLinkBody) => this.http.send<ClickLinkCreated>("POST", "/admin/v1/click-links", body),
  };

  /** What a client app with this token reads at the edge (reader role). */
  readConfig(name: string, q: { client_id?: string; version?: number; region?: string } = {}): Promise<ConfigRead> {
    const { region, ...query } = q;
    return this.http
      .request<ConfigRead>("GET", `/v1/configs/${seg(name)}`, { query, headers: region ? { "x-region": region } : {} })
      .then((r) => r.body);
  }

  report(name: string, reports: HealthReport[]): Promise<ReportsAccepted> {
    return this.http.send<ReportsAccepted>("POST", `/v1/configs/${seg(name)}/reports`, { reports });
  }
}
