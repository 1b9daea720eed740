// The realistic click workload (SPEC "Additions": the click bench default; issue 10 §7) and its ground
// truth. The load itself is bench/lua/realistic.lua; this side names the campaigns, hands each wrk run
// its parameters, turns the per-thread tallies into expected counts per (minute, campaign, ad, region)
// cell and checks the metrics API against them.
import { metricsRows } from "./clicks.ts";
import { sleep } from "./http.ts";
import type { Scenario } from "./scenarios.ts";
import type { Server } from "./server.ts";
import type { LuaValue, WrkResult } from "./wrk.ts";

/** The shape of the workload; every run of one bench uses the same one (re-sends depend on it). */
export interface Workload {
  campaignsPerScenario: number;
  adsPerCampaign: number;
  dupRate: number;
  regions: string[];
}

export const DEFAULT_WORKLOAD: Omit<Workload, "regions"> = {
  // 10 campaigns × 20 ads × 7 regions = 1,400 cells per event-time minute. Event times: 70 % in the
  // last minute, 20 % 1–10 min, 10 % 10–59 min late (bench/lua/realistic.lua), so the ≈ 2,800 cells
  // of the current and previous minute are hot and tens of thousands of older ones get a few each.
  // One campaign's cells over an hour (20 × 7 × 61 ≈ 8,500) stay under the metrics API's 10,000 rows.
  campaignsPerScenario: 10,
  adsPerCampaign: 20,
  dupRate: 0.1,
};

/** A run of realistic.lua whose events may be re-sent by later runs (DATA.old). */
export interface OldRun {
  prefix: string;
  base_ms: number;
  threads: number;
  max_seq: number;
  campaigns: string[];
}

export const campaignNames = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-c${i}`);

/** The realistic scenario of batch size `batch`. Batch 1 is a browser beacon: anonymous, text/plain. */
export function realisticScenario(batch: number, campaignPrefix: string, w: Workload, token: string): Scenario {
  const campaigns = campaignNames(campaignPrefix, w.campaignsPerScenario);
  return {
    name: `clicks_b${batch}`,
    kind: "clicks",
    workload: "realistic",
    campaigns,
    path: "/v1/clicks",
    scenario: "realistic",
    data: { path: "/v1/clicks", batch, campaigns, ads: w.adsPerCampaign, pairs: campaigns.length * w.adsPerCampaign, regions: w.regions, token, dup_rate: w.dupRate, beacon: batch === 1 },
    eventsPerRequest: batch,
    expectStatus: 200,
  };
}

/** DATA for one wrk run of a realistic scenario: its own click_id prefix, base time, re-send sources. */
export function runData(s: Scenario, runId: string, durationS: number, old: OldRun[], extra: Record<string, LuaValue> = {}): { [k: string]: LuaValue } {
  return { ...s.data, run_id: runId, base_ms: Date.now(), duration_ms: Math.round(durationS * 1000), old: old.map((o) => ({ ...o })), seed: Math.floor(Math.random() * 1e6), ...extra };
}

/** What later runs need to re-send this run's events (only when every request was answered 200). */
export function asOldRun(r: WrkResult, data: { [k: string]: LuaValue }): OldRun | null {
  if (!r.clean_stop || r.not_ok_requests || !r.per_thread?.length) return null;
  const maxSeq = Math.min(...r.per_thread.map((t) => t.max_seq ?? 0));
  if (maxSeq < 1) return null;
  return { prefix: String(data.run_id), base_ms: Number(data.base_ms), threads: r.per_thread.length, max_seq: maxSeq, campaigns: data.campaigns as string[] };
}

export interface RunFigures {
  /** Every request sent was answered (clean stop) with 200, so the ground truth is exact. */
  exact: boolean;
  /** Events in answered 200s (duplicates included) per second of the load window. */
  events_per_sec: number;
  requests_per_sec: number;
  window_s: number;
  fresh: number;
  resent: number;
  resent_in_batch: number;
  resent_recent: number;
  resent_old: number;
  duplicates_reported: number;
  /** accepted − duplicates from the answers (= fresh when the answers report duplicates). */
  counted_by_answers: number;
  cells: number;
  unanswered: number;
}

/** Throughput and tallies of one realistic run, from its wrk result. */
export function runFigures(r: WrkResult): RunFigures {
  const x = r.extra ?? {};
  const windows = (r.per_thread ?? []).map((t) => t.window_ms ?? 0).filter((ms) => ms > 0);
  const window_s = windows.length ? windows.reduce((a, b) => a + b, 0) / windows.length / 1000 : r.duration_s;
  const unanswered = (r.per_thread ?? []).reduce((a, t) => a + (t.outstanding ?? 0), 0);
  return {
    // Every request answered 200 and every event in it accepted. (Whether the answers report
    // duplicates depends on the design: the buffered pipeline dedups after the ack, so it does not.)
    exact: !!r.clean_stop && unanswered === 0 && r.not_ok_requests === 0 && r.requests_with_rejects === 0 && r.acked === r.events_sent,
    events_per_sec: r.acked / window_s,
    requests_per_sec: r.ok_requests / window_s,
    window_s,
    fresh: x.fresh ?? 0,
    resent: x.resent ?? 0,
    resent_in_batch: x.resent_in_batch ?? 0,
    resent_recent: x.resent_recent ?? 0,
    resent_old: x.resent_old ?? 0,
    duplicates_reported: r.duplicates,
    counted_by_answers: r.acked - r.duplicates,
    cells: Object.keys(r.cells ?? {}).length,
    unanswered,
  };
}

const MINUTE = 60_000;

/** Expected clicks per "minuteMs|campaign|ad|region" from the Lua tallies ("minute|pair|region index"). */
export function expectedCells(cellTallies: Record<string, number>[], campaigns: string[], w: Workload): Map<string, number> {
  const out = new Map<string, number>();
  for (const tallies of cellTallies) {
    for (const [k, n] of Object.entries(tallies)) {
      const [minute, pair, ri] = k.split("|").map(Number);
      const key = `${minute * MINUTE}|${campaigns[Math.floor(pair / w.adsPerCampaign)]}|ad-${pair % w.adsPerCampaign}|${w.regions[ri - 1]}`;
      out.set(key, (out.get(key) ?? 0) + n);
    }
  }
  return out;
}

export interface CellCheck {
  exact: boolean;
  cells_expected: number;
  cells_seen: number;
  clicks_expected: number;
  clicks_seen: number;
  /** cells whose count is below the truth (lost) or above it (double counted) */
  cells_under: number;
  cells_over: number;
  clicks_missing: number;
  clicks_extra: number;
  /** a few mismatching cells, for the report */
  examples: { cell: string; expected: number; seen: number }[];
  pass: boolean | null;
}

/**
 * Compares the metrics API's per-cell counts (minute × campaign × ad × region) with the truth. With
 * an exact truth every cell must match; otherwise (a request went unanswered) only "never above what
 * was sent" can be checked, and the result is marked inexact.
 */
export async function checkCells(server: Server, viewerToken: string, truth: Map<string, number>, campaigns: string[], exact: boolean): Promise<CellCheck> {
  let minMs = Infinity;
  let maxMs = -Infinity;
  for (const k of truth.keys()) {
    const m = Number(k.slice(0, k.indexOf("|")));
    minMs = Math.min(minMs, m);
    maxMs = Math.max(maxMs, m);
  }
  const seen = new Map<string, number>();
  if (truth.size) {
    for (const c of campaigns) {
      const rows = await metricsRows(server, viewerToken, { fromMs: minMs, toMs: maxMs + MINUTE - 1, groupBy: "campaign,ad,region", campaigns: [c] });
      for (const r of rows) seen.set(`${Date.parse(r.window_start)}|${r.campaign_id}|${r.ad_id}|${r.region}`, r.clicks);
    }
  }
  const out: CellCheck = { exact, cells_expected: truth.size, cells_seen: seen.size, clicks_expected: 0, clicks_seen: 0, cells_under: 0, cells_over: 0, clicks_missing: 0, clicks_extra: 0, examples: [], pass: null };
  for (const k of new Set([...truth.keys(), ...seen.keys()])) {
    const e = truth.get(k) ?? 0;
    const s = seen.get(k) ?? 0;
    out.clicks_expected += e;
    out.clicks_seen += s;
    if (s < e) {
      out.cells_under++;
      out.clicks_missing += e - s;
    } else if (s > e) {
      out.cells_over++;
      out.clicks_extra += s - e;
    }
    if (s !== e && out.examples.length < 5) out.examples.push({ cell: k, expected: e, seen: s });
  }
  out.pass = exact ? out.cells_under === 0 && out.cells_over === 0 : out.cells_over === 0;
  return out;
}

/** Waits until the metrics show at least `expected` clicks over `campaigns` (the drain). */
export async function waitForTotal(server: Server, viewerToken: string, campaigns: string[], expected: number, { fromMs, sinceMs, timeoutMs, pollMs = 100 }: { fromMs: number; sinceMs: number; timeoutMs: number; pollMs?: number }) {
  let seen = 0;
  for (;;) {
    const rows = await metricsRows(server, viewerToken, { fromMs, toMs: Date.now() + MINUTE, groupBy: "campaign", campaigns });
    seen = rows.reduce((a, r) => a + r.clicks, 0);
    const now = performance.now();
    if (seen >= expected) return { ms: now - sinceMs, seen, expected, drained: true };
    if (now - sinceMs > timeoutMs) return { ms: null, seen, expected, drained: false };
    await sleep(pollMs);
  }
}
