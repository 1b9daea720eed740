import { expect } from "vitest";
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
