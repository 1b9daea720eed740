// Click helpers outside wrk: sending batches from node and reading counts back from the metrics API.
import { api, must, sleep } from "./http.ts";
import type { Server } from "./server.ts";

const MINUTE = 60_000;

export interface MetricsRow {
  window_start: string;
  campaign_id?: string;
  ad_id?: string;
  region?: string;
  clicks: number;
}

/** The metrics API's rows for [fromMs, toMs) (aligned outward to minutes). */
export async function metricsRows(server: Server, viewerToken: string, params: { fromMs: number; toMs: number; groupBy: string; campaigns: string[] }): Promise<MetricsRow[]> {
  const from = Math.floor(params.fromMs / MINUTE) * MINUTE;
  const to = Math.ceil((params.toMs + 1) / MINUTE) * MINUTE;
  const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), granularity: "minute", group_by: params.groupBy });
  for (const c of params.campaigns) q.append("campaign_id", c);
  const r = await must<{ series: MetricsRow[] }>(server.url, "GET", `/api/v1/clicks/metrics?${q}`, { token: viewerToken }, [200]);
  return r.body.series;
}

/** Sum of clicks for `campaigns` (≤ 20) in [fromMs, toMs) per the metrics API. */
export async function countClicks(server: Server, viewerToken: string, campaign: string | string[], fromMs: number, toMs: number): Promise<number> {
  const campaigns = Array.isArray(campaign) ? campaign : [campaign];
  const rows = await metricsRows(server, viewerToken, { fromMs, toMs, groupBy: "campaign", campaigns });
  return rows.reduce((s, row) => s + (row.campaign_id === undefined || campaigns.includes(row.campaign_id) ? row.clicks : 0), 0);
}

export interface WaitResult {
  ms: number | null;
  seen: number;
  expected: number;
  drained: boolean;
  overcount: number;
}

/**
 * Polls the metrics until `campaign(s)` show `expected` clicks: ms from `sinceMs` (a
 * performance.now() mark) to the first poll that saw them all.
 */
export async function waitForClicks(
  server: Server,
  viewerToken: string,
  campaign: string | string[],
  expected: number,
  { fromMs, toMs, sinceMs = performance.now(), timeoutMs = 60_000, pollMs = 20 }: { fromMs: number; toMs: number; sinceMs?: number; timeoutMs?: number; pollMs?: number },
): Promise<WaitResult> {
  let seen = 0;
  for (;;) {
    seen = await countClicks(server, viewerToken, campaign, fromMs, toMs);
    const now = performance.now();
    if (seen >= expected) return { ms: now - sinceMs, seen, expected, drained: true, overcount: seen - expected };
    if (now - sinceMs > timeoutMs) return { ms: null, seen, expected, drained: false, overcount: 0 };
    await sleep(pollMs);
  }
}

export interface ClickEvent {
  click_id: string;
  campaign_id: string;
  ad_id: string;
  ts: number;
}

let seq = 0;
/** `n` events with fresh click_ids for `campaign`, event time now. */
export function makeEvents(runId: string, campaign: string, n: number, ts = Date.now()): ClickEvent[] {
  const out: ClickEvent[] = [];
  for (let i = 0; i < n; i++) out.push({ click_id: `${runId}-n-${++seq}`, campaign_id: campaign, ad_id: `ad-${seq % 7}`, ts });
  return out;
}

/** POST /v1/clicks from node; returns the answer plus the number of events the pipeline will count. */
export async function sendClicks(server: Server, events: ClickEvent[], { region = "eu", token }: { region?: string; token?: string } = {}) {
  const r = await api<{ accepted?: number; duplicates?: number }>(server.url, "POST", "/v1/clicks", { token, body: { events }, headers: { "x-region": region } });
  const counted = r.status === 200 ? (r.body.accepted ?? 0) - (r.body.duplicates ?? 0) : 0;
  return { ...r, counted };
}
