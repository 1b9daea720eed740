// Latency trials: publish → visible at the edge, emergency rollback → every region, ack → metrics.
import { makeEvents, sendClicks, waitForClicks } from "./clicks.ts";
import { publishVersion, readConfig, regionsOf, rolloutImmediate, type Tokens } from "./fixture.ts";
import { must, percentiles, type Percentiles } from "./http.ts";
import type { Log, Server } from "./server.ts";

/** Non-200 answers seen while polling (a poll never should fail), by status. */
const pollErrors: Record<string, number> = {};

interface RegionPoll {
  all: number | null;
  first: number | null;
  perRegion: Record<string, number>;
  rounds: number;
}

/**
 * Polls every region until each serves `version`; ms per region from `t0`. Every read is a NEW
 * reader's (readConfig: a fresh client id, no X-Config-Generation, no If-None-Match), so the figure is
 * what a client that starts now sees — not what one that already saw the change is guaranteed.
 */
async function pollRegions(server: Server, readerToken: string, ns: string, version: number, t0: number, timeoutMs: number): Promise<RegionPoll> {
  const regions = regionsOf(server);
  const seenAt: Record<string, number> = {};
  let round = 0;
  while (Object.keys(seenAt).length < regions.length) {
    round++;
    const pending = regions.filter((r) => !(r in seenAt));
    const res = await Promise.all(pending.map((r) => readConfig(server, readerToken, ns, r, `poll-${r}-${round}-${Math.random().toString(36).slice(2, 8)}`)));
    const now = performance.now();
    res.forEach((x, i) => {
      if (x.status === 200 && x.version === version) seenAt[pending[i]] = now - t0;
      else if (x.status !== 200) pollErrors[x.status] = (pollErrors[x.status] ?? 0) + 1;
    });
    if (now - t0 > timeoutMs) break;
  }
  const values = Object.values(seenAt);
  return { all: values.length === regions.length ? Math.max(...values) : null, first: values.length ? Math.min(...values) : null, perRegion: seenAt, rounds: round };
}

export interface ConfigTrials {
  trials: number;
  regions: string[];
  reader: string;
  propagation_all_regions_ms: Percentiles;
  propagation_first_region_ms: Percentiles;
  rollback_all_regions_ms: Percentiles;
  api_ms: { create_version: Percentiles; start_rollout: Percentiles; rollback: Percentiles };
  failures: { trial: number; phase: string; version: number; seen: Record<string, number> }[];
  poll_errors_by_status: Record<string, number>;
  raw: { propagation_ms: number[]; rollback_ms: number[] };
}

/**
 * Each trial publishes a new version, rolls it out with the immediate preset and polls until every
 * region serves it (propagation, timed from the rollout request), then rolls back to `baseVersion`
 * and polls until every region serves that again (rollback, timed from the rollback request).
 */
export async function configTrials(server: Server, tokens: Tokens, ns: string, baseVersion: number, n: number, { timeoutMs = 10_000, log = () => {} }: { timeoutMs?: number; log?: Log } = {}): Promise<ConfigTrials> {
  const prop: number[] = [];
  const propFirst: number[] = [];
  const rb: number[] = [];
  const apiMs = { version: [] as number[], rollout: [] as number[], rollback: [] as number[] };
  const failures: ConfigTrials["failures"] = [];
  for (let i = 0; i < n; i++) {
    const tv = performance.now();
    const v = await publishVersion(server, tokens.publisher, ns, 1000 + i);
    apiMs.version.push(performance.now() - tv);
    const t0 = performance.now();
    const { ms } = await rolloutImmediate(server, tokens.publisher, ns, v);
    apiMs.rollout.push(ms);
    const p = await pollRegions(server, tokens.reader, ns, v, t0, timeoutMs);
    if (p.all === null) failures.push({ trial: i, phase: "propagation", version: v, seen: p.perRegion });
    else prop.push(p.all);
    if (p.first !== null) propFirst.push(p.first);

    const t1 = performance.now();
    const r = await must(server.url, "POST", `/admin/v1/namespaces/${ns}/rollback`, { token: tokens.publisher, body: { to_version: baseVersion, reason: `bench trial ${i}` } }, [200, 201, 202]);
    apiMs.rollback.push(r.ms);
    const q = await pollRegions(server, tokens.reader, ns, baseVersion, t1, timeoutMs);
    if (q.all === null) failures.push({ trial: i, phase: "rollback", version: baseVersion, seen: q.perRegion });
    else rb.push(q.all);
    if ((i + 1) % 10 === 0) log(`  config trials: ${i + 1}/${n}`);
  }
  return {
    trials: n,
    regions: regionsOf(server),
    reader: "new reader: fresh client_id per read, no X-Config-Generation, no If-None-Match",
    propagation_all_regions_ms: percentiles(prop),
    propagation_first_region_ms: percentiles(propFirst),
    rollback_all_regions_ms: percentiles(rb),
    api_ms: { create_version: percentiles(apiMs.version), start_rollout: percentiles(apiMs.rollout), rollback: percentiles(apiMs.rollback) },
    failures,
    poll_errors_by_status: { ...pollErrors },
    raw: { propagation_ms: prop.map(round1), rollback_ms: rb.map(round1) },
  };
}

export interface AckTrials {
  trials: number;
  batch: number;
  ack_to_metrics_ms: Percentiles;
  failures: unknown[];
  raw_ms: number[];
}

/** Each trial sends a batch of `batch` fresh clicks for its own campaign and polls the metrics from the ack. */
export async function ackTrials(server: Server, tokens: Tokens, runId: string, n: number, { batch = 10, timeoutMs = 30_000, log = () => {} }: { batch?: number; timeoutMs?: number; log?: Log } = {}): Promise<AckTrials> {
  const ms: number[] = [];
  const failures: unknown[] = [];
  const regions = regionsOf(server);
  for (let i = 0; i < n; i++) {
    const campaign = `ack-${runId}-${i}`;
    const from = Date.now();
    const events = makeEvents(runId, campaign, batch, from);
    const r = await sendClicks(server, events, { region: regions[i % regions.length] });
    const acked = performance.now();
    if (r.status !== 200) {
      failures.push({ trial: i, status: r.status, body: r.body });
      continue;
    }
    const w = await waitForClicks(server, tokens.viewer, campaign, r.counted, { fromMs: from, toMs: Date.now(), sinceMs: acked, timeoutMs });
    if (!w.drained || w.overcount) failures.push({ trial: i, ...w });
    if (w.drained && w.ms !== null) ms.push(w.ms);
    if ((i + 1) % 10 === 0) log(`  ack→metrics trials: ${i + 1}/${n}`);
  }
  return { trials: n, batch, ack_to_metrics_ms: percentiles(ms), failures, raw_ms: ms.map(round1) };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
