import { createHash } from "node:crypto";
import type { Command } from "commander";
import { intArg, namespaceArg } from "../lib/args.ts";
import { renderPatch, resolvePointer, type PatchOp } from "../lib/diff.ts";
import { readJsonObject } from "../lib/files.ts";
import { oneLine, shortHash, shortTime } from "../lib/render.ts";
import { renderPairs, renderTable } from "../lib/table.ts";
import { run } from "./run.ts";

/**
 * The default Idempotency-Key of a publish: the same file content and message for the same
 * namespace give the same key, so re-running a publish that timed out never creates a second version.
 */
export function defaultIdempotencyKey(namespace: string, fileText: string, message: string): string {
  const h = createHash("sha256").update(namespace).update("\0").update(fileText).update("\0").update(message).digest("hex");
  return `cli-${h.slice(0, 40)}`;
}

/** `edgeplane validate`, `publish`, `versions`, `diff` */
export function register(program: Command): void {
  program
    .command("validate")
    .description("check a values file against the namespace's schema (nothing is stored)")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("<file>", "JSON file with the config values ('-' for stdin)")
    .action(
      run(async (ctx, ns: string, file: string) => {
        const { value } = readJsonObject(file, "config values");
        // Invalid values are a 422 `validation_failed`: reported (every issue, with its pointer) by the error handler.
        const b = await ctx.client.admin.versions.validate(ns, value);
        if (ctx.json) ctx.printJson(b);
        if (!ctx.json) ctx.out(`${ctx.c.green("✓")} ${file} is valid for ${ctx.c.bold(ns)}`);
      }),
    );

  program
    .command("publish")
    .description("publish a values file as a new immutable version")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("<file>", "JSON file with the config values ('-' for stdin)")
    .requiredOption("-m, --message <text>", "what changed and why")
    .option("--idempotency-key <key>", "makes retries safe (default: derived from namespace, file content and message)")
    .action(
      run(async (ctx, ns: string, file: string, opts: { message: string; idempotencyKey?: string }) => {
        const { text, value } = readJsonObject(file, "config values");
        const key = opts.idempotencyKey ?? defaultIdempotencyKey(ns, text, opts.message);
        const { replayed, ...created } = await ctx.client.admin.versions.create(ns, { values: value, message: opts.message }, { idempotencyKey: key });
        if (ctx.json) return ctx.printJson(created);
        ctx.out(`${ctx.c.green("✓")} ${replayed ? "already published as" : "published"} ${ctx.c.bold(`${ns} v${created.version}`)} ${ctx.c.dim(created.hash)}`);
        if (!replayed) ctx.info(ctx.ce.dim(`  roll it out: edgeplane rollout start ${ns} ${created.version} --plan canary`));
      }),
    );

  program
    .command("versions")
    .description("list versions, newest first; with VERSION, show that version's values")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("[version]", "a version number to show in full", intArg({ min: 1 }))
    .option("--limit <n>", "at most this many", intArg({ min: 1, max: 100 }))
    .option("--cursor <cursor>", "continue from a previous page")
    .action(
      run(async (ctx, ns: string, version: number | undefined, opts: { limit?: number; cursor?: string }) => {
        if (version !== undefined) {
          const v = await ctx.client.admin.versions.get(ns, version);
          if (ctx.json) return ctx.printJson(v);
          const pairs = Object.entries(v).filter(([k, x]) => k !== "values" && (x === null || typeof x !== "object"));
          ctx.out(renderPairs(pairs.map(([k, x]): [string, unknown] => [k, k.endsWith("_at") ? shortTime(x) : x]), ctx.c.bold));
          ctx.out(ctx.c.bold("values"));
          ctx.out(JSON.stringify(v.values, null, 2));
          return;
        }
        const body = await ctx.client.admin.versions.list(ns, { limit: opts.limit, cursor: opts.cursor });
        if (ctx.json) return ctx.printJson(body);
        const items = body.versions;
        if (items.length === 0) return ctx.out(ctx.c.dim(`no versions of ${ns} yet`));
        const rows = items.map((v) => [`v${v.version}`, shortTime(v.created_at), v.author, shortHash(v.hash), oneLine(v.message, 60)]);
        ctx.out(renderTable(["VERSION", "CREATED", "AUTHOR", "HASH", "MESSAGE"], rows, { header: ctx.c.bold }));
        const next = body.next_cursor;
        if (next) ctx.info(ctx.ce.dim(`more: edgeplane versions ${ns} --cursor ${next}`));
      }),
    );

  program
    .command("diff")
    .description("show what changes from version A to version B (RFC 6902 JSON Patch)")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("<a>", "the base version", intArg({ min: 1 }))
    .argument("<b>", "the version to compare with the base", intArg({ min: 1 }))
    .action(
      run(async (ctx, ns: string, a: number, b: number) => {
        const body = await ctx.client.admin.versions.diff(ns, b, a);
        if (ctx.json) return ctx.printJson(body);
        const ops: PatchOp[] = body.patch.map((o) => ({ ...o }));
        if (ops.some((o) => o.op === "replace" || o.op === "remove")) {
          // Show what a replace/remove takes away: read the base version's values once.
          const base = await ctx.client.admin.versions.get(ns, a);
          for (const o of ops) {
            if (o.op !== "replace" && o.op !== "remove") continue;
            const old = resolvePointer(base.values, o.path);
            if (old.found) o.old = old.value;
          }
        }
        ctx.out(ctx.c.bold(`${ns}: v${a} → v${b}`) + ctx.c.dim(` (${ops.length} operation${ops.length === 1 ? "" : "s"})`));
        if (ops.length === 0) return ctx.out(ctx.c.dim("no differences"));
        for (const line of renderPatch(ops, ctx.c)) ctx.out(line);
      }),
    );
}
