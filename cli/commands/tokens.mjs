import { Option } from "commander";
import { intArg, listArg } from "../lib/args.mjs";
import { seg } from "../lib/http.mjs";
import { shortTime } from "../lib/render.mjs";
import { renderTable } from "../lib/table.mjs";
import { run } from "./run.mjs";

const ROLES = ["reader", "viewer", "publisher", "approver", "admin"];

/** `edgeplane tokens create|list|revoke` */
export function register(/** @type {import("commander").Command} */ program) {
  const tokens = program.command("tokens").alias("token").description("API tokens (admin)");

  tokens
    .command("create")
    .description("create a token; it is printed once, on stdout alone, and never shown again")
    .requiredOption("--name <name>", "who or what uses it")
    .addOption(new Option("--role <role>", "what it may do").choices(ROLES).makeOptionMandatory())
    .option("--namespaces <list>", "namespaces it may touch: a,b or * for all", listArg, ["*"])
    .action(
      run(async (ctx, opts) => {
        const res = await ctx.client.request("POST", "/admin/v1/tokens", { body: { name: opts.name, role: opts.role, namespaces: opts.namespaces } });
        if (ctx.json) return ctx.printJson(res.body);
        const t = res.body;
        ctx.info(`${ctx.ce.green("✓")} created ${t.role} token ${ctx.ce.bold(t.id)} (${t.name}) for namespaces ${(t.namespaces ?? []).join(",")}`);
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
      run(async (ctx, opts) => {
        const body = await ctx.client.get("/admin/v1/tokens", { limit: opts.limit });
        if (ctx.json) return ctx.printJson(body);
        const all = Array.isArray(body?.tokens) ? body.tokens : [];
        const shown = opts.all ? all : all.filter((/** @type {any} */ t) => !t.revoked_at);
        const rows = shown.map((/** @type {any} */ t) => [
          t.id,
          t.name,
          t.role,
          (t.namespaces ?? []).join(","),
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
      run(async (ctx, id) => {
        const res = await ctx.client.request("DELETE", `/admin/v1/tokens/${seg(id)}`);
        if (ctx.json) return ctx.printJson(res.body);
        ctx.out(`${ctx.c.green("✓")} revoked token ${ctx.c.bold(id)} ${ctx.c.dim(`at ${shortTime(res.body?.revoked_at)}`)}`);
      }),
    );
}
