import { Option, type Command } from "commander";
import type { PutNamespaceBody } from "@edgeplane/client";
import { namespaceArg, intArg } from "../lib/args.ts";
import { readJsonObject } from "../lib/files.ts";
import { oneLine, shortTime } from "../lib/render.ts";
import { renderPairs, renderTable } from "../lib/table.ts";
import { run } from "./run.ts";

/** `edgeplane namespace create|show|list` */
export function register(program: Command): void {
  const ns = program.command("namespace").alias("ns").description("create, inspect and list config namespaces");

  ns.command("create")
    .description("create a namespace or update its schema/description/approvals (PUT)")
    .argument("<namespace>", "namespace name", namespaceArg)
    .requiredOption("--schema <file>", "JSON Schema file for the namespace's values ('-' for stdin)")
    .option("--description <text>", "what this config is for")
    .addOption(new Option("--approvals <n>", "approvals required before a rollout runs").choices(["0", "1"]))
    .action(
      run(async (ctx, name: string, opts: { schema: string; description?: string; approvals?: "0" | "1" }) => {
        const { value: schema } = readJsonObject(opts.schema, "the schema");
        const body: PutNamespaceBody = { schema };
        if (opts.description !== undefined) body.description = opts.description;
        if (opts.approvals !== undefined) body.approvals_required = opts.approvals === "1" ? 1 : 0;
        const res = await ctx.client.admin.namespaces.putWithStatus(name, body);
        if (ctx.json) return ctx.printJson(res.body);
        ctx.out(`${ctx.c.green("✓")} ${res.status === 201 ? "created" : "updated"} namespace ${ctx.c.bold(name)}`);
      }),
    );

  ns.command("show")
    .description("show a namespace: description, approvals, latest version, schema")
    .argument("<namespace>", "namespace name", namespaceArg)
    .action(
      run(async (ctx, name: string) => {
        const info = await ctx.client.admin.namespaces.get(name);
        if (ctx.json) return ctx.printJson(info);
        const pairs = Object.entries(info)
          .filter(([k, v]) => k !== "schema" && (v === null || typeof v !== "object"))
          .map(([k, v]): [string, unknown] => [k, k.endsWith("_at") ? shortTime(v) : v]);
        ctx.out(renderPairs(pairs, ctx.c.bold));
        if (info.schema !== undefined) {
          ctx.out(ctx.c.bold("schema"));
          ctx.out(JSON.stringify(info.schema, null, 2));
        }
      }),
    );

  ns.command("list")
    .description("list namespaces")
    .option("--limit <n>", "at most this many", intArg({ min: 1, max: 100 }))
    .option("--cursor <cursor>", "continue from a previous page")
    .action(
      run(async (ctx, opts: { limit?: number; cursor?: string }) => {
        const body = await ctx.client.admin.namespaces.list({ limit: opts.limit, cursor: opts.cursor });
        if (ctx.json) return ctx.printJson(body);
        const items = body.namespaces;
        if (items.length === 0) return ctx.out(ctx.c.dim("no namespaces yet — create one with `edgeplane namespace create NAME --schema schema.json`"));
        const rows = items.map((n) => [
          n.name,
          n.latest_version,
          n.approvals_required,
          n.active_rollout_id ?? "-",
          shortTime(n.updated_at),
          oneLine(n.description, 50),
        ]);
        ctx.out(renderTable(["NAMESPACE", "LATEST", "APPROVALS", "ACTIVE ROLLOUT", "UPDATED", "DESCRIPTION"], rows, { header: ctx.c.bold }));
        if (body.next_cursor) ctx.info(ctx.ce.dim(`more: edgeplane namespace list --cursor ${body.next_cursor}`));
      }),
    );
}
