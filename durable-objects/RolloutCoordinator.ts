import { DurableObject } from "cloudflare:workers";
import { drizzle } from "drizzle-orm/d1";
import { namespaces as namespacesTable } from "../db/schema";
import { canonicalJson, contentHash, sha256Hex } from "../lib/canonical-json";
import { ApiError, fromRpcError } from "../lib/errors";
import {
  COORDINATOR_MIGRATIONS,
  type CandidateRow,
  type ClientCountRow,
  type HealthRow,
  type NamespaceRow,
  type RolloutRow,
} from "../lib/config/coordinator-schema";
import { judgeHealth } from "../lib/config/health";
import { validateValues } from "../lib/config/json-schema";
import { releaseKey, versionKey } from "../lib/config/kv-keys";
import type { NormalizedPlan } from "../lib/config/plan";
import type { ReleaseState } from "../lib/config/release";
import { releaseView, rolloutView } from "../lib/config/rollout-view";
import {
  type ControlAction,
  type NamespaceInfo,
  type Outcome,
  type ReportInput,
  type RolloutDetail,
  type RolloutState,
  type VersionBlob,
  type VersionDetail,
  type VersionSummary,
} from "../lib/config/types";
import { appendAudit } from "../workers/lib/audit-store";
import { Outbox, type OutboxSinks } from "../workers/lib/config-outbox";
import { configuredRegions } from "../workers/lib/region";
import { streamEventOf } from "../lib/ofrep/stream-event";
import { publishReleaseChange } from "./ConfigStream";

/** How long a client stays in the "clients seen" figures after its last report, and how many we keep. */
const CLIENT_RETENTION_MS = 24 * 3600 * 1000;
const MAX_CLIENTS = 100_000;
/** Safety alarm armed with every change, so the outbox drains even if we crash before draining. */
const OUTBOX_SAFETY_MS = 2_000;

function fail(status: number, code: string, message: string, details: unknown = null): never {
  throw new ApiError(status, code, message, details);
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * One per namespace (idFromName(namespace)): the single writer of the namespace's metadata,
 * versions, release state, rollouts and health counters. Every change commits together with outbox
 * rows describing what must reach D1 (audit chain, namespace read model) and KV (version blobs,
 * release state); the outbox is drained before answering and retried by the alarm, which also drives
 * stage advancement.
 */
export class RolloutCoordinator extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly outbox: Outbox;
  private reportCalls = 0;
  private streamRetryAt: number | null = null;
  /** Test hook (reachable only through runInDurableObject): fail the next N KV / D1 writes. */
  readonly faults = { kv: 0, d1: 0 };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.outbox = new Outbox(this.sql);
    void ctx.blockConcurrencyWhile(async () => this.migrate());
  }

  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    const current = Number(this.getMeta("schema_version") ?? "0");
    for (let v = current; v < COORDINATOR_MIGRATIONS.length; v++) {
      this.ctx.storage.transactionSync(() => {
        this.sql.exec(COORDINATOR_MIGRATIONS[v]);
        this.setMeta("schema_version", String(v + 1));
      });
    }
  }

  // ---------------------------------------------------------------- small storage helpers

  private getMeta(key: string): string | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
    return row ? row.value : null;
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
  }

  private nsRow(): NamespaceRow | null {
    return this.sql.exec<NamespaceRow & Record<string, SqlStorageValue>>("SELECT * FROM namespace WHERE id = 1").toArray()[0] ?? null;
  }

  /** The namespace row, or 404; also checks this object really is `ns`'s coordinator. */
  private requireNs(ns: string): NamespaceRow {
    const row = this.nsRow();
    if (!row) fail(404, "namespace_not_found", `Namespace '${ns}' does not exist`, { namespace: ns });
    if (row.name !== ns) fail(500, "coordinator_mismatch", "Request routed to the wrong coordinator");
    return row;
  }

  private generation(): number {
    return Number(this.getMeta("generation") ?? "0");
  }

  private stable(): number | null {
    const s = this.getMeta("stable");
    return s === null ? null : (JSON.parse(s) as number | null);
  }

  private latestVersion(): number {
    return this.sql.exec<{ v: number | null }>("SELECT MAX(version) AS v FROM versions").one().v ?? 0;
  }

  private activeRollout(): RolloutRow | null {
    return (
      this.sql
        .exec<RolloutRow & Record<string, SqlStorageValue>>(
          "SELECT * FROM rollouts WHERE state IN ('pending_approval','running','paused') ORDER BY seq DESC LIMIT 1",
        )
        .toArray()[0] ?? null
    );
  }

  private rolloutById(id: string): RolloutRow | null {
    return this.sql.exec<RolloutRow & Record<string, SqlStorageValue>>("SELECT * FROM rollouts WHERE id = ?", id).toArray()[0] ?? null;
  }


  /** Appends an audit entry to the outbox with an idempotent event id `ns:<name>:<local seq>`. */
  private audit(ns: string, actor: string, action: string, fields: { version?: number | null; rolloutId?: string | null; details?: unknown } = {}): void {
    const seq = Number(this.getMeta("audit_seq") ?? "0") + 1;
    this.setMeta("audit_seq", String(seq));
    this.outbox.enqueue("audit", {
      eventId: `ns:${ns}:${seq}`,
      ts: new Date().toISOString(),
      actor,
      action,
      namespace: ns,
      version: fields.version ?? null,
      rolloutId: fields.rolloutId ?? null,
      details: fields.details ?? null,
    });
  }

  /** Records a release change: generation + 1, and the new state must reach KV and the read model. */
  private releaseChanged(): void {
    this.setMeta("generation", String(this.generation() + 1));
    this.setMeta("release_updated_at", new Date().toISOString());
    this.outbox.enqueue("kv_release", null);
    this.outbox.enqueue("d1_namespace", null);
  }

  private releaseState(ns: string): ReleaseState {
    const candidates = this.sql.exec<CandidateRow & Record<string, SqlStorageValue>>("SELECT region, candidate, percent, rollout_id FROM release_regions").toArray();
    return releaseView(ns, configuredRegions(this.env), this.stable(), this.generation(), candidates, this.getMeta("release_updated_at") ?? new Date(0).toISOString());
  }

  private nsInfo(row: NamespaceRow): NamespaceInfo {
    return {
      name: row.name,
      schema: JSON.parse(row.schema) as unknown,
      description: row.description,
      approvals_required: row.approvals_required === 1 ? 1 : 0,
      latest_version: this.latestVersion(),
      active_rollout_id: this.activeRollout()?.id ?? null,
      generation: this.generation(),
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }

  /** Commit a change: `fn` runs in one synchronous transaction, then the outbox is drained. */
  private async commit<T>(fn: () => T): Promise<T> {
    const out = this.ctx.storage.transactionSync(fn);
    await this.ctx.storage.setAlarm(Date.now() + OUTBOX_SAFETY_MS);
    await this.drainQuietly();
    return out;
  }

  // ---------------------------------------------------------------- RPC surface
  // Domain errors (404, 409, 422, …) travel back as values: an exception thrown across RPC is logged
  // by the runtime as "Uncaught Error" even when the caller handles it, i.e. on every ordinary 404.
  // workers/lib/config-coordinator.ts turns them back into ApiErrors at the edge.

  private async guard<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
    try {
      return { ok: true, value: await fn() };
    } catch (e) {
      const api = fromRpcError(e);
      if (!api) throw e;
      return { ok: false, error: { status: api.status, code: api.code, message: api.message, details: api.details } };
    }
  }

  putNamespace(...args: Parameters<RolloutCoordinator["doPutNamespace"]>) {
    return this.guard(() => this.doPutNamespace(...args));
  }
  getNamespace(...args: Parameters<RolloutCoordinator["doGetNamespace"]>) {
    return this.guard(() => this.doGetNamespace(...args));
  }
  validate(...args: Parameters<RolloutCoordinator["doValidate"]>) {
    return this.guard(() => this.doValidate(...args));
  }
  createVersion(...args: Parameters<RolloutCoordinator["doCreateVersion"]>) {
    return this.guard(() => this.doCreateVersion(...args));
  }
  listVersions(...args: Parameters<RolloutCoordinator["doListVersions"]>) {
    return this.guard(() => this.doListVersions(...args));
  }
  getVersion(...args: Parameters<RolloutCoordinator["doGetVersion"]>) {
    return this.guard(() => this.doGetVersion(...args));
  }
  getVersionBlob(...args: Parameters<RolloutCoordinator["doGetVersionBlob"]>) {
    return this.guard(() => this.doGetVersionBlob(...args));
  }
  getRelease(...args: Parameters<RolloutCoordinator["doGetRelease"]>) {
    return this.guard(() => this.doGetRelease(...args));
  }
  rollback(...args: Parameters<RolloutCoordinator["doRollback"]>) {
    return this.guard(() => this.doRollback(...args));
  }
  startRollout(...args: Parameters<RolloutCoordinator["doStartRollout"]>) {
    return this.guard(() => this.doStartRollout(...args));
  }
  getRollout(...args: Parameters<RolloutCoordinator["doGetRollout"]>) {
    return this.guard(() => this.doGetRollout(...args));
  }
  listRollouts(...args: Parameters<RolloutCoordinator["doListRollouts"]>) {
    return this.guard(() => this.doListRollouts(...args));
  }
  control(...args: Parameters<RolloutCoordinator["doControl"]>) {
    return this.guard(() => this.doControl(...args));
  }
  report(...args: Parameters<RolloutCoordinator["doReport"]>) {
    return this.guard(() => this.doReport(...args));
  }

  // ---------------------------------------------------------------- namespace

  private async doPutNamespace(
    ns: string,
    input: { schema: unknown; description?: string; approvals_required?: 0 | 1 },
    actor: string,
  ): Promise<{ created: boolean; namespace: NamespaceInfo }> {
    const schemaHash = await contentHash(input.schema);
    const created = await this.commit(() => {
      const existing = this.nsRow();
      if (existing && existing.name !== ns) fail(500, "coordinator_mismatch", "Request routed to the wrong coordinator");
      const now = new Date().toISOString();
      const schema = canonicalJson(input.schema);
      const description = input.description ?? existing?.description ?? "";
      const approvals = input.approvals_required ?? (existing?.approvals_required === 1 ? 1 : 0);
      if (!existing) {
        this.sql.exec(
          "INSERT INTO namespace (id, name, schema, description, approvals_required, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)",
          ns, schema, description, approvals, now, now,
        );
        this.audit(ns, actor, "namespace.created", { details: { description, approvals_required: approvals, schema_hash: schemaHash } });
        this.releaseChanged();
        return true;
      }
      const changed = existing.schema !== schema || existing.description !== description || existing.approvals_required !== approvals;
      if (changed) {
        this.sql.exec("UPDATE namespace SET schema = ?, description = ?, approvals_required = ?, updated_at = ? WHERE id = 1", schema, description, approvals, now);
        this.audit(ns, actor, "namespace.updated", {
          details: {
            schema_changed: existing.schema !== schema,
            description,
            approvals_required: { from: existing.approvals_required, to: approvals },
            schema_hash: schemaHash,
          },
        });
        this.outbox.enqueue("d1_namespace", null);
      }
      return false;
    });
    return { created, namespace: this.nsInfo(this.requireNs(ns)) };
  }

  private async doGetNamespace(ns: string): Promise<NamespaceInfo> {
    return this.nsInfo(this.requireNs(ns));
  }

  // ---------------------------------------------------------------- versions

  /** Every schema violation of `values` (empty when valid); 404 for an unknown namespace. */
  private async doValidate(ns: string, values: Record<string, unknown>): Promise<ReturnType<typeof validateValues>> {
    const row = this.requireNs(ns);
    return validateValues(JSON.parse(row.schema), values);
  }

  private async doCreateVersion(
    ns: string,
    input: { values: Record<string, unknown>; message: string; idempotencyKey?: string | null },
    actor: string,
  ): Promise<{ version: number; hash: string; created_at: string; replayed: boolean }> {
    const hash = await contentHash(input.values);
    const fingerprint = await sha256Hex(canonicalJson({ values: input.values, message: input.message }));
    return this.commit(() => {
      const row = this.requireNs(ns);
      if (input.idempotencyKey) {
        const prior = this.sql
          .exec<{ version: number; hash: string; created_at: string; idem_fingerprint: string }>(
            "SELECT version, hash, created_at, idem_fingerprint FROM versions WHERE idem_key = ?",
            input.idempotencyKey,
          )
          .toArray()[0];
        if (prior) {
          if (prior.idem_fingerprint !== fingerprint) {
            fail(422, "idempotency_key_reused", "This Idempotency-Key was used with a different request body", { version: prior.version });
          }
          return { version: prior.version, hash: prior.hash, created_at: prior.created_at, replayed: true };
        }
      }
      const issues = validateValues(JSON.parse(row.schema), input.values);
      if (issues.length > 0) fail(422, "validation_failed", `values do not match the namespace schema (${issues.length} error(s))`, issues);
      const version = this.latestVersion() + 1;
      const now = new Date().toISOString();
      this.sql.exec(
        "INSERT INTO versions (version, hash, values_json, author, message, created_at, idem_key, idem_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        version, hash, JSON.stringify(input.values), actor, input.message, now, input.idempotencyKey ?? null, input.idempotencyKey ? fingerprint : null,
      );
      this.outbox.enqueue("kv_version", { version });
      this.outbox.enqueue("d1_namespace", null);
      this.audit(ns, actor, "version.created", { version, details: { hash, message: input.message } });
      return { version, hash, created_at: now, replayed: false };
    });
  }

  private async doListVersions(ns: string, opts: { before?: number; limit: number }): Promise<{ versions: VersionSummary[]; next_cursor: string | null }> {
    this.requireNs(ns);
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    const rows = this.sql
      .exec<VersionSummary & Record<string, SqlStorageValue>>(
        "SELECT version, hash, author, message, created_at FROM versions WHERE version < ? ORDER BY version DESC LIMIT ?",
        before,
        opts.limit + 1,
      )
      .toArray();
    const page = rows.slice(0, opts.limit).map((r) => ({ version: r.version, hash: r.hash, author: r.author, message: r.message, created_at: r.created_at }));
    return { versions: page, next_cursor: rows.length > opts.limit ? String(page[page.length - 1].version) : null };
  }

  private versionRow(version: number): (VersionSummary & { values_json: string }) | null {
    return (
      this.sql
        .exec<VersionSummary & { values_json: string } & Record<string, SqlStorageValue>>(
          "SELECT version, hash, author, message, created_at, values_json FROM versions WHERE version = ?",
          version,
        )
        .toArray()[0] ?? null
    );
  }

  private async doGetVersion(ns: string, version: number): Promise<VersionDetail> {
    this.requireNs(ns);
    const r = this.versionRow(version);
    if (!r) fail(404, "version_not_found", `Namespace '${ns}' has no version ${version}`, { namespace: ns, version });
    return { namespace: ns, version: r.version, hash: r.hash, author: r.author, message: r.message, created_at: r.created_at, values: JSON.parse(r.values_json) };
  }

  /** The KV blob of a version, for the edge when KV does not have it (yet). Null when unknown. */
  private async doGetVersionBlob(ns: string, version: number): Promise<VersionBlob | null> {
    const row = this.nsRow();
    if (!row || row.name !== ns) return null;
    const r = this.versionRow(version);
    return r ? { namespace: ns, version: r.version, hash: r.hash, values: JSON.parse(r.values_json) } : null;
  }

  // ---------------------------------------------------------------- release

  private async doGetRelease(ns: string): Promise<ReleaseState> {
    this.requireNs(ns);
    return this.releaseState(ns);
  }

  /** Emergency rollback: every region to `toVersion` at once, cancelling any active rollout. */
  private async doRollback(ns: string, toVersion: number, reason: string, actor: string): Promise<ReleaseState> {
    await this.commit(() => {
      this.requireNs(ns);
      if (!this.versionRow(toVersion)) fail(404, "version_not_found", `Namespace '${ns}' has no version ${toVersion}`, { namespace: ns, version: toVersion });
      const previous = this.stable();
      const ro = this.activeRollout();
      if (ro) {
        this.endRollout(ro, "rolled_back", `emergency rollback to ${toVersion}: ${reason}`);
        this.audit(ns, actor, "rollout.rolled_back", { version: ro.version, rolloutId: ro.id, details: { to_version: toVersion, reason, state_before: ro.state } });
      }
      this.sql.exec("DELETE FROM release_regions");
      this.setMeta("stable", JSON.stringify(toVersion));
      this.releaseChanged();
      this.audit(ns, actor, "release.rolled_back", {
        version: toVersion,
        rolloutId: ro?.id ?? null,
        details: { from_stable: previous, to_version: toVersion, reason, cancelled_rollout: ro?.id ?? null },
      });
    });
    return this.releaseState(ns);
  }

  // ---------------------------------------------------------------- rollouts

  private async doStartRollout(ns: string, input: { version: number; plan: NormalizedPlan }, actor: string): Promise<RolloutDetail> {
    const id = "ro_" + crypto.randomUUID().replace(/-/g, "").slice(0, 20);
    await this.commit(() => {
      const row = this.requireNs(ns);
      if (!this.versionRow(input.version)) fail(404, "version_not_found", `Namespace '${ns}' has no version ${input.version}`, { namespace: ns, version: input.version });
      const active = this.activeRollout();
      if (active) fail(409, "rollout_in_progress", `Rollout ${active.id} is ${active.state}; finish, abort or roll it back first`, { rollout_id: active.id, state: active.state });
      const stable = this.stable();
      if (stable === input.version) fail(409, "already_released", `Version ${input.version} is already the stable version everywhere`, { version: input.version });
      const seq = this.sql.exec<{ s: number | null }>("SELECT MAX(seq) AS s FROM rollouts").one().s ?? 0;
      const now = Date.now();
      const state: RolloutState = row.approvals_required === 1 ? "pending_approval" : "running";
      this.sql.exec(
        `INSERT INTO rollouts (id, seq, version, from_version, plan, state, stage_index, stage_started_at, next_advance_at,
           paused_remaining_ms, stage_history, started_by, approved_by, created_at, updated_at, ended_at, end_reason)
         VALUES (?, ?, ?, ?, ?, ?, 0, NULL, NULL, NULL, '[]', ?, NULL, ?, ?, NULL, NULL)`,
        id, seq + 1, input.version, stable, JSON.stringify(input.plan), state, actor, iso(now), iso(now),
      );
      this.audit(ns, actor, "rollout.started", { version: input.version, rolloutId: id, details: { from_version: stable, state, plan: input.plan } });
      if (state === "running") {
        this.enterStage(this.rolloutById(id)!, 0, now);
        this.advanceDue(ns, now);
      } else {
        this.outbox.enqueue("d1_namespace", null);
      }
    });
    await this.scheduleAlarm();
    return this.rolloutDetail(ns, this.rolloutById(id)!);
  }

  private async doGetRollout(ns: string, id: string): Promise<RolloutDetail> {
    this.requireNs(ns);
    const ro = id === "current" ? this.activeRollout() : this.rolloutById(id);
    if (!ro) {
      if (id === "current") fail(404, "no_active_rollout", `Namespace '${ns}' has no active rollout`, { namespace: ns });
      fail(404, "rollout_not_found", `Namespace '${ns}' has no rollout '${id}'`, { namespace: ns, rollout_id: id });
    }
    return this.rolloutDetail(ns, ro);
  }

  private async doListRollouts(ns: string, limit: number): Promise<RolloutDetail[]> {
    this.requireNs(ns);
    const rows = this.sql.exec<RolloutRow & Record<string, SqlStorageValue>>("SELECT * FROM rollouts ORDER BY seq DESC LIMIT ?", limit).toArray();
    return rows.map((r) => this.rolloutDetail(ns, r));
  }

  private async doControl(ns: string, action: ControlAction, id: string, actor: string): Promise<RolloutDetail> {
    await this.commit(() => {
      this.requireNs(ns);
      const ro = this.rolloutById(id);
      if (!ro) fail(404, "rollout_not_found", `Namespace '${ns}' has no rollout '${id}'`, { namespace: ns, rollout_id: id });
      const now = Date.now();
      const allowed: Record<ControlAction, RolloutState[]> = {
        approve: ["pending_approval"],
        pause: ["running"],
        resume: ["paused"],
        promote: ["running"],
        abort: ["pending_approval", "running", "paused"],
      };
      if (!allowed[action].includes(ro.state)) {
        fail(409, "invalid_state", `Cannot ${action} a rollout that is ${ro.state}`, { state: ro.state, action, allowed_from: allowed[action] });
      }
      switch (action) {
        case "approve": {
          if (ro.started_by === actor) fail(403, "self_approval", "A rollout must be approved by someone other than the person who started it", { started_by: ro.started_by });
          this.sql.exec("UPDATE rollouts SET state = 'running', approved_by = ?, updated_at = ? WHERE id = ?", actor, iso(now), id);
          this.audit(ns, actor, "rollout.approved", { version: ro.version, rolloutId: id, details: { started_by: ro.started_by } });
          this.enterStage(this.rolloutById(id)!, 0, now);
          this.advanceDue(ns, now);
          break;
        }
        case "pause": {
          const remaining = Math.max(0, (ro.next_advance_at ?? now) - now);
          this.sql.exec("UPDATE rollouts SET state = 'paused', paused_remaining_ms = ?, next_advance_at = NULL, updated_at = ? WHERE id = ?", remaining, iso(now), id);
          this.audit(ns, actor, "rollout.paused", { version: ro.version, rolloutId: id, details: { stage_index: ro.stage_index, remaining_bake_seconds: remaining / 1000 } });
          this.outbox.enqueue("d1_namespace", null);
          break;
        }
        case "resume": {
          const next = now + (ro.paused_remaining_ms ?? 0);
          this.sql.exec("UPDATE rollouts SET state = 'running', paused_remaining_ms = NULL, next_advance_at = ?, updated_at = ? WHERE id = ?", next, iso(now), id);
          this.audit(ns, actor, "rollout.resumed", { version: ro.version, rolloutId: id, details: { stage_index: ro.stage_index, next_advance_at: iso(next) } });
          this.advanceDue(ns, now);
          break;
        }
        case "promote": {
          this.sql.exec("UPDATE rollouts SET next_advance_at = ?, updated_at = ? WHERE id = ?", now, iso(now), id);
          this.audit(ns, actor, "rollout.promoted", { version: ro.version, rolloutId: id, details: { stage_index: ro.stage_index } });
          this.advanceDue(ns, now);
          break;
        }
        case "abort": {
          this.endRollout(ro, "aborted", `aborted by ${actor}`);
          if (ro.state !== "pending_approval") {
            this.sql.exec("DELETE FROM release_regions");
            this.releaseChanged();
          }
          this.audit(ns, actor, "rollout.aborted", { version: ro.version, rolloutId: id, details: { stage_index: ro.stage_index, state_before: ro.state } });
          break;
        }
      }
    });
    await this.scheduleAlarm();
    return this.rolloutDetail(ns, this.rolloutById(id)!);
  }

  /** Health reports from clients: counted per (rollout, stage, version, region) and per client. */
  private async doReport(ns: string, region: string, reports: ReportInput[]): Promise<{ accepted: number; ignored: number; rolled_back: boolean }> {
    // Reports are hot and usually change no release state: commit without the outbox round trip
    // unless the health gate fired.
    const { fired: rolledBack, accepted } = this.ctx.storage.transactionSync(() => {
      let fired = false;
      this.requireNs(ns);
      const now = Date.now();
      const ro = this.activeRollout();
      const counting = ro && (ro.state === "running" || ro.state === "paused");
      const groups = new Map<number, { ok: number; error: number }>();
      // Only versions that exist are counted, so made-up version numbers cannot grow the tables.
      const latest = this.latestVersion();
      let accepted = 0;
      for (const r of reports) {
        if (r.version > latest) continue;
        accepted++;
        this.sql.exec(
          "INSERT INTO clients (client_id, version, region, seen_at) VALUES (?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET version = excluded.version, region = excluded.region, seen_at = excluded.seen_at",
          r.client_id, r.version, region, now,
        );
        if (counting) {
          const g = groups.get(r.version) ?? { ok: 0, error: 0 };
          if (r.status === "ok") g.ok++;
          else g.error++;
          groups.set(r.version, g);
        }
      }
      if (counting && ro) {
        for (const [version, g] of groups) {
          this.sql.exec(
            `INSERT INTO health (rollout_id, stage_index, version, region, ok, error) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(rollout_id, stage_index, version, region) DO UPDATE SET ok = ok + excluded.ok, error = error + excluded.error`,
            ro.id, ro.stage_index, version, region, g.ok, g.error,
          );
        }
        if (ro.state === "running") fired = this.checkHealth(ns, ro, now);
      }
      if (++this.reportCalls % 50 === 1) this.pruneClients(now);
      return { fired, accepted };
    });
    if (rolledBack) {
      await this.ctx.storage.setAlarm(Date.now() + OUTBOX_SAFETY_MS);
      await this.drainQuietly();
    }
    return { accepted, ignored: reports.length - accepted, rolled_back: rolledBack };
  }

  private pruneClients(now: number): void {
    this.sql.exec("DELETE FROM clients WHERE seen_at < ?", now - CLIENT_RETENTION_MS);
    const n = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM clients").one().n;
    if (n > MAX_CLIENTS) {
      this.sql.exec("DELETE FROM clients WHERE client_id IN (SELECT client_id FROM clients ORDER BY seen_at LIMIT ?)", n - MAX_CLIENTS);
    }
  }

  // ---------------------------------------------------------------- rollout state machine (synchronous)

  private planOf(ro: RolloutRow): NormalizedPlan {
    return JSON.parse(ro.plan) as NormalizedPlan;
  }

  /** Sets candidate/percent for the stage's regions (earlier regions keep theirs). */
  private enterStage(ro: RolloutRow, index: number, now: number): void {
    const plan = this.planOf(ro);
    const stage = plan.stages[index];
    for (const region of stage.regions) {
      this.sql.exec(
        `INSERT INTO release_regions (region, candidate, percent, rollout_id) VALUES (?, ?, ?, ?)
         ON CONFLICT(region) DO UPDATE SET candidate = excluded.candidate, percent = MAX(percent, excluded.percent), rollout_id = excluded.rollout_id`,
        region, ro.version, stage.percent, ro.id,
      );
    }
    const history = JSON.parse(ro.stage_history) as { index: number; started_at: string }[];
    history.push({ index, started_at: iso(now)! });
    this.sql.exec(
      "UPDATE rollouts SET stage_index = ?, stage_started_at = ?, next_advance_at = ?, stage_history = ?, updated_at = ? WHERE id = ?",
      index, now, now + stage.bake_seconds * 1000, JSON.stringify(history), iso(now), ro.id,
    );
    this.releaseChanged();
  }

  private endRollout(ro: RolloutRow, state: RolloutState, reason: string): void {
    const now = new Date().toISOString();
    this.sql.exec(
      "UPDATE rollouts SET state = ?, next_advance_at = NULL, paused_remaining_ms = NULL, ended_at = ?, end_reason = ?, updated_at = ? WHERE id = ?",
      state, now, reason, now, ro.id,
    );
    this.outbox.enqueue("d1_namespace", null);
  }

  /** Auto-rollback when the candidate's error rate in the current stage breaches the plan's gate. */
  private checkHealth(ns: string, ro: RolloutRow, now: number): boolean {
    const rule = this.planOf(ro).auto_rollback;
    if (!rule) return false;
    const c = this.sql
      .exec<{ ok: number | null; error: number | null }>(
        "SELECT SUM(ok) AS ok, SUM(error) AS error FROM health WHERE rollout_id = ? AND stage_index = ? AND version = ?",
        ro.id, ro.stage_index, ro.version,
      )
      .one();
    const verdict = judgeHealth(c.ok ?? 0, c.error ?? 0, rule);
    if (!verdict.breached) return false;
    this.endRollout(ro, "rolled_back", `automatic rollback: error rate ${verdict.error_rate.toFixed(4)} > ${rule.max_error_rate}`);
    this.sql.exec("DELETE FROM release_regions");
    this.releaseChanged();
    this.audit(ns, "system:health-gate", "rollout.auto_rolled_back", {
      version: ro.version,
      rolloutId: ro.id,
      details: { stage_index: ro.stage_index, ...verdict, max_error_rate: rule.max_error_rate, min_samples: rule.min_samples, stable: this.stable(), at: iso(now) },
    });
    return true;
  }

  /**
   * Checks the running rollout's health gate, then advances it through every stage whose bake time
   * is over (bake-0 stages chain at once). Runs in the alarm and after start/approve/resume/promote.
   */
  private advanceDue(ns: string, now: number): void {
    for (let guard = 0; guard < 100; guard++) {
      const ro = this.activeRollout();
      if (!ro || ro.state !== "running") return;
      if (this.checkHealth(ns, ro, now)) return;
      if (ro.next_advance_at === null || ro.next_advance_at > now) return;
      const plan = this.planOf(ro);
      if (ro.stage_index + 1 < plan.stages.length) {
        this.enterStage(ro, ro.stage_index + 1, now);
        this.audit(ns, "system:rollout", "rollout.advanced", {
          version: ro.version,
          rolloutId: ro.id,
          details: { from_stage: ro.stage_index, to_stage: ro.stage_index + 1, stage: plan.stages[ro.stage_index + 1] },
        });
      } else {
        this.endRollout(ro, "completed", "all stages done");
        this.sql.exec("DELETE FROM release_regions");
        this.setMeta("stable", JSON.stringify(ro.version));
        this.releaseChanged();
        this.audit(ns, "system:rollout", "rollout.completed", { version: ro.version, rolloutId: ro.id, details: { from_version: ro.from_version, stages: plan.stages.length } });
        return;
      }
    }
  }

  private rolloutDetail(ns: string, ro: RolloutRow): RolloutDetail {
    const health = this.sql
      .exec<HealthRow & Record<string, SqlStorageValue>>(
        "SELECT stage_index, version, region, ok, error FROM health WHERE rollout_id = ? ORDER BY stage_index, version, region",
        ro.id,
      )
      .toArray();
    const clients = this.sql
      .exec<ClientCountRow & Record<string, SqlStorageValue>>(
        "SELECT region, version, COUNT(*) AS n FROM clients WHERE seen_at >= ? GROUP BY region, version",
        Date.now() - CLIENT_RETENTION_MS,
      )
      .toArray();
    return rolloutView(ns, ro, health, clients, this.releaseState(ns));
  }

  // ---------------------------------------------------------------- alarm and outbox

  override async alarm(): Promise<void> {
    const row = this.nsRow();
    if (row) {
      await this.drainQuietly();
      this.ctx.storage.transactionSync(() => this.advanceDue(row.name, Date.now()));
      await this.drainQuietly();
    }
    await this.scheduleAlarm();
  }

  /** Next alarm = the earliest of the running stage's advance time and the next outbox retry. */
  private async scheduleAlarm(): Promise<void> {
    const ro = this.activeRollout();
    const times: number[] = [];
    if (ro && ro.state === "running" && ro.next_advance_at !== null) times.push(ro.next_advance_at);
    const retry = this.outbox.nextAttemptAt();
    if (retry !== null) times.push(retry);
    if (this.streamRetryAt !== null) times.push(this.streamRetryAt);
    if (times.length === 0) {
      await this.ctx.storage.deleteAlarm();
      return;
    }
    await this.ctx.storage.setAlarm(Math.max(Math.min(...times), Date.now() + 10));
  }

  /** Delivers the outbox; failures stay queued for the alarm (the change itself is committed). */
  private async drainQuietly(): Promise<void> {
    const row = this.nsRow();
    if (row) {
      try {
        await this.outbox.drain(this.sinks(row.name));
      } catch (e) {
        console.error("outbox drain failed; the alarm retries", String((e as Error)?.message ?? e));
      }
      await this.notifyStreams(row.name);
    }
    await this.scheduleAlarm();
  }

  /** Push: tells the namespace's event streams (ConfigStream hub) about a new generation; the alarm retries. */
  private async notifyStreams(ns: string): Promise<void> {
    const gen = this.generation();
    if (gen <= Number(this.getMeta("stream_generation") ?? "0")) return;
    try {
      await publishReleaseChange(this.env, ns, streamEventOf(this.releaseState(ns)));
      this.setMeta("stream_generation", String(gen));
      this.streamRetryAt = null;
    } catch (e) {
      console.error("config stream notify failed; the alarm retries", String((e as Error)?.message ?? e));
      this.streamRetryAt = Date.now() + 1000;
    }
  }

  private sinks(ns: string): OutboxSinks {
    return {
      putVersionBlob: async (version) => {
        const blob = await this.doGetVersionBlob(ns, version);
        if (blob) await this.kvPut(versionKey(ns, version), JSON.stringify(blob));
      },
      putRelease: () => this.kvPut(releaseKey(ns), JSON.stringify(this.releaseState(ns))),
      upsertReadModel: () => this.upsertReadModel(),
      appendAudit: async (entry) => {
        if (this.faults.d1 > 0) {
          this.faults.d1--;
          throw new Error("injected D1 failure");
        }
        await appendAudit(this.env.DB, entry);
      },
    };
  }

  private async kvPut(key: string, value: string): Promise<void> {
    if (this.faults.kv > 0) {
      this.faults.kv--;
      throw new Error("injected KV failure");
    }
    await this.env.CONFIG_KV.put(key, value);
  }

  private async upsertReadModel(): Promise<void> {
    const row = this.nsRow();
    if (!row) return;
    const values = {
      name: row.name,
      description: row.description,
      approvalsRequired: row.approvals_required,
      latestVersion: this.latestVersion(),
      activeRolloutId: this.activeRollout()?.id ?? null,
      generation: this.generation(),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
    const { name: _n, createdAt: _c, ...update } = values;
    await drizzle(this.env.DB).insert(namespacesTable).values(values).onConflictDoUpdate({ target: namespacesTable.name, set: update });
  }
}
