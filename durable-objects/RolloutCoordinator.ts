import { DurableObject } from "cloudflare:workers";
import { canonicalJson, contentHash, sha256Hex } from "../lib/canonical-json";
import { ApiError } from "../lib/errors";
import { outcomeOf, type Outcome } from "../lib/outcome";
import {
  COORDINATOR_MIGRATIONS,
  type CandidateRow,
  type ClientCountRow,
  type HealthRow,
  type NamespaceRow,
  type RolloutRow,
  type VersionRow,
} from "../lib/config/coordinator-schema";
import type { HealthVerdict } from "../lib/config/health";
import { gate, nextStep, pauseClock, refuseControl, resumeClock, stageEntry } from "../lib/config/rollout-machine";
import { migrateSqlSchema } from "../lib/sql-migrations";
import type { NormalizedPlan } from "../lib/config/plan";
import type { ReleaseState } from "../lib/config/release";
import { wasReleased } from "../lib/config/released";
import { releaseView, rolloutView } from "../lib/config/rollout-view";
import {
  type ControlAction,
  type NamespaceInfo,
  type ReportBatch,
  type RolloutDetail,
  type RolloutState,
  type VersionBlob,
  type VersionDetail,
  type VersionSummary,
} from "../lib/config/types";
import { CLIENT_RETENTION_MS, CoordinatorStore } from "./rollout/store";
import { coordinatorSinks } from "./rollout/sinks";
import { countReports } from "./rollout/reports";
import { Outbox, type OutboxSinks } from "../lib/config/outbox";
import { configuredRegions } from "../lib/regions";
import { streamEventOf } from "../lib/ofrep/stream-event";
import { publishReleaseChange } from "./ConfigStream";

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
  private readonly store: CoordinatorStore;
  private reportCalls = 0;
  private streamRetryAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.outbox = new Outbox(this.sql);
    this.store = new CoordinatorStore(this.sql);
    void ctx.blockConcurrencyWhile(async () => {
      ctx.storage.transactionSync(() => migrateSqlSchema(this.sql, COORDINATOR_MIGRATIONS));
    });
  }

  // ---------------------------------------------------------------- small storage helpers

  /** The namespace row, or 404; also checks this object really is `ns`'s coordinator. */
  private requireNs(ns: string): NamespaceRow {
    const row = this.store.nsRow();
    if (!row) fail(404, "namespace_not_found", `Namespace '${ns}' does not exist`, { namespace: ns });
    if (row.name !== ns) fail(500, "coordinator_mismatch", "Request routed to the wrong coordinator");
    return row;
  }

  /** Appends an audit entry to the outbox with an idempotent event id `ns:<name>:<local seq>`. */
  private audit(ns: string, actor: string, action: string, fields: { version?: number | null; rolloutId?: string | null; details?: unknown } = {}): void {
    const seq = Number(this.store.getMeta("audit_seq") ?? "0") + 1;
    this.store.setMeta("audit_seq", String(seq));
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
    this.store.setMeta("generation", String(this.store.generation() + 1));
    this.store.setMeta("release_updated_at", new Date().toISOString());
    this.outbox.enqueue("kv_release", null);
    this.outbox.enqueue("d1_namespace", null);
  }

  private releaseState(ns: string): ReleaseState {
    const candidates = this.sql.exec<CandidateRow>("SELECT region, candidate, percent, rollout_id FROM release_regions").toArray();
    return releaseView(ns, configuredRegions(this.env), this.store.stable(), this.store.generation(), candidates, this.store.getMeta("release_updated_at") ?? new Date(0).toISOString());
  }

  private nsInfo(row: NamespaceRow): NamespaceInfo {
    return {
      name: row.name,
      schema: JSON.parse(row.schema) as unknown,
      description: row.description,
      approvals_required: row.approvals_required === 1 ? 1 : 0,
      latest_version: this.store.latestVersion(),
      active_rollout_id: this.store.activeRollout()?.id ?? null,
      generation: this.store.generation(),
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
  // Every RPC method answers an Outcome (lib/outcome.ts): its body runs in `outcomeOf`, which turns the
  // domain errors it throws (404, 409, 422, …) into values — an exception thrown across RPC is logged
  // by the runtime as "Uncaught Error" even when the caller handles it, i.e. on every ordinary 404.
  // workers/lib/config-coordinator.ts turns them back into ApiErrors at the edge.

  // ---------------------------------------------------------------- namespace

  putNamespace(
    ns: string,
    input: { schema: unknown; description?: string; approvals_required?: 0 | 1 },
    actor: string,
  ): Promise<Outcome<{ created: boolean; namespace: NamespaceInfo }>> {
    return outcomeOf(async () => {
      const schemaHash = await contentHash(input.schema);
      const created = await this.commit(() => {
        const existing = this.store.nsRow();
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
    });
  }

  getNamespace(ns: string): Promise<Outcome<NamespaceInfo>> {
    return outcomeOf(async () => {
      return this.nsInfo(this.requireNs(ns));
    });
  }

  // ---------------------------------------------------------------- versions

  createVersion(
    ns: string,
    input: { values: Record<string, unknown>; message: string; idempotencyKey?: string | null; schemaHash: string },
    actor: string,
  ): Promise<Outcome<{ version: number; hash: string; created_at: string; replayed: boolean }>> {
    return outcomeOf(async () => {
      const hash = await contentHash(input.values);
      const fingerprint = await sha256Hex(canonicalJson({ values: input.values, message: input.message }));
      // The edge validated the values against the schema with this hash (validation is kept off this
      // single-writer object); refuse if the schema changed since. Keys are scoped to their actor.
      const before = this.store.nsRow();
      const schemaHash = before ? await sha256Hex(before.schema) : null;
      const idemKey = input.idempotencyKey ? JSON.stringify([actor, input.idempotencyKey]) : null;
      return this.commit(() => {
        const row = this.requireNs(ns);
        if (idemKey) {
          const prior = this.sql
            .exec<{ version: number; hash: string; created_at: string; idem_fingerprint: string }>(
              "SELECT version, hash, created_at, idem_fingerprint FROM versions WHERE idem_key = ?",
              idemKey,
            )
            .toArray()[0];
          if (prior) {
            if (prior.idem_fingerprint !== fingerprint) {
              fail(422, "idempotency_key_reused", "This Idempotency-Key was used with a different request body", { version: prior.version });
            }
            return { version: prior.version, hash: prior.hash, created_at: prior.created_at, replayed: true };
          }
        }
        if (row.schema !== before?.schema || input.schemaHash !== schemaHash) fail(409, "schema_changed", "The namespace's schema changed while the values were being validated; retry");
        const version = this.store.latestVersion() + 1;
        const now = new Date().toISOString();
        this.sql.exec(
          "INSERT INTO versions (version, hash, values_json, author, message, created_at, idem_key, idem_fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          version, hash, JSON.stringify(input.values), actor, input.message, now, idemKey, idemKey ? fingerprint : null,
        );
        this.outbox.enqueue("kv_version", { version });
        this.outbox.enqueue("d1_namespace", null);
        this.audit(ns, actor, "version.created", { version, details: { hash, message: input.message } });
        return { version, hash, created_at: now, replayed: false };
      });
    });
  }

  listVersions(ns: string, opts: { before?: number; limit: number }): Promise<Outcome<{ versions: VersionSummary[]; next_cursor: string | null }>> {
    return outcomeOf(async () => {
      this.requireNs(ns);
      const before = opts.before ?? Number.MAX_SAFE_INTEGER;
      const rows = this.sql
        .exec<Omit<VersionRow, "values_json">>(
          "SELECT version, hash, author, message, created_at FROM versions WHERE version < ? ORDER BY version DESC LIMIT ?",
          before,
          opts.limit + 1,
        )
        .toArray();
      const page = rows.slice(0, opts.limit).map((r) => ({ version: r.version, hash: r.hash, author: r.author, message: r.message, created_at: r.created_at }));
      return { versions: page, next_cursor: rows.length > opts.limit ? String(page[page.length - 1].version) : null };
    });
  }

  getVersion(ns: string, version: number): Promise<Outcome<VersionDetail>> {
    return outcomeOf(async () => {
      this.requireNs(ns);
      const r = this.store.versionRow(version);
      if (!r) fail(404, "version_not_found", `Namespace '${ns}' has no version ${version}`, { namespace: ns, version });
      return { namespace: ns, version: r.version, hash: r.hash, author: r.author, message: r.message, created_at: r.created_at, values: JSON.parse(r.values_json) };
    });
  }

  /** The KV blob of a version, for the edge when KV does not have it (yet). Null when unknown. */
  getVersionBlob(ns: string, version: number): Promise<Outcome<VersionBlob | null>> {
    return outcomeOf(() => this.versionBlob(ns, version));
  }

  private versionBlob(ns: string, version: number): VersionBlob | null {
    const row = this.store.nsRow();
    if (!row || row.name !== ns) return null;
    const r = this.store.versionRow(version);
    return r ? { namespace: ns, version: r.version, hash: r.hash, values: JSON.parse(r.values_json) } : null;
  }

  // ---------------------------------------------------------------- release

  getRelease(ns: string): Promise<Outcome<ReleaseState>> {
    return outcomeOf(async () => {
      this.requireNs(ns);
      return this.releaseState(ns);
    });
  }

  /** Emergency rollback: every region to `toVersion` at once, cancelling any active rollout. */
  rollback(ns: string, toVersion: number, reason: string, actor: string): Promise<Outcome<ReleaseState>> {
    return outcomeOf(async () => {
      await this.commit(() => {
        this.requireNs(ns);
        if (!this.store.versionRow(toVersion)) fail(404, "version_not_found", `Namespace '${ns}' has no version ${toVersion}`, { namespace: ns, version: toVersion });
        const previous = this.store.stable();
        if (toVersion !== previous && !wasReleased(this.sql, toVersion)) {
          fail(409, "version_never_released", `Version ${toVersion} has never been released; start a rollout (with its approvals) instead`, { version: toVersion, stable: previous });
        }
        const ro = this.store.activeRollout();
        if (ro) {
          this.endRollout(ro, "rolled_back", `emergency rollback to ${toVersion}: ${reason}`);
          this.audit(ns, actor, "rollout.rolled_back", { version: ro.version, rolloutId: ro.id, details: { to_version: toVersion, reason, state_before: ro.state } });
        }
        this.sql.exec("DELETE FROM release_regions");
        this.store.setMeta("stable", JSON.stringify(toVersion));
        this.releaseChanged();
        this.audit(ns, actor, "release.rolled_back", {
          version: toVersion,
          rolloutId: ro?.id ?? null,
          details: { from_stable: previous, to_version: toVersion, reason, cancelled_rollout: ro?.id ?? null },
        });
      });
      return this.releaseState(ns);
    });
  }

  // ---------------------------------------------------------------- rollouts

  startRollout(ns: string, input: { version: number; plan: NormalizedPlan }, actor: string): Promise<Outcome<RolloutDetail>> {
    return outcomeOf(async () => {
      const id = "ro_" + crypto.randomUUID().replace(/-/g, "").slice(0, 20);
      await this.commit(() => {
        const row = this.requireNs(ns);
        if (!this.store.versionRow(input.version)) fail(404, "version_not_found", `Namespace '${ns}' has no version ${input.version}`, { namespace: ns, version: input.version });
        const active = this.store.activeRollout();
        if (active) fail(409, "rollout_in_progress", `Rollout ${active.id} is ${active.state}; finish, abort or roll it back first`, { rollout_id: active.id, state: active.state });
        const stable = this.store.stable();
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
          this.enterStage(this.store.rolloutById(id)!, 0, now);
          this.advanceDue(ns, now);
        } else {
          this.outbox.enqueue("d1_namespace", null);
        }
      });
      await this.scheduleAlarm();
      return this.rolloutDetail(ns, this.store.rolloutById(id)!);
    });
  }

  getRollout(ns: string, id: string): Promise<Outcome<RolloutDetail>> {
    return outcomeOf(async () => {
      this.requireNs(ns);
      const ro = id === "current" ? this.store.activeRollout() : this.store.rolloutById(id);
      if (!ro) {
        if (id === "current") fail(404, "no_active_rollout", `Namespace '${ns}' has no active rollout`, { namespace: ns });
        fail(404, "rollout_not_found", `Namespace '${ns}' has no rollout '${id}'`, { namespace: ns, rollout_id: id });
      }
      return this.rolloutDetail(ns, ro);
    });
  }

  listRollouts(ns: string, limit: number): Promise<Outcome<RolloutDetail[]>> {
    return outcomeOf(async () => {
      this.requireNs(ns);
      const rows = this.sql.exec<RolloutRow>("SELECT * FROM rollouts ORDER BY seq DESC LIMIT ?", limit).toArray();
      return rows.map((r) => this.rolloutDetail(ns, r));
    });
  }

  control(ns: string, action: ControlAction, id: string, actor: string): Promise<Outcome<RolloutDetail>> {
    return outcomeOf(async () => {
      await this.commit(() => {
        this.requireNs(ns);
        const ro = this.store.rolloutById(id);
        if (!ro) fail(404, "rollout_not_found", `Namespace '${ns}' has no rollout '${id}'`, { namespace: ns, rollout_id: id });
        const now = Date.now();
        const refusal = refuseControl(action, ro, actor);
        if (refusal) fail(refusal.status, refusal.code, refusal.message, refusal.details);
        switch (action) {
          case "approve": {
            this.sql.exec("UPDATE rollouts SET state = 'running', approved_by = ?, updated_at = ? WHERE id = ?", actor, iso(now), id);
            this.audit(ns, actor, "rollout.approved", { version: ro.version, rolloutId: id, details: { started_by: ro.started_by } });
            this.enterStage(this.store.rolloutById(id)!, 0, now);
            this.advanceDue(ns, now);
            break;
          }
          case "pause": {
            const remaining = pauseClock(ro, now).paused_remaining_ms;
            this.sql.exec("UPDATE rollouts SET state = 'paused', paused_remaining_ms = ?, next_advance_at = NULL, updated_at = ? WHERE id = ?", remaining, iso(now), id);
            this.audit(ns, actor, "rollout.paused", { version: ro.version, rolloutId: id, details: { stage_index: ro.stage_index, remaining_bake_seconds: remaining / 1000 } });
            this.outbox.enqueue("d1_namespace", null);
            break;
          }
          case "resume": {
            const next = resumeClock(ro, now).next_advance_at;
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
      return this.rolloutDetail(ns, this.store.rolloutById(id)!);
    });
  }

  /**
   * Health reports from clients, aggregated at the edge: counted per (rollout, stage, version, region)
   * and per client. `accepted`/`ignored` count reports; versions that do not exist are ignored.
   */
  report(ns: string, region: string, batch: ReportBatch): Promise<Outcome<{ accepted: number; ignored: number; rolled_back: boolean; latest_version: number }>> {
    return outcomeOf(async () => {
      // Reports are hot and usually change no release state: commit without the outbox round trip
      // unless the health gate fired.
      const { fired: rolledBack, accepted, ignored, latest } = this.ctx.storage.transactionSync(() => {
        let fired = false;
        this.requireNs(ns);
        const now = Date.now();
        const ro = this.store.activeRollout();
        const counting = ro && (ro.state === "running" || ro.state === "paused");
        const latest = this.store.latestVersion();
        const { accepted, ignored } = countReports(this.sql, region, batch, latest, counting ? ro : null, now);
        if (counting && ro && ro.state === "running") fired = this.checkHealth(ns, ro, now);
        if (++this.reportCalls % 50 === 1) this.store.pruneClients(now);
        return { fired, accepted, ignored, latest };
      });
      if (rolledBack) {
        await this.ctx.storage.setAlarm(Date.now() + OUTBOX_SAFETY_MS);
        await this.drainQuietly();
      }
      return { accepted, ignored, rolled_back: rolledBack, latest_version: latest };
    });
  }

  // ---------------------------------------------------------------- rollout state machine (synchronous)

  /** Sets candidate/percent for the stage's regions (earlier regions keep theirs). */
  private enterStage(ro: RolloutRow, index: number, now: number): void {
    const stage = stageEntry(this.store.planOf(ro), index, now);
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
      index, now, stage.next_advance_at, JSON.stringify(history), iso(now), ro.id,
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
    const plan = this.store.planOf(ro);
    const verdict = gate(plan, this.store.candidateCounts(ro));
    if (!verdict.breached) return false;
    this.autoRollBack(ns, ro, plan, verdict, now);
    return true;
  }

  private autoRollBack(ns: string, ro: RolloutRow, plan: NormalizedPlan, verdict: HealthVerdict, now: number): void {
    const rule = plan.auto_rollback!;
    this.endRollout(ro, "rolled_back", `automatic rollback: error rate ${verdict.error_rate.toFixed(4)} > ${rule.max_error_rate}`);
    this.sql.exec("DELETE FROM release_regions");
    this.releaseChanged();
    this.audit(ns, "system:health-gate", "rollout.auto_rolled_back", {
      version: ro.version,
      rolloutId: ro.id,
      details: { stage_index: ro.stage_index, ...verdict, max_error_rate: rule.max_error_rate, min_samples: rule.min_samples, stable: this.store.stable(), at: iso(now) },
    });
  }

  /**
   * Applies the state machine's next step to the running rollout until it has to wait: the health
   * gate first, then every stage whose bake time is over (bake-0 stages chain at once). Runs in the
   * alarm and after start/approve/resume/promote.
   */
  private advanceDue(ns: string, now: number): void {
    for (let guard = 0; guard < 100; guard++) {
      const ro = this.store.activeRollout();
      if (!ro) return;
      const plan = this.store.planOf(ro);
      const step = nextStep(ro, plan, this.store.candidateCounts(ro), now);
      switch (step.kind) {
        case "wait":
          return;
        case "roll_back":
          this.autoRollBack(ns, ro, plan, step.verdict, now);
          return;
        case "enter":
          this.enterStage(ro, step.index, now);
          this.audit(ns, "system:rollout", "rollout.advanced", {
            version: ro.version,
            rolloutId: ro.id,
            details: { from_stage: ro.stage_index, to_stage: step.index, stage: plan.stages[step.index] },
          });
          break;
        case "complete":
          this.endRollout(ro, "completed", "all stages done");
          this.sql.exec("DELETE FROM release_regions");
          this.store.setMeta("stable", JSON.stringify(ro.version));
          this.releaseChanged();
          this.audit(ns, "system:rollout", "rollout.completed", { version: ro.version, rolloutId: ro.id, details: { from_version: ro.from_version, stages: plan.stages.length } });
          return;
      }
    }
  }

  private rolloutDetail(ns: string, ro: RolloutRow): RolloutDetail {
    const health = this.sql
      .exec<HealthRow>(
        "SELECT stage_index, version, region, ok, error FROM health WHERE rollout_id = ? ORDER BY stage_index, version, region",
        ro.id,
      )
      .toArray();
    const clients = this.sql
      .exec<ClientCountRow>(
        "SELECT region, version, COUNT(*) AS n FROM clients WHERE seen_at >= ? GROUP BY region, version",
        Date.now() - CLIENT_RETENTION_MS,
      )
      .toArray();
    return rolloutView(ns, ro, health, clients, this.releaseState(ns));
  }

  // ---------------------------------------------------------------- alarm and outbox

  override async alarm(): Promise<void> {
    const row = this.store.nsRow();
    if (row) {
      await this.drainQuietly();
      this.ctx.storage.transactionSync(() => this.advanceDue(row.name, Date.now()));
      await this.drainQuietly();
    }
    await this.scheduleAlarm();
  }

  /** Next alarm = the earliest of the running stage's advance time and the next outbox retry. */
  private async scheduleAlarm(): Promise<void> {
    const ro = this.store.activeRollout();
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
    const row = this.store.nsRow();
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
    const gen = this.store.generation();
    if (gen <= Number(this.store.getMeta("stream_generation") ?? "0")) return;
    try {
      await publishReleaseChange(this.env, ns, streamEventOf(this.releaseState(ns)));
      this.store.setMeta("stream_generation", String(gen));
      this.streamRetryAt = null;
    } catch (e) {
      console.error("config stream notify failed; the alarm retries", String((e as Error)?.message ?? e));
      this.streamRetryAt = Date.now() + 1000;
    }
  }

  private sinks(ns: string): OutboxSinks {
    return coordinatorSinks(this.env, ns, this.store, {
      releaseState: () => this.releaseState(ns),
      versionBlob: async (version) => this.versionBlob(ns, version),
    });
  }
}
