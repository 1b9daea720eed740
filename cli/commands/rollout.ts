import { existsSync } from "node:fs";
import type { Command } from "commander";
import { ROLLOUT_ACTIONS, type RolloutAction, type RolloutDetail, type RolloutPlan } from "@edgeplane/client";
import type { Ctx } from "../lib/context.ts";
import { durationArg, intArg, namespaceArg, numberArg } from "../lib/args.ts";
import { ApiError, FailureError, UsageError } from "../lib/errors.ts";
import { readJsonFile } from "../lib/files.ts";
import { LiveBlock } from "../lib/progress.ts";
import { colorState, isTerminal, renderRollout, rolloutId, rolloutLine } from "../lib/rollout-view.ts";
import { renderTable } from "../lib/table.ts";
import { shortTime } from "../lib/render.ts";
import { run } from "./run.ts";

const PRESETS = ["canary", "immediate"];

/**
 * The `plan` field of a rollout request from `--plan` and its modifiers.
 * `planArg`: a preset name or the path of a JSON plan file.
 */
export function buildPlan(planArg: string, opts: { bake?: number; maxErrorRate?: number; minSamples?: number }): RolloutPlan {
  const autoRollback =
    opts.maxErrorRate !== undefined || opts.minSamples !== undefined
      ? { max_error_rate: opts.maxErrorRate ?? 0.05, min_samples: opts.minSamples ?? 100 }
      : undefined;
  if (PRESETS.includes(planArg) && !existsSync(planArg)) {
    const preset = planArg as "canary" | "immediate";
    if (opts.bake === undefined && !autoRollback) return preset;
    const p: Exclude<RolloutPlan, string | { stages: unknown }> = { preset };
    if (opts.bake !== undefined) p.bake_seconds = Math.round(opts.bake);
    if (autoRollback) p.auto_rollback = autoRollback;
    return p;
  }
  if (opts.bake !== undefined) throw new UsageError("--bake only applies to a preset plan (canary | immediate); set bake_seconds per stage in the plan file");
  const { value } = readJsonFile(planArg);
  // The server validates the plan (422 invalid_plan with every issue); here only its envelope is unwrapped.
  let plan = value as any;
  if (plan && typeof plan === "object" && !Array.isArray(plan) && !plan.stages && plan.plan) plan = plan.plan;
  if (Array.isArray(plan)) plan = { stages: plan };
  if (!plan || (typeof plan !== "object" && typeof plan !== "string")) throw new UsageError(`${planArg}: a plan must be a JSON object {stages: [...]} or a preset name`);
  if (autoRollback && typeof plan === "object") plan = { ...plan, auto_rollback: autoRollback };
  return plan;
}

/**
 * The rollout to act on: the given ID, or the namespace's current one.
 */
async function resolveRollout(ctx: Ctx, ns: string, id: string | undefined): Promise<string> {
  if (id) return id;
  const found = rolloutId(await ctx.client.admin.rollouts.get(ns, "current"));
  if (!found) throw new FailureError(`${ns} has no active rollout`);
  return found;
}

/**
 * The rollout to show: the given one, else the active one, else the most recent (which has ended).
 */
async function rolloutToShow(ctx: Ctx, ns: string, id: string | undefined): Promise<{ rollout: RolloutDetail; active: boolean }> {
  if (id) return { rollout: await ctx.client.admin.rollouts.get(ns, id), active: true };
  try {
    return { rollout: await ctx.client.admin.rollouts.get(ns, "current"), active: true };
  } catch (e) {
    if (!(e instanceof ApiError && e.code === "no_active_rollout")) throw e;
    const latest = (await ctx.client.admin.rollouts.list(ns, { limit: 1 })).rollouts[0];
    if (!latest) throw e;
    return { rollout: latest, active: false };
  }
}

/**
 * Polls a rollout until it ends: redraws bars in place on a TTY, prints a line per change otherwise
 * (one JSON document per change with --json). Fails (exit 1) when it ends aborted or rolled back.
 */
async function watchRollout(ctx: Ctx, ns: string, id: string, intervalSeconds: number): Promise<void> {
  const read = () => ctx.client.patiently(() => ctx.client.admin.rollouts.get(ns, id));
  const live = ctx.tty && !ctx.json ? new LiveBlock(process.stdout) : null;
  let last = "";
  let r = await read();
  let fetchedAt = Date.now();
  for (;;) {
    if (live) {
      live.render(renderRollout(r, ctx.c));
    } else {
      const key = ctx.json ? JSON.stringify({ ...r, updated_at: undefined }) : rolloutLine(r);
      if (key !== last) {
        if (ctx.json) ctx.out(JSON.stringify(r));
        else ctx.out(`${new Date().toISOString().slice(11, 19)} ${key}`);
        last = key;
      }
    }
    if (isTerminal(r)) break;
    // Redraw the timer every second on a TTY; ask the server every `intervalSeconds`.
    await sleep(live ? Math.min(1000, intervalSeconds * 1000) : intervalSeconds * 1000);
    if (!live || Date.now() - fetchedAt >= intervalSeconds * 1000) {
      r = await read();
      fetchedAt = Date.now();
    }
  }
  if (r.state !== "completed") throw new FailureError(`rollout ${id} ended ${r.state}${r.end_reason ? `: ${r.end_reason}` : ""}`);
  if (!ctx.json) ctx.info(ctx.ce.green(`✓ rollout ${id} completed: ${ns} v${r.version} everywhere`));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `edgeplane rollout …`, `rollback`, `release` */
export function register(program: Command): void {
  const ro = program.command("rollout").description("start, watch and control staged rollouts");

  ro.command("start")
    .description("start rolling a version out")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("<version>", "the version to roll out", intArg({ min: 1 }))
    .requiredOption("--plan <plan>", "canary | immediate | path to a JSON plan {stages: [{regions, percent, bake_seconds}], auto_rollback?}")
    .option("--bake <duration>", "bake time of every stage of a preset (e.g. 30s, 10m)", durationArg)
    .option("--max-error-rate <rate>", "auto-rollback when the candidate's error rate exceeds this (0–1)", numberArg({ min: 0, max: 1 }))
    .option("--min-samples <n>", "…with at least this many reports in the stage", intArg({ min: 1 }))
    .option("-w, --watch", "then watch it until it ends")
    .option("--interval <seconds>", "polling interval for --watch", numberArg({ min: 0.2, max: 60 }), 1)
    .action(
      run(async (ctx, ns: string, version: number, opts: { plan: string; bake?: number; maxErrorRate?: number; minSamples?: number; watch?: boolean; interval: number }) => {
        const plan = buildPlan(opts.plan, opts);
        const started = await ctx.client.admin.rollouts.start(ns, { version, plan });
        const id = started.rollout_id;
        if (ctx.json && !opts.watch) return ctx.printJson(started);
        if (!ctx.json) {
          ctx.out(`${ctx.c.green("✓")} started rollout ${ctx.c.bold(String(id))} of ${ns} v${version} (${started.state})`);
          if (started.state === "pending_approval") ctx.info(ctx.ce.yellow(`  needs approval by another person: edgeplane rollout approve ${ns} ${id}`));
        }
        if (opts.watch) await watchRollout(ctx, ns, id, opts.interval);
      }),
    );

  ro.command("status")
    .description("show a rollout (default: the current one); --watch follows it live until it ends")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("[id]", "rollout id (default: the current rollout)")
    .option("-w, --watch", "follow until completed/aborted/rolled back (exit 1 unless completed)")
    .option("--interval <seconds>", "polling interval for --watch", numberArg({ min: 0.2, max: 60 }), 1)
    .action(
      run(async (ctx, ns: string, id: string | undefined, opts: { watch?: boolean; interval: number }) => {
        const { rollout, active } = await rolloutToShow(ctx, ns, id);
        if (!active && !ctx.json) ctx.info(ctx.ce.dim(`${ns} has no active rollout; showing the latest one`));
        if (opts.watch) return watchRollout(ctx, ns, rollout.rollout_id, opts.interval);
        if (ctx.json) return ctx.printJson(rollout);
        for (const line of renderRollout(rollout, ctx.c)) ctx.out(line);
      }),
    );

  ro.command("list")
    .description("list a namespace's rollouts, newest first")
    .argument("<namespace>", "namespace name", namespaceArg)
    .option("--limit <n>", "at most this many", intArg({ min: 1, max: 100 }))
    .action(
      run(async (ctx, ns: string, opts: { limit?: number }) => {
        const body = await ctx.client.admin.rollouts.list(ns, { limit: opts.limit });
        if (ctx.json) return ctx.printJson(body);
        const items = body.rollouts;
        if (items.length === 0) return ctx.out(ctx.c.dim(`no rollouts of ${ns} yet`));
        const rows = items.map((r) => [
          r.rollout_id,
          `${r.from_version != null ? `v${r.from_version}` : "-"} → v${r.version}`,
          colorState(r.state, ctx.c),
          `${r.stage_index + 1}/${r.stage_count}`,
          r.started_by,
          shortTime(r.created_at),
          r.end_reason ?? "",
        ]);
        ctx.out(renderTable(["ROLLOUT", "VERSIONS", "STATE", "STAGE", "STARTED BY", "CREATED", "END"], rows, { header: ctx.c.bold }));
      }),
    );

  const help: Record<RolloutAction, string> = {
    pause: "pause the rollout (the bake timer stops)",
    resume: "resume a paused rollout",
    promote: "skip the current stage's remaining bake and advance now",
    approve: "approve a rollout waiting for approval (must be a different person than who started it)",
    abort: "abort the rollout: every region goes back to the stable version",
  };
  for (const action of ROLLOUT_ACTIONS) {
    ro.command(action)
      .description(help[action])
      .argument("<namespace>", "namespace name", namespaceArg)
      .argument("[id]", "rollout id (default: the current rollout)")
      .action(
        run(async (ctx, ns: string, id: string | undefined) => {
          const rid = await resolveRollout(ctx, ns, id);
          const r = await ctx.client.admin.rollouts.control(ns, rid, action);
          if (ctx.json) return ctx.printJson(r);
          const state = ` — now ${r.state}`;
          const stage = r.stage_count ? `, stage ${r.stage_index + 1}/${r.stage_count}` : "";
          ctx.out(`${ctx.c.green("✓")} ${action}: rollout ${ctx.c.bold(rid)} of ${ns}${state}${stage}`);
        }),
      );
  }

  program
    .command("rollback")
    .description("emergency rollback: every region to VERSION at once, cancelling any rollout")
    .argument("<namespace>", "namespace name", namespaceArg)
    .requiredOption("--to <version>", "the version to serve everywhere", intArg({ min: 1 }))
    .requiredOption("--reason <text>", "why (kept in the audit log)")
    .action(
      run(async (ctx, ns: string, opts: { to: number; reason: string }) => {
        const rel = await ctx.client.admin.rollback(ns, { to_version: opts.to, reason: opts.reason });
        if (ctx.json) return ctx.printJson(rel);
        ctx.out(`${ctx.c.green("✓")} rolled ${ns} back to ${ctx.c.bold(`v${opts.to}`)} in every region${ctx.c.dim(` (generation ${rel.generation})`)}`);
      }),
    );

  program
    .command("release")
    .description("show the authoritative release state: per region stable, candidate and percent")
    .argument("<namespace>", "namespace name", namespaceArg)
    .action(
      run(async (ctx, ns: string) => {
        const rel = await ctx.client.admin.release(ns);
        if (ctx.json) return ctx.printJson(rel);
        ctx.out(`${ctx.c.bold(ns)}  stable ${rel.stable != null ? `v${rel.stable}` : "-"}  generation ${rel.generation}  ${ctx.c.dim(`updated ${shortTime(rel.updated_at)}`)}`);
        const rows = Object.entries(rel.regions).map(([name, r]) => [
          name,
          r.stable != null ? `v${r.stable}` : "-",
          r.candidate != null ? `v${r.candidate}` : "-",
          r.candidate != null ? `${Number(r.percent).toFixed(2)}%` : "-",
          r.rollout_id ?? "-",
        ]);
        if (rows.length) ctx.out(renderTable(["REGION", "STABLE", "CANDIDATE", "PERCENT", "ROLLOUT"], rows, { header: ctx.c.bold }));
      }),
    );
}
