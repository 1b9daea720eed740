#!/usr/bin/env node
// `npm run profile`: where the Worker process's JavaScript thread spends its time under click load.
// Starts a private `wrangler dev`, drives POST /v1/clicks with wrk (as the bench does), and records a
// V8 CPU profile through wrangler's inspector (Chrome DevTools protocol on 127.0.0.1:9229). Prints the
// functions by inclusive and by self time and writes the .cpuprofile (open it in Chrome DevTools).
// The profiler slows the server (it samples every millisecond): read shares, not absolute rates.
import { Command } from "commander";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../scripts/wrangler-dev.ts";
import { createToken, regionsOf } from "./lib/fixture.ts";
import { DEFAULT_WORKLOAD, realisticScenario, runData } from "./lib/realistic.ts";
import { startServer } from "./lib/server.ts";
import { runWrk } from "./lib/wrk.ts";

interface ProfileOptions {
  batch: number;
  warmup: number;
  duration: number;
  connections: number;
  inspector: number;
  top: number;
  out: string;
  workload: string;
}

interface CallFrame {
  functionName: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const opts = new Command()
  .name("npm run profile --")
  .option("--batch <n>", "click events per request", Number, 100)
  .option("--warmup <seconds>", "unprofiled load first (lets the shards' dedup state grow as in a long run)", Number, 20)
  .option("--duration <seconds>", "profiled load", Number, 10)
  .option("--connections <n>", "wrk connections", Number, 16)
  .option("--inspector <port>", "wrangler dev's inspector port", Number, 9229)
  .option("--top <n>", "rows per table", Number, 30)
  .option("--workload <name>", "realistic (the bench's default click workload) or best-case", "realistic")
  .option("--out <file>", "where to write the profile", join(ROOT, "bench", "results", "clicks.cpuprofile"))
  .parse()
  .opts<ProfileOptions>();

/** One Chrome DevTools protocol session over WebSocket (Node 22's global WebSocket). */
async function devtools(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl?: string }[];
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no inspector target on port ${port}`);
  // wrangler's inspector proxy only accepts local origins
  // Node's WebSocket (undici) takes {headers}; the DOM typing knows only sub-protocols.
  const NodeWebSocket = WebSocket as unknown as new (url: string, init: { headers: Record<string, string> }) => WebSocket;
  const ws = new NodeWebSocket(target.webSocketDebuggerUrl as string, { headers: { Origin: "http://127.0.0.1" } });
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("inspector connection failed"));
  });
  let id = 0;
  const pending = new Map<number, (msg: { error?: { message: string }; result?: any }) => void>();
  ws.onmessage = (m: MessageEvent) => {
    const msg = JSON.parse(String(m.data));
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)?.(msg);
      pending.delete(msg.id);
    }
  };
  const call = (method: string, params: Record<string, unknown> = {}): Promise<any> =>
    new Promise((resolve, reject) => {
      pending.set(++id, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)));
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { call, close: () => ws.close() };
}

/** Self and inclusive time per function (a function counted once per sample, recursion included). */
export function summarize(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"}${n.callFrame.lineNumber >= 0 ? `:${n.callFrame.lineNumber}` : ""}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((sample, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const leaf = name(byId.get(sample) as ProfileNode);
    self.set(leaf, (self.get(leaf) ?? 0) + dt);
    const seen = new Set<string>();
    for (let node: number | undefined = sample; node !== undefined; node = parent.get(node)) {
      const k = name(byId.get(node) as ProfileNode);
      if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
      seen.add(k);
    }
  });
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ fn: k, pct: Math.round((v / total) * 1000) / 10 }));
  return { totalMs: total / 1000, self: top(self), inclusive: top(inclusive) };
}

const log = (m: unknown) => console.error(`[profile] ${m}`);
process.env.X_LOCAL_OBSERVABILITY ??= "false";
const server = await startServer({}, { log, inspectorPort: opts.inspector });
try {
  const token = await createToken(server, "publisher", ["*"]);
  const realistic = realisticScenario(opts.batch, "profile", { ...DEFAULT_WORKLOAD, regions: regionsOf(server) }, token);
  const load = (durationS: number, runId: string) =>
    opts.workload === "best-case"
      ? runWrk({
          url: server.url,
          path: "/v1/clicks",
          scenario: "clicks",
          data: { path: "/v1/clicks", batch: opts.batch, run_id: runId, campaign: "profile", ads: 20, regions: ["eu", "na"], token },
          durationS,
          connections: opts.connections,
        })
      : runWrk({ url: server.url, path: "/v1/clicks", scenario: "realistic", data: runData(realistic, runId, durationS, []), durationS, connections: opts.connections, cleanStop: { graceS: 20 }, signal: server.died });
  const runId = Date.now().toString(36);
  if (opts.warmup > 0) {
    log(`warm-up: ${opts.warmup}s of batch-${opts.batch} load`);
    await load(opts.warmup, `${runId}w`);
  }
  const dt = await devtools(opts.inspector);
  await dt.call("Profiler.enable");
  await dt.call("Profiler.setSamplingInterval", { interval: 1000 });
  await dt.call("Profiler.start");
  log(`profiling ${opts.duration}s of batch-${opts.batch} load`);
  const r = await load(opts.duration, `${runId}p`);
  const { profile } = (await dt.call("Profiler.stop")) as { profile: CpuProfile };
  dt.close();
  writeFileSync(opts.out, JSON.stringify(profile));
  const s = summarize(profile);
  console.log(`${Math.round(r.requests_per_sec)} req/s while profiled (p50 ${r.latency_ms.p50} ms); ${Math.round(s.totalMs)} ms sampled; profile: ${opts.out}\n`);
  const rows = (list: { fn: string; pct: number }[]) => list.slice(0, opts.top).map((x) => `${x.pct.toFixed(1).padStart(6)} %  ${x.fn}`).join("\n");
  console.log(`inclusive (the function and what it calls)\n${rows(s.inclusive)}\n\nself\n${rows(s.self)}`);
  console.log("\n:N is the line in the bundle wrangler dev runs; `npx wrangler deploy --dry-run --outdir DIR` writes the same code to DIR/index.js (give or take a line).");
} finally {
  await server.stop();
}
