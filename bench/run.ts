#!/usr/bin/env node
// `npm run bench`: edgeplane's performance against SPEC "Performance" (and its second-round
// additions), measured as ratios in one run. Starts its own `wrangler dev` (or uses --url), drives it
// with wrk, prints a table and every target with PASS/MISS, and writes
// bench/results/bench-<timestamp>.json. Exit code 0 even when a target is missed, unless --strict.
import { Command, Option } from "commander";
import { join } from "node:path";
import { ROOT } from "../scripts/wrangler-dev.ts";
import { runBench, type BenchOptions } from "./lib/bench.ts";
import { renderTable, writeJson } from "./lib/report.ts";

const program = new Command()
  .name("npm run bench --")
  .description(
    "Benchmark edgeplane on this machine: floor (GET /noop), config reads (200/304), health reports, click ingest at batch 1/10/100/1000 on the realistic workload, publish/rollback latencies for new readers, change → OFREP stream client, ack → metrics, ingest drain with per-cell ground truth, and shard storage after the dedup horizon.",
  )
  .option("--url <url>", "benchmark a running server instead of starting a private wrangler dev (loopback only)")
  .option("--token <token>", "admin token of the --url server (creates scoped bench tokens)")
  .option("--quick", "about two minutes: short loads, few trials, a small preload")
  .option("--duration <seconds>", "seconds of load per scenario (default 10, quick 2)", Number)
  .option("--floor-duration <seconds>", "seconds of each floor segment between scenarios (default 5, quick 1)", Number)
  .option("--warmup <seconds>", "unmeasured warm-up per scenario (default 2, quick 1)", Number)
  .option("--connections <n>", "wrk connections", Number, 16)
  .option("--threads <n>", "wrk threads", Number, 1)
  .option("--batches <list>", "click batch sizes", "1,10,100,1000")
  .option(
    "--workload <list>",
    "click workload(s): realistic (default: ≥ 1,000 cells, ~10 % re-sent click_ids, event times over the last hour, dedup state preloaded) and/or best-case (the first round's: one campaign, 20 ads, no duplicates, ts = now; scenarios named clicks_bN_best)",
    "realistic",
  )
  .option("--preload-keys <n>", "fresh clicks sent before the realistic loads so the dedup state is at a steady size (default 2,000,000, quick 200,000; 0 = none)", Number)
  .option("--push-clients <n>", "OFREP event-stream clients in the push trials", Number, 10)
  .option("--trials <n>", "trials for publish/rollback, push and ack→metrics latencies (default 30, quick 8)", Number)
  .option("--only <list>", "comma-separated subset: config,reports,clicks,trials,push,horizon")
  .option("--horizon-seconds <s>", "ALLOWED_LATENESS_SECONDS and MAX_CLOCK_SKEW_SECONDS of the horizon server (each)", Number, 5)
  .option("--no-horizon", "skip the dedup-horizon storage check (needs a second private server)")
  .option("--var <KEY=VALUE...>", "extra var for the private server(s), e.g. --var CLICK_SHARDS=4")
  .option(
    "--observability",
    "keep wrangler dev's local trace store on (X_LOCAL_OBSERVABILITY; off by default: it is a dev tool that records every span to SQLite and costs more than the routes under test — see docs/bench.md)",
  )
  .option(
    "--state-dir <dir>",
    "where the private servers keep their local state (default /dev/shm, a RAM filesystem, when it is writable, else the OS temp dir; `--state-dir /tmp` measures with the local Durable Objects' and D1's fsyncs on this machine's disk — see docs/bench.md)",
  )
  .addOption(new Option("--flush-ms <ms>", "FLUSH_INTERVAL_MS of the --url server").argParser(Number))
  .option("--regions <list>", "REGIONS of the --url server")
  .option("--drain-timeout <seconds>", "how long to wait for the metrics to show every acked click", Number, 60)
  .option("--strict", "exit 1 when a SPEC target is missed or a measurement failed")
  .option("--out <file>", "JSON result path (default bench/results/bench-<timestamp>.json)")
  .option("--json", "print the JSON result instead of the table")
  .addHelpText(
    "after",
    "\nExamples:\n  npm run bench\n  npm run bench -- --quick\n  npm run bench -- --workload realistic,best-case --only clicks\n  npm run bench -- --url http://127.0.0.1:8787 --token $ADMIN_TOKEN --no-horizon\n",
  );

// node:sqlite (used read-only on the shards' files) and type stripping are "experimental" in Node 22;
// keep their warnings out of the table.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name !== "ExperimentalWarning") console.error(w);
});

program.parse();
const opts = program.opts<BenchOptions>();
if (opts.url && !opts.token) program.error("--url needs --token (the server's admin token)");
for (const kv of opts.var ?? []) if (!/^[A-Z_][A-Z0-9_]*=/.test(kv)) program.error(`--var expects KEY=VALUE, got '${kv}'`);

const result = await runBench(opts);
const out = opts.out ?? join(ROOT, "bench", "results", `bench-${result.started_at.replace(/[:.]/g, "-")}.json`);
writeJson(out, result);
console.log(opts.json ? JSON.stringify(result, null, 2) : "\n" + renderTable(result));
(opts.json ? console.error : console.log)(`\nresult: ${out}`);
// --strict: a missed target or a failed measurement fails the run (targets not measured, e.g. with
// --only, do not).
const missed = result.targets.filter((t) => t.pass === false);
if (opts.strict && (missed.length || result.failed)) {
  console.error(`--strict: ${[...missed.map((t) => `${t.id} missed`), ...(result.failed ? ["a measurement failed"] : [])].join(", ")}`);
  process.exit(1);
}
