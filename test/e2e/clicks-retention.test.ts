import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";
import { waitForQuietPipeline } from "./click-cells";

/**
 * The retention job as deployed: clicks 40 days old (accepted because this server allows 60 days of
 * lateness) go through the real pipeline into D1's minute cells; the Cron Trigger (`[triggers]` in
 * wrangler.toml, run through wrangler dev's /__scheduled) rolls them into a day; the metrics API then
 * answers that day whole, with every click, and the recent minutes as before.
 */

const DAY = 86_400_000;
const MINUTE = 60_000;
let server: DevServer;

beforeAll(async () => {
  // aggregators write D1 every 2 s (not every minute) so that the roll-up below finds the minutes there soon
  server = await startDevServer({ ALLOWED_LATENESS_SECONDS: String(60 * 86_400), D1_FLUSH_INTERVAL_MS: "2000" }, { testScheduled: true });
});
afterAll(async () => {
  await server?.dispose();
});

async function series(campaign: string, granularity: string, from: number, to: number) {
  const q = new URLSearchParams({ granularity, campaign_id: campaign, from: String(from), to: String(to) });
  const r = await http(server.url, "GET", `/api/v1/clicks/metrics?${q}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as { from: string; to: string; daily_before: string | null; series: { window_start: string; clicks: number }[] };
}

const total = (s: { clicks: number }[]) => s.reduce((a, x) => a + x.clicks, 0);

describe("click retention under wrangler dev (Cron Trigger)", () => {
  it("rolls 40-day-old minutes into a day and the metrics still count every click once", async () => {
    const now = Date.now();
    const today = now - (now % DAY);
    const old = today - 40 * DAY;
    const campaign = `retention-${now.toString(36)}`;
    const oldEvents = Array.from({ length: 120 }, (_, i) => ({ click_id: `${campaign}-old-${i}`, campaign_id: campaign, ad_id: `ad-${i % 3}`, ts: old + (i % 24) * 3_600_000 + (i % 7) * MINUTE }));
    const newEvents = Array.from({ length: 30 }, (_, i) => ({ click_id: `${campaign}-new-${i}`, campaign_id: campaign, ad_id: `ad-${i % 3}`, ts: now - 30 * MINUTE }));
    const sent = await http(server.url, "POST", "/v1/clicks", { token: null, body: { events: [...oldEvents, ...newEvents] }, headers: { "x-region": "eu" } });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.accepted).toBe(150);

    // The metrics count every click (D1 and what the aggregators still hold); then wait until all of it is in D1.
    const range = [old, now + MINUTE] as const;
    for (let i = 0; i < 300 && total((await series(campaign, "day", ...range)).series) < 150; i++) await new Promise((r) => setTimeout(r, 200));
    const before = await series(campaign, "day", ...range);
    expect(total(before.series)).toBe(150);
    await waitForQuietPipeline(server.url);
    expect(total((await series(campaign, "day", ...range)).series)).toBe(150);
    // Minute resolution inside the old day before the roll-up.
    expect((await series(campaign, "minute", old, old + 3_600_000)).series.length).toBeGreaterThan(1);

    const cron = await fetch(`${server.url}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    expect(cron.status).toBe(200);
    await cron.text();

    const after = await series(campaign, "hour", ...range);
    expect(after.daily_before).not.toBeNull();
    expect(Date.parse(after.daily_before!)).toBeGreaterThan(old);
    expect(after.series[0]).toEqual({ window_start: new Date(old).toISOString(), clicks: 120 });
    expect(total(after.series)).toBe(150);
    // The old day now answers only as a whole day, whatever the granularity asked.
    const inside = await series(campaign, "minute", old + 3_600_000, old + 2 * 3_600_000);
    expect(inside.from).toBe(new Date(old).toISOString());
    expect(inside.series).toEqual([{ window_start: new Date(old).toISOString(), clicks: 120 }]);
  });
});
