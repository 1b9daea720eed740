import { Option, type Command } from "commander";
import { ROLES, type CreateTokenBody } from "@edgeplane/client";
import { intArg, listArg } from "../lib/args.ts";
import { shortTime } from "../lib/render.ts";
import { renderTable } from "../lib/table.ts";
import { run } from "./run.ts";

/** `edgeplane tokens create|list|revoke` */
export function register(program: Command): void {
  const tokens = program.command("tokens").alias("token").description("API tokens (admin)");

  tokens
    .command("create")
    .description("create a token; it is printed once, on stdout alone, and never shown again")
    .requiredOption("--name <name>", "who or what uses it")
    .addOption(new Option("--role <role>", "what it may do").choices([...ROLES]).makeOptionMandatory())
    .option("--namespaces <list>", "namespaces it may touch: a,b or * for all", listArg, ["*"])
    .action(
      run(async (ctx, opts: { name: string; role: CreateTokenBody["role"]; namespaces: string[] }) => {
        const t = await ctx.client.admin.tokens.create({ name: opts.name, role: opts.role, namespaces: opts.namespaces });
        if (ctx.json) return ctx.printJson(t);
        ctx.info(`${ctx.ce.green("✓")} created ${t.role} token ${ctx.ce.bold(t.id)} (${t.name}) for namespaces ${t.namespaces.join(",")}`);
        ctx.info(ctx.ce.yellow("  store it now — it is not shown again:"));
        ctx.out(t.token);
      }),
    );

  tokens
    .command("list")
    .description("list tokens (never their secrets)")
    .option("--limit <n>", "at most this many", intArg({ min: 1, max: 1000 }))
    .option("--all", "include revoked tokens")
    .action(
      run(async (ctx, opts: { limit?: number; all?: boolean }) => {
        const body = await ctx.client.admin.tokens.list({ limit: opts.limit });
        if (ctx.json) return ctx.printJson(body);
        const all = body.tokens;
        const shown = opts.all ? all : all.filter((t) => !t.revoked_at);
        const rows = shown.map((t) => [
          t.id,
          t.name,
          t.role,
          t.namespaces.join(","),
          shortTime(t.created_at),
          t.created_by ?? "-",
          t.revoked_at ? ctx.c.red(`revoked ${shortTime(t.revoked_at)}`) : ctx.c.green("active"),
        ]);
        ctx.out(renderTable(["ID", "NAME", "ROLE", "NAMESPACES", "CREATED", "BY", "STATUS"], rows, { header: ctx.c.bold }));
        const hidden = all.length - shown.length;
        if (hidden > 0) ctx.info(ctx.ce.dim(`${hidden} revoked token${hidden === 1 ? "" : "s"} hidden (--all shows them)`));
      }),
    );

  tokens
    .command("revoke")
    .description("revoke a token: it stops working at once")
    .argument("<id>", "token id (from `tokens list`)")
    .action(
      run(async (ctx, id: string) => {
        const body = await ctx.client.admin.tokens.revoke(id);
        if (ctx.json) return ctx.printJson(body);
        ctx.out(`${ctx.c.green("✓")} revoked token ${ctx.c.bold(id)} ${ctx.c.dim(`at ${shortTime(body.revoked_at)}`)}`);
      }),
    );
}
