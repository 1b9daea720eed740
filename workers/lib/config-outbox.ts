import type { AuditInput } from "./audit-store";

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

export class Outbox {
  private chain: Promise<void> = Promise.resolve();

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

  private async drainOnce(sinks: OutboxSinks): Promise<void> {
    const rows = this.sql.exec<{ id: number; kind: OutboxKind; payload: string }>("SELECT id, kind, payload FROM outbox ORDER BY id").toArray();
    if (rows.length === 0) return;
    let firstError: unknown = null;
    const of = (k: OutboxKind) => rows.filter((r) => r.kind === k);

    // 1. Version blobs first, so a release never names a version KV cannot serve.
    for (const r of of("kv_version")) {
      try {
        await sinks.putVersionBlob((JSON.parse(r.payload) as { version: number }).version);
        this.sql.exec("DELETE FROM outbox WHERE id = ?", r.id);
      } catch (e) {
        this.markFailed([r.id], e);
        firstError ??= e;
      }
    }
    // 2. The release state: the current one (carrying its generation), written once for all rows.
    const rel = of("kv_release");
    if (rel.length > 0 && firstError === null) {
      try {
        await sinks.putRelease();
        this.sql.exec("DELETE FROM outbox WHERE kind = 'kv_release' AND id <= ?", rel[rel.length - 1].id);
      } catch (e) {
        this.markFailed(rel.map((r) => r.id), e);
        firstError ??= e;
      }
    }
    // 3. The D1 read model used for listing namespaces.
    const model = of("d1_namespace");
    if (model.length > 0) {
      try {
        await sinks.upsertReadModel();
        this.sql.exec("DELETE FROM outbox WHERE kind = 'd1_namespace' AND id <= ?", model[model.length - 1].id);
      } catch (e) {
        this.markFailed(model.map((r) => r.id), e);
        firstError ??= e;
      }
    }
    // 4. Audit entries in order (idempotent by event id); stop at the first failure to keep the order.
    for (const r of of("audit")) {
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
