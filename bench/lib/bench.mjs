// Orchestrates one bench run: server, fixtures, interleaved floor/scenario loads, drains, trials,
// the dedup-horizon check, and the SPEC targets.
import { loadavg } from "node:os";
import { countClicks, waitForClicks } from "./clicks.mjs";
import { sleep } from "./http.mjs";
import { configClients, createTokens, regionsOf, setupConfig } from "./fixture.mjs";
import { horizonCheck } from "./horizon.mjs";
import { machineInfo } from "./machine.mjs";
import { cpuDelta, pgidListeningOn, rssByRole, sampleGroup } from "./proc.mjs";
import { evaluateTargets } from "./report.mjs";
import { clicksScenario, configScenario, floorScenario, reportsScenario } from "./scenarios.mjs";
import { attachServer, startServer } from "./server.mjs";
import { ackTrials, configTrials } from "./trials.mjs";
import { assertWrk, runWrk } from "./wrk.mjs";

const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

export function resolveOptions(opts) {
  const q = !!opts.quick;
  const only = opts.only ? new Set(String(opts.only).split(",").map((s) => s.trim())) : null;
  return {
    ...opts,
    duration: opts.duration ?? (q ? 2 : 10),
    floorDuration: opts.floorDuration ?? (q ? 1 : 5),
    warmup: opts.warmup ?? (q ? 1 : 2),
    trials: opts.trials ?? (q ? 8 : 30),
    vars: Object.fromEntries((opts.var ?? []).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
    batches: String(opts.batches).split(",").map(Number).filter((n) => n > 0),
    want: (part) => !only || only.has(part),
  };
}

export async function runBench(rawOpts) {
  const o = resolveOptions(rawOpts);
  assertWrk();
  const startedAt = new Date();
  const runId = startedAt.toISOString().replace(/\D/g, "").slice(2, 14) + Math.random().toString(36).slice(2, 6);
  const result = { started_at: startedAt.toISOString(), run_id: runId, options: { ...o, want: undefined }, machine: machineInfo(), scenarios: {}, floor_segments: [], trials: {}, horizon: null };
  // wrangler dev's local trace store (X_LOCAL_OBSERVABILITY, on by default in wrangler 4) writes every
  // span and log line to SQLite; production has nothing like it. Off unless --observability.
  if (!o.observability && process.env.X_LOCAL_OBSERVABILITY === undefined) process.env.X_LOCAL_OBSERVABILITY = "false";

  const t0 = performance.now();
  const server = o.url
    ? await attachServer(o.url, o.token, { ...(o.flushMs ? { FLUSH_INTERVAL_MS: String(o.flushMs) } : {}), ...(o.regions ? { REGIONS: o.regions } : {}) })
    : await startServer(o.vars, { log });
  const pgid = server.pgid ?? pgidListeningOn(server.port);
  result.server = { mode: server.private ? "private wrangler dev" : "--url", url: server.url, vars: redactVars(server.vars), local_observability: process.env.X_LOCAL_OBSERVABILITY !== "false", boot_s: round((performance.now() - t0) / 1000, 1) };
  log(`server ${server.url} (${result.server.mode}), pgid ${pgid ?? "unknown"}`);

  try {
    const ns = server.private ? "bench" : `bench-${runId}`;
    const tokens = await createTokens(server, ns);
    const regions = regionsOf(server);
    const scenarios = [];
    let baseVersion = null;
    let clients = [];
    let configSetupError = null;
    if (o.want("config") || o.want("reports") || o.want("trials")) {
      try {
        baseVersion = await setupConfig(server, tokens, ns);
        clients = await configClients(server, tokens.reader, ns);
        log(`namespace '${ns}' v${baseVersion} served in ${regions.length} regions; ${clients.length} clients`);
      } catch (e) {
        configSetupError = `config setup failed: ${e.message ?? e}`;
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
    // Clicks carry a publisher token: server-to-server callers are exempt from the per-IP rate limit
    // (workers/clicks.ts), which a single-IP load generator would otherwise hit at once.
    if (o.want("clicks")) for (const b of o.batches) scenarios.push(clicksScenario(b, `${runId}b${b}`, `bench-${runId}-b${b}`, regions, tokens.publisher));

    // Floor segments between scenarios (F S F S … F): each ratio uses the mean of its two neighbours,
    // so background load drifting during the run hits both sides of the ratio alike.
    const floor = floorScenario();
    // Every wrk run of a click scenario gets its own click_id prefix, so no run repeats another's ids.
    let segment = 0;
    const load = (s, durationS) => {
      const data = s.kind === "clicks" ? { ...s.data, run_id: `${s.data.run_id}s${++segment}` } : s.data;
      return runWrk({ url: server.url, path: s.path, scenario: s.scenario, data, durationS, threads: o.threads, connections: o.connections });
    };
    const measured = async (s, durationS) => {
      const before = sampleGroup(pgid);
      const r = await load(s, durationS);
      const after = sampleGroup(pgid);
      const cpu = cpuDelta(before, after);
      const serverCpu = Object.entries(cpu).reduce((a, [k, v]) => a + (k.startsWith("workerd") ? v : 0), 0);
      return { ...r, server_cpu_s: cpu, server_cpu_ms_per_request: r.requests ? round((serverCpu * 1000) / r.requests, 3) : null, rss_mib: rssByRole(after) };
    };
    let prevFloorCpu = null;
    let lastFloorCpu = null;
    const floorSeg = async () => {
      const r = await measured(floor, o.floorDuration);
      result.floor_segments.push(strip(r));
      prevFloorCpu = lastFloorCpu;
      lastFloorCpu = r.server_cpu_ms_per_request;
      return r.ok_per_sec;
    };
    let prevFloor = null;
    if (scenarios.length) {
      // Warm every route once before any measurement: the dev server's memory grows fast during its
      // first tens of thousands of requests (docs/bench.md), which would otherwise land on whichever
      // scenario runs first. Clicks warm up on a campaign of their own, outside the drain checks.
      log(`warm-up pass: ${o.warmup}s per route`);
      await load(floor, o.warmup);
      for (const s of scenarios) {
        const warmData = s.kind === "clicks" ? { ...s, data: { ...s.data, campaign: `${s.campaign}-prewarm` } } : s;
        try {
          await load(warmData, o.warmup);
        } catch {
          /* the measured run reports the error */
        }
      }
      prevFloor = await floorSeg();
    }
    const startMs = Date.now();
    for (const s of scenarios) {
      log(`${s.name}: warm-up ${o.warmup}s, load ${o.duration}s`);
      let entry;
      try {
        const warm = await load(s, o.warmup);
        const r = await measured(s, o.duration);
        entry = { ...strip(r), kind: s.kind, expect_status: s.expectStatus ?? 200, events_per_request: s.eventsPerRequest ?? null };
        const unexpected = r.requests - (r.statuses[String(entry.expect_status)] ?? 0);
        entry.unexpected_status = unexpected;
        if (s.eventsPerRequest) {
          entry.events_per_sec = (s.kind === "clicks" ? r.acked : r.ok_requests * s.eventsPerRequest) / r.duration_s;
          if (s.kind === "clicks") {
            entry.acked_total = warm.acked + r.acked;
            // Requests still in flight when wrk stops were sent (and may be counted) but never acked.
            entry.sent_total = warm.events_sent + r.events_sent;
          }
        }
        if (s.kind === "clicks") {
          const stopped = performance.now();
          log(`${s.name}: ${r.acked} events acked (+${warm.acked} warm-up); waiting for the metrics to show them all`);
          const w = await waitForClicks(server, tokens.viewer, s.campaign, entry.acked_total, { fromMs: startMs - 120_000, toMs: Date.now() + 60_000, sinceMs: stopped, timeoutMs: o.drainTimeout * 1000, pollMs: 100 });
          // More than was ever sent would be double counting; between acked and sent is in-flight work.
          // Then let in-flight work settle and count again: more than was ever sent is double counting.
          await sleep(2 * Number(server.vars.FLUSH_INTERVAL_MS) + 500);
          const settled = await countClicks(server, tokens.viewer, s.campaign, startMs - 120_000, Date.now() + 60_000);
          entry.drain = { ...round2(w), sent: entry.sent_total, settled_seen: settled, overcount: Math.max(0, settled - entry.sent_total) };
        }
      } catch (e) {
        entry = { kind: s.kind, error: String(e.message ?? e) };
        log(`${s.name}: ERROR ${entry.error}`);
      }
      const nextFloor = await floorSeg();
      if (entry.error) prevFloorCpu = lastFloorCpu;
      if (!entry.error) {
        entry.paired_floor_rps = (prevFloor + nextFloor) / 2;
        const num = s.kind === "clicks" ? entry.events_per_sec : s.kind === "reports" ? entry.ok_per_sec : entry.ok_per_sec;
        entry.ratio = round(num / entry.paired_floor_rps, 3);
        // The same ratio in server CPU: floor requests per CPU-second vs this route's (events) per
        // CPU-second. Steadier than throughput on a shared machine, but blind to I/O waits (fsync).
        const floorCpu = (prevFloorCpu + lastFloorCpu) / 2;
        if (floorCpu && entry.server_cpu_ms_per_request) entry.cpu_ratio = round((floorCpu / entry.server_cpu_ms_per_request) * (s.kind === "clicks" ? s.eventsPerRequest : 1), 3);
      }
      prevFloor = nextFloor;
      result.scenarios[s.name] = entry;
    }
    const fs = result.floor_segments;
    if (fs.length) {
      addMedianFloorRatios(result);
    const floorReq = fs.reduce((a, x) => a + x.ok_requests, 0);
    const floorDur = fs.reduce((a, x) => a + x.duration_s, 0);
    result.scenarios = {
      floor: { kind: "floor", requests_per_sec: floorReq / floorDur, ok_per_sec: floorReq / floorDur, segments_rps: fs.map((x) => round(x.ok_per_sec)), latency_ms: fs[0].latency_ms, not_ok_requests: fs.reduce((a, x) => a + x.not_ok_requests, 0), server_cpu_ms_per_request: round(fs.reduce((a, x) => a + x.server_cpu_ms_per_request * x.requests, 0) / fs.reduce((a, x) => a + x.requests, 0), 3), ratio: 1 },
      ...result.scenarios,
    };
    }

    if (o.want("trials")) {
      if (!configSetupError) {
        log(`publish/rollback trials (${o.trials})`);
        try {
          result.trials.config = await configTrials(server, tokens, ns, baseVersion, o.trials, { log });
        } catch (e) {
          result.trials.config_error = String(e.message ?? e);
          log(`config trials: ERROR ${result.trials.config_error}`);
        }
      }
      log(`ack → metrics trials (${o.trials})`);
      try {
        result.trials.ack = await ackTrials(server, tokens, runId, o.trials, { log });
      } catch (e) {
        result.trials.ack_error = String(e.message ?? e);
        log(`ack trials: ERROR ${result.trials.ack_error}`);
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
        result.horizon = await horizonCheck({ seconds: o.horizonSeconds, runId, log, extraVars: o.vars });
      } catch (e) {
        result.horizon = { error: String(e.message ?? e) };
        log(`horizon: ERROR ${result.horizon.error}`);
      }
    }
  }
  result.finished_at = new Date().toISOString();
  result.machine.loadavg_at_end = loadavg().map((x) => Math.round(x * 100) / 100);
  result.elapsed_s = round((performance.now() - t0) / 1000, 1);
  result.targets = evaluateTargets(result);
  result.failed = Object.values(result.scenarios).some((s) => s.error) || !!result.trials.config_error || !!result.trials.ack_error || !!result.horizon?.error;
  return result;
}

/**
 * A second view of the throughput ratios: against the median of every floor segment of the run
 * instead of the two around the scenario (the floor swings with background load; see docs/bench.md).
 */
export function addMedianFloorRatios(result) {
  const rps = result.floor_segments.map((x) => x.ok_per_sec).sort((a, b) => a - b);
  const median = rps.length % 2 ? rps[(rps.length - 1) / 2] : (rps[rps.length / 2 - 1] + rps[rps.length / 2]) / 2;
  result.floor_median_rps = round(median);
  for (const s of Object.values(result.scenarios)) {
    if (s.error || s.kind === "floor" || !s.ok_per_sec) continue;
    s.ratio_median_floor = round((s.kind === "clicks" ? s.events_per_sec : s.ok_per_sec) / median, 3);
  }
}

function strip(r) {
  const { wrk_stdout, ...rest } = r;
  void wrk_stdout;
  return rest;
}
function redactVars(vars) {
  const out = { ...vars };
  for (const k of ["ADMIN_TOKEN", "CLICK_SIGNING_KEY"]) if (k in out) out[k] = "(set)";
  return out;
}
const round = (x, d = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);
function round2(w) {
  return { ...w, ms: w.ms === null ? null : round(w.ms, 1) };
}
