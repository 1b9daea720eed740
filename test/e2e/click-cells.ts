import { expect } from "vitest";
import type { PipelineState } from "@edgeplane/client";
import { pipelineBacklog } from "../../cli/commands/clicks.ts";
import { http } from "./server";

/**
 * Shared ground truth for the click crash tests: cells keyed `minute|ad|region`, computed by the test
 * itself from what was acknowledged, and the same cells as the metrics API reports them.
 */
export interface CellEvent {
  click_id: string;
  ad_id: string;
  ts: number | string;
}

/** A click as the crash tests send it, and one request's worth of them from one region. */
export interface ClickEvent extends CellEvent {
  campaign_id: string;
}
export interface ClickBatch {
  region: string;
  events: ClickEvent[];
}

const MINUTE = 60_000;

/** Each click_id counted once, in the region of its first acknowledged copy. */
export function truthCells(batches: { region: string; events: CellEvent[] }[]): Map<string, number> {
  const seen = new Set<string>();
  const cells = new Map<string, number>();
  for (const b of batches) {
    for (const e of b.events) {
      if (seen.has(e.click_id)) continue;
      seen.add(e.click_id);
      const ts = typeof e.ts === "number" ? e.ts : Date.parse(e.ts);
      const k = `${new Date(ts - (ts % MINUTE)).toISOString()}|${e.ad_id}|${b.region}`;
      cells.set(k, (cells.get(k) ?? 0) + 1);
    }
  }
  return cells;
}

/** One campaign's minute × ad × region counts from GET /api/v1/clicks/metrics. */
export async function metricsCells(baseUrl: string, campaign: string, from: number, to: number): Promise<Map<string, number>> {
  const q = new URLSearchParams({ from: String(from), to: String(to), granularity: "minute", group_by: "ad,region", campaign_id: campaign });
  const r = await http(baseUrl, "GET", `/api/v1/clicks/metrics?${q}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const out = new Map<string, number>();
  for (const s of r.body.series as { window_start: string; ad_id: string; region: string; clicks: number }[]) {
    out.set(`${new Date(s.window_start).toISOString()}|${s.ad_id}|${s.region}`, s.clicks);
  }
  return out;
}

/**
 * Posts one batch as an anonymous client. True = acknowledged (200 with every event accepted); false =
 * not acknowledged (refused, reset, timed out, non-200), to be retried with the same click_ids.
 */
export async function postBatch(baseUrl: string, batch: ClickBatch): Promise<boolean> {
  let r: Response;
  try {
    r = await fetch(baseUrl + "/v1/clicks", {
      method: "POST",
      headers: { "content-type": "application/json", "x-region": batch.region },
      body: JSON.stringify({ events: batch.events }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch {
    return false; // refused or reset: not acknowledged
  }
  const body = (await r.json().catch(() => null)) as { accepted?: number; rejected?: unknown[] } | null;
  // a 200 whose body was cut off (the server was killed while answering) is no answer: the client retries
  if (r.status !== 200 || body === null) return false;
  expect(body?.accepted, JSON.stringify(body)).toBe(batch.events.length);
  expect(body?.rejected).toEqual([]);
  return true;
}

/**
 * Sends every batch with 8 concurrent senders. With `killAt`, `kill()` is called once that many batches
 * are acknowledged (others in flight) and the senders stop; resolves after the kill.
 */
export async function sendAll(post: (b: ClickBatch) => Promise<boolean>, all: ClickBatch[], crash?: { killAt: number; kill: () => Promise<void> }): Promise<boolean[]> {
  const acked = new Array<boolean>(all.length).fill(false);
  let next = 0;
  let ackedCount = 0;
  let killed: Promise<void> | null = null;
  const sender = async () => {
    while (next < all.length && !killed) {
      const i = next++;
      acked[i] = await post(all[i]);
      if (acked[i]) ackedCount++;
      if (crash && !killed && ackedCount >= crash.killAt) killed = crash.kill();
    }
  };
  await Promise.all(Array.from({ length: 8 }, sender));
  await killed;
  return acked;
}

/** A client that retries every batch not acknowledged (same click_ids), 8 at a time, until all are. */
export async function retryUntilAcked(post: (b: ClickBatch) => Promise<boolean>, all: ClickBatch[], acked: boolean[]): Promise<void> {
  for (let round = 0; round < 5 && acked.includes(false); round++) {
    const todo = acked.flatMap((a, i) => (a ? [] : [i]));
    for (let k = 0; k < todo.length; k += 8) await Promise.all(todo.slice(k, k + 8).map(async (i) => (acked[i] = await post(all[i]))));
  }
  expect(acked.every(Boolean)).toBe(true);
}

export const totalOf = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
export const sortedCells = (m: Map<string, number>) => Object.fromEntries([...m].sort());

/** Polls the metrics until they hold as many clicks as `truth` (or the time is up); returns the last read. */
export async function waitForCells(baseUrl: string, campaign: string, from: number, to: number, truth: Map<string, number>, timeoutMs: number): Promise<Map<string, number>> {
  let seen = new Map<string, number>();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    seen = await metricsCells(baseUrl, campaign, from, to);
    if (totalOf(seen) >= totalOf(truth)) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return seen;
}

/**
 * Waits until no buffer, shard or aggregator holds anything on its way to D1, seen twice in a row, so
 * that a late double count would already be in the metrics read next (each hop keeps its data until the
 * next one holds it durably, so an empty pipeline has nothing in flight).
 */
export async function waitForQuietPipeline(baseUrl: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietReads = 0;
  let busy: string[] = [];
  while (Date.now() < deadline) {
    const r = await http(baseUrl, "GET", "/api/v1/clicks/pipeline");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    busy = pipelineBacklog(r.body as PipelineState).map(([, name]) => name);
    quietReads = busy.length === 0 ? quietReads + 1 : 0;
    if (quietReads === 2) return;
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`the click pipeline still holds data after ${timeoutMs} ms: ${busy.join(", ")}`);
}
