import type { AuditInput } from "../audit-store";

/**
 * The RolloutCoordinator's transactional outbox (table `outbox` in its SQLite). Rows are inserted in
 * the same synchronous transaction as the change that needs them and delivered afterwards; a failed
 * row stays with a backoff and is retried by the coordinator's alarm.
 */
export type OutboxKind = "audit" | "kv_version" | "kv_release" | "d1_namespace";

/** Where rows go. `putRelease` and `upsertReadModel` write the coordinator's *current* state. */
export interface OutboxSinks {
  putVersionBlob(version: number): Promise<void>;
  putRelease(): Promise<void>;
  upsertReadModel(): Promise<void>;
  appendAudit(entry: AuditInput): Promise<void>;
}

const MAX_BACKOFF_MS = 60_000;
/** KV accepts about one write per second to the same key: release writes are spaced at least this far apart. */
export const KV_KEY_WRITE_INTERVAL_MS = 1000;

export class Outbox {
  private chain: Promise<void> = Promise.resolve();
  /** When this object last wrote the release key (a restarted object may write once early: harmless). */
  private lastReleasePutAt = 0;

  constructor(private readonly sql: SqlStorage) {}

  enqueue(kind: OutboxKind, payload: unknown = null): void {
    this.sql.exec("INSERT INTO outbox (kind, payload) VALUES (?, ?)", kind, JSON.stringify(payload));
  }

  /** When the earliest pending row should be (re)tried, or null when the outbox is empty. */
  nextAttemptAt(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT MIN(next_attempt_at) AS t FROM outbox").one().t;
  }

  /** Delivers every pending row. Drains are serialized, so KV never gets an older release after a newer one. */
  drain(sinks: OutboxSinks): Promise<void> {
    const run = this.chain.then(() => this.drainOnce(sinks));
    this.chain = run.catch(() => {});
    return run;
  }

  private markFailed(ids: number[], err: unknown): void {
    const now = Date.now();
    const message = String((err as Error)?.message ?? err).slice(0, 500);
    for (const id of ids) {
      const a = this.sql.exec<{ attempts: number }>("SELECT attempts FROM outbox WHERE id = ?", id).toArray()[0]?.attempts ?? 0;
      this.sql.exec("UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?", a + 1, now + Math.min(MAX_BACKOFF_MS, 500 * 2 ** a), message, id);
    }
  }

  /** Rows not delivered yet of `kind` that are due now (their backoff, if any, is over). */
  private due(kind: OutboxKind, now: number): { id: number; payload: string }[] {
    return this.sql
      .exec<{ id: number; payload: string }>("SELECT id, payload FROM outbox WHERE kind = ? AND next_attempt_at <= ? ORDER BY id", kind, now)
      .toArray();
  }

  private async drainOnce(sinks: OutboxSinks): Promise<void> {
    const now = Date.now();
    let firstError: unknown = null;

    // 1. Version blobs first, so a release never names a version KV cannot serve.
    for (const r of this.due("kv_version", now)) {
      try {
        await sinks.putVersionBlob((JSON.parse(r.payload) as { version: number }).version);
        this.sql.exec("DELETE FROM outbox WHERE id = ?", r.id);
      } catch (e) {
        this.markFailed([r.id], e);
        firstError ??= e;
      }
    }
    // 2. The release state: the current one (carrying its generation), written once for all rows,
    //    and at most once per KV_KEY_WRITE_INTERVAL_MS: a burst of changes becomes one write per second.
    const rel = this.due("kv_release", now);
    const blobRetry = this.sql.exec<{ t: number | null }>("SELECT MIN(next_attempt_at) AS t FROM outbox WHERE kind = 'kv_version'").one().t;
    if (rel.length > 0 && blobRetry !== null) {
      // Wait for the blobs (retried with their backoff) rather than spin.
      this.sql.exec("UPDATE outbox SET next_attempt_at = ? WHERE kind = 'kv_release' AND next_attempt_at < ?", blobRetry, blobRetry);
    } else if (rel.length > 0) {
      const earliest = this.lastReleasePutAt + KV_KEY_WRITE_INTERVAL_MS;
      if (now < earliest) {
        this.sql.exec("UPDATE outbox SET next_attempt_at = ? WHERE kind = 'kv_release' AND next_attempt_at < ?", earliest, earliest);
      } else {
        const upTo = rel[rel.length - 1].id;
        try {
          this.lastReleasePutAt = now;
          await sinks.putRelease();
          this.sql.exec("DELETE FROM outbox WHERE kind = 'kv_release' AND id <= ?", upTo);
        } catch (e) {
          this.markFailed(rel.map((r) => r.id), e);
          firstError ??= e;
        }
      }
    }
    // 3. The D1 read model used for listing namespaces.
    const model = this.due("d1_namespace", now);
    if (model.length > 0) {
      try {
        await sinks.upsertReadModel();
        this.sql.exec("DELETE FROM outbox WHERE kind = 'd1_namespace' AND id <= ?", model[model.length - 1].id);
      } catch (e) {
        this.markFailed(model.map((r) => r.id), e);
        firstError ??= e;
      }
    }
    // 4. Audit entries in order (idempotent by event id); stop at the first failure, or at the first
    //    entry still backing off, to keep the order.
    const audits = this.sql.exec<{ id: number; payload: string; next_attempt_at: number }>("SELECT id, payload, next_attempt_at FROM outbox WHERE kind = 'audit' ORDER BY id").toArray();
    for (const r of audits) {
      if (r.next_attempt_at > now) break;
      try {
        await sinks.appendAudit(JSON.parse(r.payload) as AuditInput);
        this.sql.exec("DELETE FROM outbox WHERE id = ?", r.id);
      } catch (e) {
        this.markFailed([r.id], e);
        firstError ??= e;
        break;
      }
    }
    if (firstError !== null) throw firstError;
  }
}
