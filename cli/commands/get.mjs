import { intArg, namespaceArg } from "../lib/args.mjs";
import { seg } from "../lib/http.mjs";
import { renderPairs } from "../lib/table.mjs";
import { run } from "./run.mjs";

/** `edgeplane get NS` — what the edge serves a client (GET /v1/configs/:ns), for debugging cohorts. */
export function register(/** @type {import("commander").Command} */ program) {
  program
    .command("get")
    .description("fetch a namespace's config the way a client gets it from the edge (reader role)")
    .argument("<namespace>", "namespace name", namespaceArg)
    .option("--client-id <id>", "the client's id (decides its rollout cohort)")
    .option("--region <code>", "ask as a client in this region (only honoured where the server trusts X-Region, i.e. local dev)")
    .option("--version <n>", "pin exactly this version", intArg({ min: 1 }))
    .option("--values-only", "print just the values JSON")
    .action(
      run(async (ctx, ns, opts) => {
        const res = await ctx.client.request("GET", `/v1/configs/${seg(ns)}`, {
          query: { client_id: opts.clientId, version: opts.version },
          headers: opts.region ? { "x-region": opts.region } : {},
        });
        const body = res.body;
        if (opts.valuesOnly) return ctx.printJson(body?.values ?? null);
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
