import type { Command } from "commander";
import type { ConfigRead } from "@edgeplane/client";
import { intArg, namespaceArg } from "../lib/args.ts";
import { seg } from "../lib/http.ts";
import { renderPairs } from "../lib/table.ts";
import { run } from "./run.ts";

/** `edgeplane get NS` — what the edge serves a client (GET /v1/configs/:ns), for debugging cohorts. */
export function register(program: Command): void {
  program
    .command("get")
    .description("fetch a namespace's config the way a client gets it from the edge (reader role)")
    .argument("<namespace>", "namespace name", namespaceArg)
    .option("--client-id <id>", "the client's id (decides its rollout cohort)")
    .option("--region <code>", "ask as a client in this region (only honoured where the server trusts X-Region, i.e. local dev)")
    .option("--version <n>", "pin exactly this version", intArg({ min: 1 }))
    .option("--values-only", "print just the values JSON")
    .action(
      run(async (ctx, ns: string, opts: { clientId?: string; region?: string; version?: number; valuesOnly?: boolean }) => {
        const res = await ctx.client.request<ConfigRead>("GET", `/v1/configs/${seg(ns)}`, {
          query: { client_id: opts.clientId, version: opts.version },
          headers: opts.region ? { "x-region": opts.region } : {},
        });
        const body = res.body;
        if (opts.valuesOnly) return ctx.printJson(body.values);
        if (ctx.json) return ctx.printJson(body);
        ctx.out(
          renderPairs(
            [
              ["namespace", body.namespace],
              ["version", `v${body.version}`],
              ["hash", body.hash],
              ["generation", body.generation],
              ["etag", res.headers.get("etag")],
            ],
            ctx.c.bold,
          ),
        );
        ctx.out(ctx.c.bold("values"));
        ctx.out(JSON.stringify(body.values, null, 2));
      }),
    );
}
