// Orchestrates one bench run: server, fixtures, the dedup-state preload, interleaved floor/scenario
// loads, drains and ground-truth checks, latency trials, the dedup-horizon check, and the SPEC targets.
import { countClicks, waitForClicks } from "./clicks.ts";
import { configClients, createTokens, regionsOf, setupConfig, type ConfigClient, type Tokens } from "./fixture.ts";
import { horizonCheck, type HorizonResult } from "./horizon.ts";
import { errorMessage, round, sleep } from "./http.ts";
import { loadAverage, machineInfo, type MachineInfo } from "./machine.ts";
import { cpuDelta, pgidListeningOn, rssByRole, sampleGroup } from "./proc.ts";
import { pushTrials, type PushTrials } from "./push.ts";
import { asOldRun, campaignNames, checkCells, DEFAULT_WORKLOAD, expectedCells, realisticScenario, runData, runFigures, waitForTotal, type CellCheck, type OldRun, type RunFigures, type Workload } from "./realistic.ts";
import { evaluateTargets, type Target } from "./report.ts";
import { bestCaseClicksScenario, configScenario, floorScenario, reportsScenario, type Scenario } from "./scenarios.ts";
import { attachServer, benchStateRoot, startServer, type Server } from "./server.ts";
import { shardStorage } from "./shard-storage.ts";
import { ackTrials, configTrials, type AckTrials, type ConfigTrials } from "./trials.ts";
import { assertWrk, runWrk, type LuaValue, type WrkResult } from "./wrk.ts";

const log = (...a: unknown[]) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Command-line options (bench/run.ts). */
export interface BenchOptions {
  url?: string;
  token?: string;
  quick?: boolean;
  duration?: number;
  floorDuration?: number;
  warmup?: number;
  connections: number;
  threads: number;
  batches: string;
  workload: string;
  preloadKeys?: number;
  pushClients: number;
  trials?: number;
  only?: string;
  horizonSeconds: number;
  horizon: boolean;
  var?: string[];
  observability?: boolean;
  stateDir?: string;
  flushMs?: number;
  regions?: string;
  drainTimeout: number;
  strict?: boolean;
  out?: string;
  json?: boolean;
}

export interface ResolvedOptions extends Omit<BenchOptions, "batches" | "workload"> {
  duration: number;
  floorDuration: number;
  warmup: number;
  trials: number;
  preloadKeys: number;
  vars: Record<string, string>;
  batches: number[];
  workloads: ("realistic" | "best-case")[];
  want: (part: string) => boolean;
}

export interface Drain {
  ms: number | null;
  seen: number;
  expected: number;
  drained: boolean;
  overcount: number;
  sent?: number;
  settled_seen?: number;
}

export interface RealisticShape extends RunFigures {
  cells_in_run: number;
  dup_share: number;
  event_time_span_min: number;
  dedup_keys_at_start: number | null;
}

export interface ScenarioEntry extends Partial<Omit<WrkResult, "cells" | "wrk_stdout">> {
  kind: string;
  error?: string;
  workload?: string;
  expect_status?: number;
  events_per_request?: number | null;
  unexpected_status?: number;
  events_per_sec?: number;
  acked_total?: number;
  sent_total?: number;
  drain?: Drain;
  cells_check?: CellCheck;
  realistic?: RealisticShape;
  paired_floor_rps?: number;
  ratio?: number | null;
  ratio_median_floor?: number | null;
  cpu_ratio?: number | null;
  server_cpu_s?: Record<string, number>;
  server_cpu_ms_per_request?: number | null;
  rss_mib?: Record<string, number>;
  segments_rps?: (number | null)[];
}

export interface PreloadResult {
  keys?: number;
  seconds?: number;
  events_per_sec?: number;
  drain_ms?: number | null;
  cells_check?: CellCheck;
  dedup_rows?: number | null;
  dedup_tables?: Record<string, number>;
  error?: string;
}

export interface BenchResult {
  started_at: string;
  finished_at?: string;
  run_id: string;
  options: Omit<ResolvedOptions, "want">;
  machine: MachineInfo;
  server: { mode: string; url: string; vars: Record<string, string>; local_observability: boolean; state_dir?: string | null; state_on_ram?: boolean | null; boot_s: number | null; rss_mib_end?: Record<string, number> };
  workload?: Workload;
  preload?: PreloadResult;
  scenarios: Record<string, ScenarioEntry>;
  floor_segments: ScenarioEntry[];
  floor_median_rps?: number | null;
  trials: { config?: ConfigTrials; config_error?: string; push?: PushTrials; push_error?: string; ack?: AckTrials; ack_error?: string };
  horizon: HorizonResult | { skipped: string } | { error: string } | null;
  elapsed_s?: number | null;
  targets: Target[];
  failed?: boolean;
}

export function resolveOptions(opts: BenchOptions): ResolvedOptions {
  const q = !!opts.quick;
  const only = opts.only ? new Set(String(opts.only).split(",").map((s) => s.trim())) : null;
  const workloads = String(opts.workload).split(",").map((s) => s.trim());
  for (const w of workloads) if (w !== "realistic" && w !== "best-case") throw new Error(`--workload: unknown workload '${w}' (realistic, best-case)`);
  return {
    ...opts,
    duration: opts.duration ?? (q ? 2 : 10),
    floorDuration: opts.floorDuration ?? (q ? 1 : 5),
    warmup: opts.warmup ?? (q ? 1 : 2),
    trials: opts.trials ?? (q ? 8 : 30),
    preloadKeys: opts.preloadKeys ?? (q ? 200_000 : 2_000_000),
    vars: Object.fromEntries((opts.var ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
    batches: String(opts.batches).split(",").map(Number).filter((n) => n > 0),
    workloads: workloads as ("realistic" | "best-case")[],
    want: (part: string) => !only || only.has(part),
  };
}

const MINUTE = 60_000;

export async function runBench(rawOpts: BenchOptions): Promise<BenchResult> {
  const o = resolveOptions(rawOpts);
  assertWrk();
  const startedAt = new Date();
  const runId = startedAt.toISOString().replace(/\D/g, "").slice(2, 14) + Math.random().toString(36).slice(2, 6);
  const { want: _want, ...shownOptions } = o;
  const result: BenchResult = {
    started_at: startedAt.toISOString(),
    run_id: runId,
    options: shownOptions,
    machine: machineInfo(),
    server: { mode: "", url: "", vars: {}, local_observability: false, boot_s: null },
    scenarios: {},
    floor_segments: [],
    trials: {},
    horizon: null,
    targets: [],
  };
  // wrangler dev's local trace store (X_LOCAL_OBSERVABILITY, on by default in wrangler 4) writes every
  // span and log line to SQLite; production has nothing like it. Off unless --observability.
  if (!o.observability && process.env.X_LOCAL_OBSERVABILITY === undefined) process.env.X_LOCAL_OBSERVABILITY = "false";

  const stateRoot = benchStateRoot(o.stateDir);
  const t0 = performance.now();
  const server = o.url
    ? await attachServer(o.url, o.token as string, { ...(o.flushMs ? { FLUSH_INTERVAL_MS: String(o.flushMs) } : {}), ...(o.regions ? { REGIONS: o.regions } : {}) })
    : await startServer(o.vars, { log, stateRoot });
  const pgid = server.pgid ?? pgidListeningOn(server.port);
  result.server = { mode: server.private ? "private wrangler dev" : "--url", url: server.url, vars: redactVars(server.vars), local_observability: process.env.X_LOCAL_OBSERVABILITY !== "false", state_dir: server.private ? stateRoot.dir : null, state_on_ram: server.private ? stateRoot.ram : null, boot_s: round((performance.now() - t0) / 1000, 1) };
  log(`server ${server.url} (${result.server.mode}), pgid ${pgid ?? "unknown"}`);

  try {
    const ns = server.private ? "bench" : `bench-${runId}`;
    const tokens = await createTokens(server, ns);
    const regions = regionsOf(server);
    const workload: Workload = { ...DEFAULT_WORKLOAD, regions };
    const scenarios: Scenario[] = [];
    let baseVersion: number | null = null;
    let clients: ConfigClient[] = [];
    let configSetupError: string | null = null;
    if (o.want("config") || o.want("reports") || o.want("trials") || o.want("push")) {
      try {
        baseVersion = await setupConfig(server, tokens, ns);
        clients = await configClients(server, tokens.reader, ns);
        log(`namespace '${ns}' v${baseVersion} served in ${regions.length} regions; ${clients.length} clients`);
      } catch (e) {
        configSetupError = `config setup failed: ${errorMessage(e)}`;
        log(configSetupError);
        for (const n of ["config_200", "config_304", "reports"]) if (o.want(n.startsWith("config") ? "config" : "reports")) result.scenarios[n] = { kind: n.split("_")[0], error: configSetupError };
        result.trials.config_error = configSetupError;
      }
    }
    if (o.want("config") && !configSetupError) {
      scenarios.push(configScenario("config_200", ns, tokens.reader, clients, { conditional: false }));
      scenarios.push(configScenario("config_304", ns, tokens.reader, clients, { conditional: true }));
    }
    if (o.want("reports") && !configSetupError) scenarios.push(reportsScenario(ns, tokens.reader, clients));
    // Click loads carry a publisher token (server-to-server callers may batch and are exempt from the
    // per-IP limit), except the realistic batch 1: a browser beacon, anonymous text/plain.
    if (o.want("clicks")) {
      for (const w of o.workloads) {
        for (const b of o.batches) {
          if (w === "realistic") scenarios.push(realisticScenario(b, `rl-${runId}-b${b}`, workload, tokens.publisher));
          else scenarios.push(bestCaseClicksScenario(b, `${runId}b${b}`, `bench-${runId}-b${b}`, regions, tokens.publisher));
        }
      }
    }
    if (scenarios.some((s) => s.workload === "realistic")) result.workload = workload;

    const floor = floorScenario();
    let segment = 0;
    // Plain loads (floor, config, reports, best-case clicks): fixed duration. Every wrk run of a
    // best-case click scenario gets its own click_id prefix, so no run repeats another's ids.
    const load = (s: Scenario, durationS: number, data?: { [k: string]: LuaValue }): Promise<WrkResult> => {
      if (s.workload === "realistic") {
        return runWrk({ url: server.url, path: s.path, scenario: s.scenario, data: data ?? s.data, durationS, threads: o.threads, connections: o.connections, cleanStop: { graceS: 20 }, signal: server.died });
      }
      const d = s.kind === "clicks" ? { ...s.data, run_id: `${s.data.run_id}s${++segment}` } : s.data;
      return runWrk({ url: server.url, path: s.path, scenario: s.scenario, data: d, durationS, threads: o.threads, connections: o.connections, signal: server.died });
    };
    const measured = async (s: Scenario, durationS: number, data?: { [k: string]: LuaValue }) => {
      const before = sampleGroup(pgid);
      const r = await load(s, durationS, data);
      const after = sampleGroup(pgid);
      const cpu = cpuDelta(before, after);
      const serverCpu = Object.entries(cpu).reduce((a, [k, v]) => a + (k.startsWith("workerd") ? v : 0), 0);
      return { ...r, server_cpu_s: cpu, server_cpu_ms_per_request: r.requests ? round((serverCpu * 1000) / r.requests, 3) : null, rss_mib: rssByRole(after) };
    };

    // Dedup state at a steady state before any click is measured: a bulk of keys, minutes old by the
    // time the loads run, so the shards' levels and filters are past their first, cheapest sizes.
    let preloadRun: OldRun | null = null;
    let dedupAtStart: number | null = null;
    if (o.want("clicks") && o.workloads.includes("realistic") && o.preloadKeys > 0) {
      const p = await preload(server, tokens, workload, runId, o, log);
      result.preload = p.result;
      preloadRun = p.old;
      dedupAtStart = p.result.dedup_rows ?? null;
    }

    let prevFloorCpu: number | null = null;
    let lastFloorCpu: number | null = null;
    const floorSeg = async () => {
      const r = await measured(floor, o.floorDuration);
      result.floor_segments.push({ ...strip(r), kind: "floor" });
      prevFloorCpu = lastFloorCpu;
      lastFloorCpu = r.server_cpu_ms_per_request;
      return r.ok_per_sec;
    };
    let prevFloor = 0;
    if (scenarios.length) {
      // Warm every route once before any measurement: the dev server's memory grows fast during its
      // first tens of thousands of requests (docs/bench.md), which would otherwise land on whichever
      // scenario runs first. Best-case clicks warm up on a campaign of their own, outside the drain
      // checks; realistic ones are warm from the preload.
      log(`warm-up pass: ${o.warmup}s per route`);
      await load(floor, o.warmup).catch(() => {});
      for (const s of scenarios) {
        if (s.workload === "realistic") continue;
        const warm: Scenario = s.kind === "clicks" ? { ...s, data: { ...s.data, campaign: `${s.data.campaign}-prewarm` } } : s;
        try {
          await load(warm, o.warmup);
        } catch {
          /* the measured run reports the error */
        }
      }
      prevFloor = await floorSeg().catch(() => 0);
    }
    const startMs = Date.now();
    if (server.exitInfo.exited) {
      for (const sc of scenarios) result.scenarios[sc.name] = { kind: sc.kind, workload: sc.workload, error: `not run${serverDied(server)}` };
      scenarios.length = 0;
    }
    for (const s of scenarios) {
      log(`${s.name}: warm-up ${o.warmup}s, load ${o.duration}s`);
      let entry: ScenarioEntry;
      try {
        entry = s.workload === "realistic" ? await realisticLoad(s) : await plainLoad(s);
      } catch (e) {
        entry = { kind: s.kind, workload: s.workload, error: errorMessage(e) + serverDied(server) };
        log(`${s.name}: ERROR ${entry.error}`);
      }
      if (server.exitInfo.exited) {
        result.scenarios[s.name] = entry;
        break;
      }
      let nextFloor: number;
      try {
        nextFloor = await floorSeg();
      } catch (e) {
        result.scenarios[s.name] = { kind: s.kind, workload: s.workload, error: `floor segment after it failed: ${errorMessage(e)}${serverDied(server)}` };
        break;
      }
      if (entry.error) prevFloorCpu = lastFloorCpu;
      if (!entry.error) {
        entry.paired_floor_rps = (prevFloor + nextFloor) / 2;
        const num = s.kind === "clicks" ? (entry.events_per_sec ?? 0) : (entry.ok_per_sec ?? 0);
        entry.ratio = round(num / entry.paired_floor_rps, 3);
        // The same ratio in server CPU: floor requests per CPU-second vs this route's (events) per
        // CPU-second. Steadier than throughput on a shared machine, but blind to I/O waits (fsync).
        const floorCpu = ((prevFloorCpu ?? 0) + (lastFloorCpu ?? 0)) / 2;
        if (floorCpu && entry.server_cpu_ms_per_request) entry.cpu_ratio = round((floorCpu / entry.server_cpu_ms_per_request) * (s.kind === "clicks" ? (s.eventsPerRequest ?? 1) : 1), 3);
      }
      prevFloor = nextFloor;
      result.scenarios[s.name] = entry;
    }

    async function plainLoad(s: Scenario): Promise<ScenarioEntry> {
      const warm = await load(s, o.warmup);
      const r = await measured(s, o.duration);
      const entry: ScenarioEntry = { ...strip(r), kind: s.kind, workload: s.workload, expect_status: s.expectStatus ?? 200, events_per_request: s.eventsPerRequest ?? null };
      entry.unexpected_status = r.requests - (r.statuses[String(entry.expect_status)] ?? 0);
      if (s.eventsPerRequest) {
        entry.events_per_sec = (s.kind === "clicks" ? r.acked : r.ok_requests * s.eventsPerRequest) / r.duration_s;
        if (s.kind === "clicks") {
          entry.acked_total = warm.acked + r.acked;
          // Requests still in flight when wrk stops were sent (and may be counted) but never acked.
          entry.sent_total = warm.events_sent + r.events_sent;
        }
      }
      if (s.kind === "clicks") {
        const campaign = (s.campaigns as string[])[0];
        const stopped = performance.now();
        log(`${s.name}: ${r.acked} events acked (+${warm.acked} warm-up); waiting for the metrics to show them all`);
        const w = await waitForClicks(server, tokens.viewer, campaign, entry.acked_total ?? 0, { fromMs: startMs - 120_000, toMs: Date.now() + 60_000, sinceMs: stopped, timeoutMs: o.drainTimeout * 1000, pollMs: 100 });
        // Then let in-flight work settle and count again: more than was ever sent is double counting.
        await sleep(2 * Number(server.vars.FLUSH_INTERVAL_MS) + 500);
        const settled = await countClicks(server, tokens.viewer, campaign, startMs - 120_000, Date.now() + 60_000);
        entry.drain = { ...w, ms: round(w.ms, 1), sent: entry.sent_total, settled_seen: settled, overcount: Math.max(0, settled - (entry.sent_total ?? 0)) };
      }
      return entry;
    }

    async function realisticLoad(s: Scenario): Promise<ScenarioEntry> {
      const campaigns = s.campaigns as string[];
      const old = preloadRun ? [preloadRun] : [];
      const warmData = runData(s, `${runId}b${s.eventsPerRequest}w`, o.warmup, old);
      const warm = await load(s, o.warmup, warmData);
      // The measured run re-sends preload events (minutes old) but not the warm-up's: a warm-up event
      // acknowledged a moment ago may still wait in its buffer, and a copy re-sent under another region
      // could reach the shard first and be the one counted — right count, other cell than the truth's.
      const data = runData(s, `${runId}b${s.eventsPerRequest}m`, o.duration, old);
      const r = await measured(s, o.duration, data);
      const stopped = performance.now();
      const wf = runFigures(warm);
      const f = runFigures(r);
      const { cells, ...rest } = r;
      const entry: ScenarioEntry = { ...strip(rest), kind: s.kind, workload: "realistic", expect_status: 200, events_per_request: s.eventsPerRequest ?? null };
      entry.unexpected_status = r.requests - (r.statuses["200"] ?? 0);
      // Throughput over the load window (every request sent in it was answered: see realistic.lua).
      entry.requests_per_sec = f.requests_per_sec;
      entry.events_per_sec = f.events_per_sec;
      const truth = expectedCells([warm.cells ?? {}, cells ?? {}], campaigns, workload);
      const expected = [...truth.values()].reduce((a, b) => a + b, 0);
      // Exact when every request of both runs was answered 200 with every event accepted: then the
      // fresh events the generator sent are exactly what must be counted.
      const exact = wf.exact && f.exact;
      entry.acked_total = expected;
      entry.sent_total = warm.events_sent + r.events_sent;
      const minutes = Object.keys(cells ?? {}).map((k) => Number(k.slice(0, k.indexOf("|"))));
      entry.realistic = {
        ...f,
        exact,
        cells_in_run: f.cells,
        dup_share: f.fresh + f.resent ? f.resent / (f.fresh + f.resent) : 0,
        event_time_span_min: minutes.length ? Math.max(...minutes) - Math.min(...minutes) + 1 : 0,
        dedup_keys_at_start: dedupAtStart,
      };
      log(`${s.name}: ${r.acked} events acked in ${f.window_s.toFixed(1)} s (${f.cells} cells, ${f.resent} re-sent, ${f.duplicates_reported} reported duplicate); waiting for the metrics to show all ${expected} counted`);
      const fromMs = Math.min(...[...truth.keys()].map((k) => Number(k.slice(0, k.indexOf("|")))), Date.now());
      const w = await waitForTotal(server, tokens.viewer, campaigns, expected, { fromMs, sinceMs: stopped, timeoutMs: o.drainTimeout * 1000 });
      await sleep(2 * Number(server.vars.FLUSH_INTERVAL_MS) + 500);
      entry.cells_check = await checkCells(server, tokens.viewer, truth, campaigns, exact);
      entry.drain = { ms: round(w.ms, 1), seen: w.seen, expected, drained: w.drained, overcount: entry.cells_check.clicks_extra, settled_seen: entry.cells_check.clicks_seen, sent: entry.sent_total };
      if (!entry.cells_check.pass) log(`${s.name}: CELL MISMATCH ${JSON.stringify(entry.cells_check)}`);
      return entry;
    }

    const fs = result.floor_segments;
    if (fs.length) {
      addMedianFloorRatios(result);
      const floorReq = fs.reduce((a, x) => a + (x.ok_requests ?? 0), 0);
      const floorDur = fs.reduce((a, x) => a + (x.duration_s ?? 0), 0);
      const cpuReq = fs.reduce((a, x) => a + (x.requests ?? 0), 0);
      result.scenarios = {
        floor: {
          kind: "floor",
          requests_per_sec: floorReq / floorDur,
          ok_per_sec: floorReq / floorDur,
          segments_rps: fs.map((x) => round(x.ok_per_sec)),
          latency_ms: fs[0].latency_ms,
          not_ok_requests: fs.reduce((a, x) => a + (x.not_ok_requests ?? 0), 0),
          server_cpu_ms_per_request: round(fs.reduce((a, x) => a + (x.server_cpu_ms_per_request ?? 0) * (x.requests ?? 0), 0) / cpuReq, 3),
          ratio: 1,
        },
        ...result.scenarios,
      };
    }

    if (o.want("trials")) {
      if (!configSetupError && baseVersion !== null) {
        log(`publish/rollback trials (${o.trials}), read as new readers`);
        try {
          result.trials.config = await configTrials(server, tokens, ns, baseVersion, o.trials, { log });
        } catch (e) {
          result.trials.config_error = errorMessage(e);
          log(`config trials: ERROR ${result.trials.config_error}`);
        }
      }
      log(`ack → metrics trials (${o.trials})`);
      try {
        result.trials.ack = await ackTrials(server, tokens, runId, o.trials, { log });
      } catch (e) {
        result.trials.ack_error = errorMessage(e);
        log(`ack trials: ERROR ${result.trials.ack_error}`);
      }
    }
    if (o.want("push") && !configSetupError && baseVersion !== null) {
      log(`change → OFREP stream trials (${o.trials} rounds, ${o.pushClients} clients)`);
      try {
        result.trials.push = await pushTrials(server, tokens, ns, baseVersion, o.trials, { clients: o.pushClients, log });
        if (result.trials.push.skipped) log(`push trials skipped: ${result.trials.push.skipped}`);
      } catch (e) {
        result.trials.push_error = errorMessage(e);
        log(`push trials: ERROR ${result.trials.push_error}`);
      }
    }
    result.server.rss_mib_end = rssByRole(sampleGroup(pgid));
  } finally {
    await server.stop();
  }

  if (o.want("horizon")) {
    if (!o.horizon) result.horizon = { skipped: "--no-horizon" };
    else if (o.quick && o.only === undefined) result.horizon = { skipped: "--quick (run the full bench, or --quick --only horizon)" };
    else {
      log(`dedup horizon: private server with ALLOWED_LATENESS_SECONDS=MAX_CLOCK_SKEW_SECONDS=${o.horizonSeconds}`);
      try {
        result.horizon = await horizonCheck({ seconds: o.horizonSeconds, runId, log, extraVars: o.vars, stateRoot });
      } catch (e) {
        result.horizon = { error: errorMessage(e) };
        log(`horizon: ERROR ${errorMessage(e)}`);
      }
    }
  }
  result.finished_at = new Date().toISOString();
  result.machine.loadavg_at_end = loadAverage();
  result.elapsed_s = round((performance.now() - t0) / 1000, 1);
  result.targets = evaluateTargets(result);
  result.failed =
    Object.values(result.scenarios).some((s) => s.error) || !!result.trials.config_error || !!result.trials.ack_error || !!result.trials.push_error || !!result.preload?.error || (!!result.horizon && "error" in result.horizon);
  return result;
}

/**
 * Fills the shards' dedup state: `o.preloadKeys` fresh clicks at batch 1000 (the realistic generator
 * without re-sends, its own campaigns), waits until the metrics show them all and checks their cells,
 * then reads how many dedup keys the shards hold (private server only).
 */
async function preload(server: Server, tokens: Tokens, workload: Workload, runId: string, o: ResolvedOptions, log: (...a: unknown[]) => void): Promise<{ result: PreloadResult; old: OldRun | null }> {
  const campaigns = campaignNames(`pre-${runId}`, workload.campaignsPerScenario);
  const s = realisticScenario(1000, `pre-${runId}`, workload, tokens.publisher);
  const data = runData(s, `${runId}pre`, 3600, [], { campaigns, dup_rate: 0, max_events: Math.ceil(o.preloadKeys / o.threads) });
  log(`preload: ${o.preloadKeys.toLocaleString("en-US")} fresh clicks at batch 1000 to bring the dedup state to a steady size`);
  try {
    const t = performance.now();
    const r = await runWrk({ url: server.url, path: s.path, scenario: s.scenario, data, durationS: 3600, threads: o.threads, connections: o.connections, cleanStop: { graceS: 60 }, signal: server.died });
    const seconds = (performance.now() - t) / 1000;
    const f = runFigures(r);
    const truth = expectedCells([r.cells ?? {}], campaigns, workload);
    const expected = [...truth.values()].reduce((a, b) => a + b, 0);
    const fromMs = Math.min(...[...truth.keys()].map((k) => Number(k.slice(0, k.indexOf("|")))));
    const stopped = performance.now();
    const w = await waitForTotal(server, tokens.viewer, campaigns, expected, { fromMs, sinceMs: stopped, timeoutMs: Math.max(o.drainTimeout, 120) * 1000, pollMs: 500 });
    log(`preload: ${r.acked} acked in ${seconds.toFixed(1)} s; metrics ${w.drained ? `show all after ${((w.ms ?? 0) / 1000).toFixed(1)} s` : `show only ${w.seen}/${expected}`}`);
    const cells = await checkCells(server, tokens.viewer, truth, campaigns, f.exact);
    let dedupRows: number | null = null;
    let dedupTables: Record<string, number> | undefined;
    if (server.persistDir) {
      const st = await shardStorage(server.persistDir, "ClickShard");
      // keys live in level 0 (dedup_log, dedup_merging) and the partitions dedup_p<end>; not in dedup_parts/dedup_blooms
      dedupTables = Object.fromEntries(Object.entries(st.totals.tables).filter(([k]) => /^dedup_(log|merging|p\d+)$/.test(k)));
      dedupRows = Object.keys(dedupTables).length ? Object.values(dedupTables).reduce((a, b) => a + b, 0) : null;
    }
    return {
      result: { keys: r.acked, seconds: round(seconds, 1) ?? 0, events_per_sec: Math.round(f.events_per_sec), drain_ms: round(w.ms, 0), cells_check: cells, dedup_rows: dedupRows, dedup_tables: dedupTables, ...(cells.pass === false ? { error: `preload cells do not match: ${JSON.stringify(cells.examples)}` } : {}) },
      old: asOldRun(r, data),
    };
  } catch (e) {
    log(`preload: ERROR ${errorMessage(e)}`);
    return { result: { error: errorMessage(e) }, old: null };
  }
}

/**
 * A second view of the throughput ratios: against the median of every floor segment of the run
 * instead of the two around the scenario (the floor swings with background load; see docs/bench.md).
 */
export function addMedianFloorRatios(result: BenchResult): void {
  const rps = result.floor_segments.map((x) => x.ok_per_sec ?? 0).sort((a, b) => a - b);
  const median = rps.length % 2 ? rps[(rps.length - 1) / 2] : (rps[rps.length / 2 - 1] + rps[rps.length / 2]) / 2;
  result.floor_median_rps = round(median);
  for (const s of Object.values(result.scenarios)) {
    if (s.error || s.kind === "floor" || !s.ok_per_sec) continue;
    s.ratio_median_floor = round((s.kind === "clicks" ? (s.events_per_sec ?? 0) : s.ok_per_sec) / median, 3);
  }
}

function strip<T extends { wrk_stdout?: string; cells?: unknown }>(r: T): Omit<T, "wrk_stdout" | "cells"> {
  const { wrk_stdout: _w, cells: _c, ...rest } = r;
  return rest;
}
/** When the private server has exited: when, how, and its last output lines. */
function serverDied(server: Server): string {
  if (!server.exitInfo.exited) return "";
  return ` — the server exited (code ${server.exitInfo.code}, signal ${server.exitInfo.signal}) at ${server.exitInfo.at}; its last output:\n    ${server.outputTail().slice(-15).join("\n    ")}`;
}
function redactVars(vars: Record<string, string>): Record<string, string> {
  const out = { ...vars };
  for (const k of ["ADMIN_TOKEN", "CLICK_SIGNING_KEY"]) if (k in out) out[k] = "(set)";
  return out;
}
