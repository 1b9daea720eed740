import { createHash } from "node:crypto";
import { intArg, namespaceArg } from "../lib/args.mjs";
import { patchOf, renderPatch, resolvePointer } from "../lib/diff.mjs";
import { FailureError, pointerIssues } from "../lib/errors.mjs";
import { readJsonObject } from "../lib/files.mjs";
import { seg } from "../lib/http.mjs";
import { listOf, oneLine, shortHash, shortTime } from "../lib/render.mjs";
import { renderPairs, renderTable } from "../lib/table.mjs";
import { run } from "./run.mjs";

/**
 * The default Idempotency-Key of a publish: the same file content and message for the same
 * namespace give the same key, so re-running a publish that timed out never creates a second version.
 * @param {string} namespace
 * @param {string} fileText
 * @param {string} message
 */
export function defaultIdempotencyKey(namespace, fileText, message) {
  const h = createHash("sha256").update(namespace).update("\0").update(fileText).update("\0").update(message).digest("hex");
  return `cli-${h.slice(0, 40)}`;
}

/** `edgeplane validate`, `publish`, `versions`, `diff` */
export function register(/** @type {import("commander").Command} */ program) {
  program
    .command("validate")
    .description("check a values file against the namespace's schema (nothing is stored)")
    .argument("<namespace>", "namespace name", namespaceArg)
    .argument("<file>", "JSON file with the config values ('-' for stdin)")
    .action(
      run(async (ctx, ns, file) => {
        const { value } = readJsonObject(file, "config values");
        const res = await ctx.client.request("POST", `/admin/v1/namespaces/${seg(ns)}/validate`, { body: { values: value } });
        const b = res.body;
        const invalid = b && typeof b === "object" && (b.valid === false || b.ok === false);
        if (ctx.json) ctx.printJson(b);
        if (invalid) {
          if (!ctx.json) {
            ctx.info(`${ctx.ce.red("✗")} ${file} is not valid for ${ns}:`);
            for (const i of pointerIssues(b.errors ?? b.issues ?? b.details) ?? []) ctx.info(`  ${ctx.ce.bold(i.where || "/")}: ${i.message}`);
          }
          throw new FailureError(`${file} is not valid for ${ns}`);
        }
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
      run(async (ctx, ns, file, opts) => {
        const { text, value } = readJsonObject(file, "config values");
        const key = opts.idempotencyKey ?? defaultIdempotencyKey(ns, text, opts.message);
        const res = await ctx.client.request("POST", `/admin/v1/namespaces/${seg(ns)}/versions`, {
          body: { values: value, message: opts.message },
          headers: { "idempotency-key": key },
        });
        if (ctx.json) return ctx.printJson(res.body);
        const replay = res.headers.get("idempotency-replayed") === "true" || res.body?.replayed === true;
        ctx.out(
          `${ctx.c.green("✓")} ${replay ? "already published as" : "published"} ${ctx.c.bold(`${ns} v${res.body.version}`)} ${ctx.c.dim(String(res.body.hash ?? ""))}`,
        );
        if (!replay) ctx.info(ctx.ce.dim(`  roll it out: edgeplane rollout start ${ns} ${res.body.version} --plan canary`));
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
      run(async (ctx, ns, version, opts) => {
        if (version !== undefined) {
          const v = await ctx.client.get(`/admin/v1/namespaces/${seg(ns)}/versions/${version}`);
          if (ctx.json) return ctx.printJson(v);
          const pairs = Object.entries(v).filter(([k, x]) => k !== "values" && (x === null || typeof x !== "object"));
          ctx.out(renderPairs(/** @type {[string, unknown][]} */ (pairs.map(([k, x]) => [k, k.endsWith("_at") ? shortTime(x) : x])), ctx.c.bold));
          ctx.out(ctx.c.bold("values"));
          ctx.out(JSON.stringify(v.values, null, 2));
          return;
        }
        const body = await ctx.client.get(`/admin/v1/namespaces/${seg(ns)}/versions`, { limit: opts.limit, cursor: opts.cursor });
        if (ctx.json) return ctx.printJson(body);
        const items = listOf(body, ["versions"]);
        if (items.length === 0) return ctx.out(ctx.c.dim(`no versions of ${ns} yet`));
        const rows = items.map((v) => [`v${v.version}`, shortTime(v.created_at), v.author ?? "-", shortHash(v.hash), oneLine(v.message ?? "", 60)]);
        ctx.out(renderTable(["VERSION", "CREATED", "AUTHOR", "HASH", "MESSAGE"], rows, { header: ctx.c.bold }));
        const next = body?.next_cursor ?? body?.cursor ?? null;
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
      run(async (ctx, ns, a, b) => {
        const body = await ctx.client.get(`/admin/v1/namespaces/${seg(ns)}/versions/${b}/diff`, { against: a });
        if (ctx.json) return ctx.printJson(body);
        const ops = patchOf(body) ?? [];
        if (ops.some((o) => o.op === "replace" || o.op === "remove")) {
          // Show what a replace/remove takes away: read the base version's values once.
          const base = await ctx.client.get(`/admin/v1/namespaces/${seg(ns)}/versions/${a}`);
          for (const o of ops) {
            if (o.op !== "replace" && o.op !== "remove") continue;
            const old = resolvePointer(base?.values, o.path);
            if (old.found) o.old = old.value;
          }
        }
        ctx.out(ctx.c.bold(`${ns}: v${a} → v${b}`) + ctx.c.dim(` (${ops.length} operation${ops.length === 1 ? "" : "s"})`));
        if (ops.length === 0) return ctx.out(ctx.c.dim("no differences"));
        for (const line of renderPatch(ops, ctx.c)) ctx.out(line);
      }),
    );
}
