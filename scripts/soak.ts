// `npm run soak`: a bounded soak test of edgeplane on this machine (loopback only). A few concurrent
// workers mix config reads (200 and conditional 304), health reports and click beacons at a moderate
// steady rate, while a publisher ships a new config version every so often. Every interval it prints
// throughput, errors by status/code and the server's memory (RSS of the workerd processes, from
// /proc); at the end it checks that every acknowledged click is in the metrics API, exactly once.
// Exit 1 when a request failed unexpectedly or a click went missing / was double counted.
import { Command } from "commander";
import { join } from "node:path";
import { countClicks, makeEvents, sendClicks, waitForClicks } from "../bench/lib/clicks.ts";
import { configClients, createTokens, publishVersion, regionsOf, rolloutImmediate, setupConfig } from "../bench/lib/fixture.ts";
import { api, percentiles, sleep } from "../bench/lib/http.ts";
import { cpuDelta, pgidListeningOn, rssByRole, sampleGroup } from "../bench/lib/proc.ts";
import { writeJson } from "../bench/lib/report.ts";
import { attachServer, startServer } from "../bench/lib/server.ts";
import { ROOT } from "./wrangler-dev.ts";

interface SoakOptions {
  minutes: number;
  rate: number;
  workers: number;
  interval: number;
  publishEvery: number;
  url?: string;
  token?: string;
  observability?: boolean;
  out?: string;
}

type Op = "config_read" | "config_304" | "report" | "clicks";
type ErrorBody = { error?: { code?: string } } | string | null | undefined;

interface Sample {
  t_s: number;
  requests: number;
  req_per_s: number;
  errors: number;
  clicks_acked: number;
  rss_mib: Record<string, number>;
  cpu_s: Record<string, number>;
}

const errorCode = (body: ErrorBody): string => (typeof body === "object" && body?.error?.code) || "unexpected";
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

const opts = new Command()
  .name("npm run soak --")
  .description("Bounded soak test: mixed config reads, health reports and clicks at a steady rate; memory and errors over time; every acked click must reach the metrics.")
  .option("--minutes <m>", "how long to run", Number, 3)
  .option("--rate <n>", "total requests per second across workers", Number, 40)
  .option("--workers <n>", "concurrent workers", Number, 4)
  .option("--interval <s>", "seconds between progress lines", Number, 15)
  .option("--publish-every <s>", "seconds between config publishes (0: never)", Number, 45)
  .option("--url <url>", "soak a running server instead of a private wrangler dev (loopback only)")
  .option("--token <token>", "admin token of the --url server")
  .option("--observability", "keep wrangler dev's local trace store on (off by default, as in npm run bench)")
  .option("--out <file>", "JSON result path (default bench/results/soak-<timestamp>.json)")
  .parse()
  .opts<SoakOptions>();
if (opts.url && !opts.token) throw new Error("--url needs --token");
if (!(opts.minutes > 0 && opts.minutes <= 120)) throw new Error("--minutes must be in (0, 120]");

if (!opts.observability && process.env.X_LOCAL_OBSERVABILITY === undefined) process.env.X_LOCAL_OBSERVABILITY = "false";
const log = (...a: unknown[]): void => console.error(`[soak ${new Date().toISOString().slice(11, 19)}]`, ...a);
const startedAt = new Date();
const runId = `soak${startedAt.toISOString().replace(/\D/g, "").slice(4, 14)}${Math.random().toString(36).slice(2, 5)}`;
const server = opts.url && opts.token ? await attachServer(opts.url, opts.token) : await startServer({}, { log });
const pgid = server.pgid ?? pgidListeningOn(server.port);
let exitCode = 0;

try {
  const ns = server.private ? "soak" : `soak-${runId}`;
  const tokens = await createTokens(server, ns);
  let version = await setupConfig(server, tokens, ns);
  const clients = await configClients(server, tokens.reader, ns, 4);
  const regions = regionsOf(server);
  const campaign = `soak-${runId}`;
  log(`server ${server.url}; namespace '${ns}' v${version}; ${opts.workers} workers at ${opts.rate} req/s for ${opts.minutes} min`);

  const stats = {
    ops: {} as Record<string, number>,
    statuses: {} as Record<string, number>,
    errors: {} as Record<string, number>,
    clicks: { sent: 0, acked: 0 },
    publishes: 0,
  };
  const lat: Record<string, number[]> = {};
  const etags = new Map<string, string | null>(clients.map((c) => [c.clientId, c.etag]));
  const samplesOfErrors: Record<string, string[]> = {};
  const count = (op: string, status: number | string, code: string | null, ms: number, body?: unknown): void => {
    if (code) {
      const list = (samplesOfErrors[`${op} ${status} ${code}`] ??= []);
      if (list.length < 3) list.push(typeof body === "string" ? body.slice(0, 300) : String(JSON.stringify(body)).slice(0, 300));
    }
    stats.ops[op] = (stats.ops[op] ?? 0) + 1;
    const k = `${op} ${status}`;
    stats.statuses[k] = (stats.statuses[k] ?? 0) + 1;
    if (code) stats.errors[`${op} ${status} ${code}`] = (stats.errors[`${op} ${status} ${code}`] ?? 0) + 1;
    (lat[op] ??= []).push(ms);
  };

  const ops: { name: Op; weight: number }[] = [
    { name: "config_read", weight: 35 },
    { name: "config_304", weight: 25 },
    { name: "report", weight: 20 },
    { name: "clicks", weight: 20 },
  ];
  const totalWeight = ops.reduce((a, o) => a + o.weight, 0);
  const pick = (): Op => {
    let x = Math.random() * totalWeight;
    for (const o of ops) if ((x -= o.weight) < 0) return o.name;
    return ops[0].name;
  };

  async function doOp(op: Op): Promise<boolean> {
    const c = clients[Math.floor(Math.random() * clients.length)];
    const readPath = `/v1/configs/${ns}?client_id=${encodeURIComponent(c.clientId)}`;
    if (op === "config_read" || op === "config_304") {
      const etag = etags.get(c.clientId);
      const headers: Record<string, string> = { "x-region": c.region, ...(op === "config_304" && etag ? { "if-none-match": etag } : {}) };
      const r = await api<ErrorBody>(server.url, "GET", readPath, { token: tokens.reader, headers });
      if (r.status === 200) etags.set(c.clientId, r.headers.get("etag"));
      // A 200 to a conditional read is right after a publish (the client's ETag is stale).
      const ok = r.status === 200 || (op === "config_304" && r.status === 304);
      count(op, r.status, ok ? null : errorCode(r.body), r.ms, r.body);
      return ok;
    }
    if (op === "report") {
      const body = { client_id: c.clientId, version, status: Math.random() < 0.02 ? "error" : "ok", ...(Math.random() < 0.02 ? { error: "soak" } : {}) };
      const r = await api<ErrorBody>(server.url, "POST", `/v1/configs/${ns}/reports`, { token: tokens.reader, body, headers: { "x-region": c.region } });
      count(op, r.status, r.status === 202 ? null : errorCode(r.body), r.ms, r.body);
      return r.status === 202;
    }
    const n = 1 + Math.floor(Math.random() * 50);
    const events = makeEvents(runId, campaign, n);
    stats.clicks.sent += n;
    const r = await sendClicks(server, events, { region: regions[Math.floor(Math.random() * regions.length)] });
    stats.clicks.acked += r.counted;
    count(op, r.status, r.status === 200 ? null : errorCode(r.body as ErrorBody), r.ms, r.body);
    return r.status === 200;
  }

  const t0 = Date.now();
  const endAt = t0 + opts.minutes * 60_000;
  const perWorkerGapMs = (1000 * opts.workers) / opts.rate;
  // A private server that exits mid-soak ends the soak: nothing after that is a measurement.
  const running = () => Date.now() < endAt && !server.exitInfo.exited;
  const worker = async () => {
    let next = Date.now();
    while (running()) {
      try {
        await doOp(pick());
      } catch (e) {
        const err = e as { cause?: { code?: string }; message?: string };
        count("network", "ERR", String(err?.cause?.code ?? err?.message ?? e), 0);
      }
      next += perWorkerGapMs;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now(); // fell behind: do not burst to catch up
    }
  };
  const publisher = async () => {
    if (!(opts.publishEvery > 0)) return;
    let rev = 100;
    while (Date.now() + opts.publishEvery * 1000 < endAt && !server.exitInfo.exited) {
      await sleep(opts.publishEvery * 1000);
      if (!running()) break;
      try {
        const v = await publishVersion(server, tokens.publisher, ns, ++rev);
        await rolloutImmediate(server, tokens.publisher, ns, v);
        version = v;
        stats.publishes++;
        log(`published and rolled out v${v}`);
      } catch (e) {
        count("publish", "ERR", String((e as Error)?.message ?? e).slice(0, 120), 0);
      }
    }
  };

  const samples: Sample[] = [];
  let prevSample = sampleGroup(pgid);
  let prevOps = 0;
  const reporter = async () => {
    while (running()) {
      await sleep(Math.min(opts.interval * 1000, Math.max(0, endAt - Date.now())));
      if (server.exitInfo.exited) {
        log(`SERVER EXITED (code ${server.exitInfo.code}, signal ${server.exitInfo.signal}) at ${server.exitInfo.at}; last output:\n  ${server.outputTail().slice(-15).join("\n  ")}`);
        break;
      }
      const now = sampleGroup(pgid);
      const totalOps = sum(Object.values(stats.ops));
      const s: Sample = { t_s: Math.round((Date.now() - t0) / 1000), requests: totalOps, req_per_s: Math.round((totalOps - prevOps) / opts.interval), errors: sum(Object.values(stats.errors)), clicks_acked: stats.clicks.acked, rss_mib: rssByRole(now), cpu_s: cpuDelta(prevSample, now) };
      samples.push(s);
      prevSample = now;
      prevOps = totalOps;
      log(`t=${s.t_s}s ${s.requests} req (${s.req_per_s}/s), errors ${s.errors}, clicks acked ${s.clicks_acked}, RSS ${JSON.stringify(s.rss_mib)} MiB`);
    }
  };

  await Promise.all([...Array.from({ length: opts.workers }, worker), publisher(), reporter()]);
  const loadEnded = performance.now();
  if (server.exitInfo.exited) throw new Error(`the server exited during the soak (code ${server.exitInfo.code}, signal ${server.exitInfo.signal}, at ${server.exitInfo.at}); last output:\n  ${server.outputTail().slice(-20).join("\n  ")}`);
  log(`load done; waiting until the metrics show all ${stats.clicks.acked} acked clicks`);
  const fromMs = t0 - 120_000;
  const drain = await waitForClicks(server, tokens.viewer, campaign, stats.clicks.acked, { fromMs, toMs: Date.now() + 60_000, sinceMs: loadEnded, timeoutMs: 60_000, pollMs: 200 });
  await sleep(2 * Number(server.vars.FLUSH_INTERVAL_MS) + 1000);
  const settled = await countClicks(server, tokens.viewer, campaign, fromMs, Date.now() + 60_000);
  const end = sampleGroup(pgid);

  const result = {
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    options: opts,
    server: { url: server.url, mode: server.private ? "private wrangler dev" : "--url", local_observability: process.env.X_LOCAL_OBSERVABILITY !== "false" },
    requests: sum(Object.values(stats.ops)),
    ops: stats.ops,
    statuses: stats.statuses,
    errors: stats.errors,
    error_samples: samplesOfErrors,
    latency_ms: Object.fromEntries(Object.entries(lat).map(([k, v]) => [k, percentiles(v)])),
    publishes: stats.publishes,
    clicks: { sent: stats.clicks.sent, acked: stats.clicks.acked, visible: settled, drained_in_ms: drain.drained && drain.ms !== null ? Math.round(drain.ms) : null, missing: Math.max(0, stats.clicks.acked - settled), double_counted: Math.max(0, settled - stats.clicks.sent) },
    rss_mib_samples: samples,
    rss_mib_end: rssByRole(end),
  };
  const unexpected = sum(Object.values(stats.errors));
  const verdict = unexpected === 0 && result.clicks.missing === 0 && result.clicks.double_counted === 0 ? "ok" : "FAILED";
  if (verdict !== "ok") exitCode = 1;
  const out = opts.out ?? join(ROOT, "bench", "results", `soak-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  writeJson(out, { ...result, verdict });
  console.log(`\nsoak ${opts.minutes} min: ${result.requests} requests (${JSON.stringify(stats.ops)}), ${stats.publishes} publishes`);
  console.log(`statuses: ${JSON.stringify(stats.statuses)}`);
  console.log(`unexpected errors: ${unexpected ? JSON.stringify(stats.errors) : "none"}`);
  for (const [k, v] of Object.entries(samplesOfErrors)) console.log(`  e.g. ${k}: ${v[0]}`);
  for (const [op, p] of Object.entries(result.latency_ms)) console.log(`  ${op.padEnd(12)} p50 ${p.p50} ms  p99 ${p.p99} ms  (n=${p.n})`);
  console.log(`clicks: sent ${result.clicks.sent}, acked ${result.clicks.acked}, visible in metrics ${settled} (all visible ${drain.drained ? `${result.clicks.drained_in_ms} ms after the load` : "NOT within 60 s"}; missing ${result.clicks.missing}, double counted ${result.clicks.double_counted})`);
  console.log(`memory (RSS MiB) over time: ${samples.map((s) => `t=${s.t_s}s ${s.rss_mib["workerd:worker"] ?? "?"}`).join(", ")}; end ${JSON.stringify(result.rss_mib_end)}`);
  console.log(`verdict: ${verdict}\nresult: ${out}`);
} catch (e) {
  console.error(`\nsoak FAILED: ${(e as Error)?.message ?? e}`);
  exitCode = 1;
} finally {
  await server.stop();
}
process.exit(exitCode);
