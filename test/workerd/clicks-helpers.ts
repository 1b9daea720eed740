import { env, runDurableObjectAlarm } from "cloudflare:test";
import { EPOCHS_OBJECT } from "../../durable-objects/ClickEpochs";
import { epochShardName } from "../../lib/clicks/epochs";
import { aggregatorName } from "../../lib/clicks/aggregators";
import { shardName } from "../../lib/clicks/hash";
import { clickSettings } from "../../lib/clicks/settings";
import { clickBufferNames } from "../../workers/lib/click-ingest";
import { api } from "./helpers";

export const SHARDS = clickSettings(env).shards;
export const AGGREGATORS = clickSettings(env).aggregators;

export const bufferStub = (name: string) => env.CLICK_BUFFER.get(env.CLICK_BUFFER.idFromName(name));
export const shardStub = (i: number) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(shardName(i)));
/** Buffers of the first 4 slots per group (the edge grows past CLICK_BUFFERS only above 400 store RPCs/s per buffer). */
export const allBuffers = () => clickBufferNames(env, 4).map(bufferStub);
export const allShards = () => Array.from({ length: SHARDS }, (_, i) => shardStub(i));
export const aggregatorStub = (i: number) => env.CLICK_AGGREGATOR.get(env.CLICK_AGGREGATOR.idFromName(aggregatorName(i)));
export const allAggregators = () => Array.from({ length: AGGREGATORS }, (_, i) => aggregatorStub(i));
export const epochsStub = () => env.CLICK_EPOCHS.get(env.CLICK_EPOCHS.idFromName(EPOCHS_OBJECT));

/** Every shard of every epoch the registry knows (epoch 1 = allShards() when nothing was proposed yet). */
export async function everyShard() {
  const list = await epochsStub().epochs();
  if (list.length === 0) return allShards();
  return list.flatMap((e) => Array.from({ length: e.shards }, (_, i) => env.CLICK_SHARD.get(env.CLICK_SHARD.idFromName(epochShardName(e.epoch, i)))));
}

/** True when nothing is waiting anywhere in the pipeline (buffers empty, shards handed off, aggregators flushed). */
export async function pipelineIdle(): Promise<boolean> {
  for (const b of allBuffers()) if ((await b.state()).pendingBatches > 0) return false;
  for (const s of await everyShard()) {
    const st = await s.state();
    if (st.openCells > 0 || st.openStats > 0 || st.frozenFlush !== null) return false;
  }
  for (const a of allAggregators()) {
    const st = await a.state();
    if (st.openCells > 0 || st.openStats > 0 || st.frozenFlush !== null) return false;
  }
  return true;
}

/** Runs the buffers', shards' and aggregators' alarms until everything acknowledged is in D1 (deterministic). */
export async function drainPipeline(maxRounds = 20): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    for (const b of allBuffers()) await runDurableObjectAlarm(b);
    for (const s of await everyShard()) await runDurableObjectAlarm(s);
    for (const a of allAggregators()) await runDurableObjectAlarm(a);
    if (await pipelineIdle()) return;
  }
  throw new Error("pipeline did not drain");
}

let seq = 0;
/** A unique campaign per test, so tests never see each other's counts. */
export function uniqueCampaign(prefix = "camp"): string {
  return `${prefix}-${Date.now().toString(36)}-${++seq}`;
}

export interface Ev {
  click_id: string;
  campaign_id: string;
  ad_id: string;
  ts: number | string;
  region?: string;
}

export function events(campaign: string, n: number, opts: { ts?: number; ad?: (i: number) => string; idPrefix?: string } = {}): Ev[] {
  const ts = opts.ts ?? Date.now();
  return Array.from({ length: n }, (_, i) => ({
    click_id: `${opts.idPrefix ?? campaign}-click-${i}`,
    campaign_id: campaign,
    ad_id: opts.ad ? opts.ad(i) : `ad-${i % 3}`,
    ts,
  }));
}

export async function postClicks(evs: unknown[], headers: Record<string, string> = {}, token: string | null = null) {
  return api("POST", "/v1/clicks", { token, body: { events: evs }, headers: { "x-region": "eu", ...headers } });
}

/** D1 totals for a campaign: {total, byCell: "window|ad|region" → clicks}. */
export async function countsFor(campaign: string): Promise<{ total: number; byCell: Record<string, number> }> {
  const rows = await env.DB.prepare("SELECT window_start, ad_id, region, clicks FROM click_counts WHERE campaign_id = ?")
    .bind(campaign)
    .all<{ window_start: number; ad_id: string; region: string; clicks: number }>();
  const byCell: Record<string, number> = {};
  let total = 0;
  for (const r of rows.results) {
    byCell[`${r.window_start}|${r.ad_id}|${r.region}`] = r.clicks;
    total += r.clicks;
  }
  return { total, byCell };
}

/** A row of D1's click_counts, for tests that seed the metrics API directly. */
export interface Cell {
  w: number;
  c: string;
  a: string;
  r: string;
  n: number;
}

export async function insertCells(cells: Cell[]): Promise<void> {
  if (cells.length === 0) return;
  const stmt = env.DB.prepare("INSERT INTO click_counts (window_start, campaign_id, ad_id, region, clicks) VALUES (?, ?, ?, ?, ?)");
  await env.DB.batch(cells.map((c) => stmt.bind(c.w, c.c, c.a, c.r, c.n)));
}
