import {
  MAX_ROUNDS_PER_RUN,
  RUN_BUDGET_MS,
  SLICE_ROWS,
  cutoffs,
  retentionSettings,
  retentionSteps,
  type RetentionStep,
} from "../lib/clicks/retention";

/**
 * The click tables' retention job (Cron Trigger, wrangler.toml `[triggers]`): rolls minute cells up
 * into days, deletes expired days and ingest statistics, prunes the flush ledger. Each slice is one
 * D1 batch; a run sends at most MAX_ROUNDS_PER_RUN rounds of one slice per step, starts no round
 * after RUN_BUDGET_MS, and the next run continues where it stopped. docs/STORAGE.md, "Retention".
 */

export interface RetentionOptions {
  sliceRows?: number;
  maxRounds?: number;
  budgetMs?: number;
}

export interface RetentionReport {
  /** Rows each step handled: minute rows rolled up, daily / statistics / ledger rows deleted. */
  rows: Record<RetentionStep["name"], number>;
  batches: number;
  /** True when every step ran out of work (nothing left past its cut-off). */
  complete: boolean;
  errors: { step: RetentionStep["name"]; message: string }[];
}

export async function runRetention(env: Env, now: number, opts: RetentionOptions = {}): Promise<RetentionReport> {
  const sliceRows = opts.sliceRows ?? SLICE_ROWS;
  const maxRounds = opts.maxRounds ?? MAX_ROUNDS_PER_RUN;
  const deadline = Date.now() + (opts.budgetMs ?? RUN_BUDGET_MS);
  const report: RetentionReport = {
    rows: { rollup: 0, expire_daily: 0, expire_stats: 0, prune_ledger: 0 },
    batches: 0,
    complete: false,
    errors: [],
  };
  // Rounds of one slice per step that still has work: a backlog in one step never starves the others.
  let pending = retentionSteps(cutoffs(now, retentionSettings(env)), sliceRows);
  for (let round = 0; round < maxRounds && pending.length > 0 && (round === 0 || Date.now() < deadline); round++) {
    const next: RetentionStep[] = [];
    for (const step of pending) {
      report.batches++;
      try {
        const results = await env.DB.batch(step.statements.map((s) => env.DB.prepare(s.sql).bind(...s.params)));
        const n = results[step.counted]?.meta.changes ?? 0;
        report.rows[step.name] += n;
        if (n >= sliceRows) next.push(step);
      } catch (err) {
        // The batch rolled back whole; the next run retries the same slice.
        report.errors.push({ step: step.name, message: String((err as Error)?.message ?? err) });
      }
    }
    pending = next;
  }
  report.complete = pending.length === 0 && report.errors.length === 0;
  return report;
}

/** The Worker's `scheduled` handler. A failed slice fails the invocation (after the other steps ran). */
export async function scheduled(controller: ScheduledController, env: Env): Promise<void> {
  const report = await runRetention(env, controller.scheduledTime);
  console.log("click retention", JSON.stringify(report));
  if (report.errors.length > 0) {
    throw new Error(`click retention: ${report.errors.map((e) => `${e.step}: ${e.message}`).join("; ")}`);
  }
}
