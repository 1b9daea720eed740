// Click helpers outside wrk: sending batches from node and reading counts back from the metrics API.
import { api, must, sleep } from "./http.mjs";

const MINUTE = 60_000;

/** Sum of clicks for `campaign` in [fromMs, toMs) per the metrics API. */
export async function countClicks(server, viewerToken, campaign, fromMs, toMs) {
  const from = Math.floor(fromMs / MINUTE) * MINUTE;
  const to = Math.ceil((toMs + 1) / MINUTE) * MINUTE;
  const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), granularity: "minute", group_by: "campaign", campaign_id: campaign });
  const r = await must(server.url, "GET", `/api/v1/clicks/metrics?${q}`, { token: viewerToken }, [200]);
  return r.body.series.reduce((s, row) => s + (row.campaign_id === undefined || row.campaign_id === campaign ? row.clicks : 0), 0);
}

/**
 * Polls the metrics until `campaign` shows `expected` clicks. Returns {ms, seen, drained, overcount}:
 * ms from `sinceMs` (a performance.now() mark) to the first poll that saw them all.
 */
export async function waitForClicks(server, viewerToken, campaign, expected, { fromMs, toMs, sinceMs = performance.now(), timeoutMs = 60_000, pollMs = 20 } = {}) {
  let seen = 0;
  for (;;) {
    seen = await countClicks(server, viewerToken, campaign, fromMs, toMs);
    const now = performance.now();
    if (seen >= expected) return { ms: now - sinceMs, seen, expected, drained: true, overcount: seen - expected };
    if (now - sinceMs > timeoutMs) return { ms: null, seen, expected, drained: false, overcount: 0 };
    await sleep(pollMs);
  }
}

let seq = 0;
/** `n` events with fresh click_ids for `campaign`, event time now. */
export function makeEvents(runId, campaign, n, ts = Date.now()) {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ click_id: `${runId}-n-${++seq}`, campaign_id: campaign, ad_id: `ad-${seq % 7}`, ts });
  return out;
}

/** POST /v1/clicks from node; returns the answer plus the number of events the pipeline will count. */
export async function sendClicks(server, events, { region = "eu", token } = {}) {
  const r = await api(server.url, "POST", "/v1/clicks", { token, body: { events }, headers: { "x-region": region } });
  const counted = r.status === 200 ? (r.body.accepted ?? 0) - (r.body.duplicates ?? 0) : 0;
  return { ...r, counted };
}
