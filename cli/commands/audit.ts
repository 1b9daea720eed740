import type { Command } from "commander";
import { intArg, namespaceArg } from "../lib/args.ts";
import { FailureError } from "../lib/errors.ts";
import { oneLine, shortHash, shortTime } from "../lib/render.ts";
import { renderTable } from "../lib/table.ts";
import { run } from "./run.ts";

/** `edgeplane audit [--namespace] [--limit]`, `edgeplane audit verify` */
export function register(program: Command): void {
  const audit = program
    .command("audit")
    .description("show the audit log, newest first (or oldest first from --after)")
    .option("-n, --namespace <namespace>", "only this namespace's entries", namespaceArg)
    .option("--limit <n>", "at most this many entries", intArg({ min: 1, max: 1000 }), 20)
    .option("--after <seq>", "entries after this sequence number, oldest first (for paging)", intArg({ min: 0 }))
    .action(
      run(async (ctx, opts: { namespace?: string; limit: number; after?: number }) => {
        const body = await ctx.client.admin.audit.list({ namespace: opts.namespace, limit: opts.limit, after: opts.after, order: opts.after === undefined ? "desc" : "asc" });
        if (ctx.json) return ctx.printJson(body);
        const entries = body.entries;
        if (entries.length === 0) return ctx.out(ctx.c.dim("no audit entries"));
        const rows = entries.map((e) => [
          e.seq,
          shortTime(e.ts),
          e.actor,
          ctx.c.cyan(e.action),
          e.namespace ?? "-",
          e.version != null ? `v${e.version}` : "-",
          oneLine(e.details === null ? "" : e.details, 50),
          ctx.c.dim(shortHash(e.hash)),
        ]);
        ctx.out(renderTable(["SEQ", "TIME", "ACTOR", "ACTION", "NAMESPACE", "VERSION", "DETAILS", "HASH"], rows, { header: ctx.c.bold }));
        if (body.next_after != null) ctx.info(ctx.ce.dim(`more: edgeplane audit --after ${body.next_after}`));
      }),
    );

  audit
    .command("verify")
    .description("recompute the audit hash chain on the server; exit 1 if it is broken")
    .action(
      run(async (ctx) => {
        const body = await ctx.client.admin.audit.verify();
        if (ctx.json) ctx.printJson(body);
        if (!body.ok) throw new FailureError(`audit chain is BROKEN at seq ${body.first_bad_seq ?? "?"}: ${body.reason ?? "unknown reason"} (${body.checked} entries checked)`);
        if (!ctx.json) ctx.out(`${ctx.c.green("✓")} audit chain intact: ${body.checked} entries, head ${ctx.c.dim(shortHash(body.head))}`);
      }),
    );
}
