import { randomUUID } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";
import { MINUTE, kpi, launchBrowser, minuteOf, pageWindow, poll, refreshes, rows, sendClicks, signIn, sumClicks, viewerToken, type ClickSpec } from "./dashboard-browser";

/**
 * The clicks side of the dashboard against the real pipeline: what the page shows must equal both the
 * ground truth this test sent and what the metrics API answers for the page's own query window.
 */

let server: DevServer;
let browser: Browser;
let page: Page;
let token: string;
let navigations = 0;
/** The closed minute the late-correction test sends its clicks into. */
let lateMinute = 0;
const pageErrors: string[] = [];

/** Clicks sent so far per campaign / region / (campaign, ad), counted here independently. */
const truth = { total: 0, campaign: new Map<string, number>(), region: new Map<string, number>(), ad: new Map<string, number>() };
const bump = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

function clicks(n: number, campaign_id: string, ad_id: string, region: string, ts: number): ClickSpec[] {
  return Array.from({ length: n }, () => ({ campaign_id, ad_id, region, ts, click_id: `clk-${randomUUID()}` }));
}

async function sendCounted(list: ClickSpec[]) {
  const r = await sendClicks(server.url, list);
  expect(r.rejected).toEqual([]);
  for (const c of list) {
    truth.total += 1;
    bump(truth.campaign, c.campaign_id);
    bump(truth.region, c.region);
    bump(truth.ad, `${c.campaign_id}/${c.ad_id}`);
  }
}

async function api(path: string, query: Record<string, string>) {
  const r = await http(server.url, "GET", `${path}?${new URLSearchParams(query)}`, { token });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** Waits until the metrics API counts `expected` clicks over the last day (the flush has happened). */
async function apiSettles(expected: number) {
  const to = new Date(minuteOf(Date.now()) + MINUTE).toISOString();
  const from = new Date(minuteOf(Date.now()) - 23 * 60 * MINUTE).toISOString();
  await poll(async () => sumClicks(await api("/api/v1/clicks/metrics", { from, to, granularity: "hour" })), { timeout: 30_000 }).toBe(expected);
}

const toObject = (m: Map<string, number>) => Object.fromEntries([...m].sort());

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "500" }, { browser: true });
  browser = await launchBrowser();
  token = await viewerToken(server.url);
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, timezoneId: "UTC" });
  page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) navigations += 1;
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

describe("clicks side", () => {
  it("shows 'no data yet' before any click", async () => {
    await page.goto(`${server.url}/dashboard`);
    await signIn(page, token);
    await poll(() => refreshes(page)).toBeGreaterThan(0);
    await poll(() => page.isVisible("[data-testid=clicks-empty]")).toBe(true);
    expect(await kpi(page, "total")).toBe(0);
    expect(await page.textContent("[data-testid=top-ads]")).toMatch(/no ads yet/i);
  });

  it("shows totals, breakdowns, top ads and ingest health that match the API and the ground truth", async () => {
    const t = minuteOf(Date.now()) - 2 * MINUTE + 5_000;
    await sendCounted([
      ...clicks(7, "alpha", "a1", "eu", t),
      ...clicks(5, "alpha", "a2", "na", t),
      ...clicks(3, "beta", "b1", "eu", t - MINUTE),
      ...clicks(4, "beta", "b1", "as", t - MINUTE),
    ]);
    // Bad input next to good: 2 replays (duplicates), 2 invalid, 1 too late, 1 from the future.
    const replay = [{ click_id: "dup-click-0001", campaign_id: "beta", ad_id: "b1", ts: t }];
    await sendCounted(replay.map((e) => ({ ...e, region: "eu" })));
    const again = await http(server.url, "POST", "/v1/clicks", { token: null, headers: { "x-region": "eu" }, body: { events: [...replay, ...replay] } });
    expect(again.status).toBe(200);
    const bad = await http(server.url, "POST", "/v1/clicks", {
      token: null,
      headers: { "x-region": "eu" },
      body: {
        events: [
          { click_id: "x", campaign_id: "alpha", ad_id: "a1", ts: t },
          { click_id: "valid-id-but-no-ts", campaign_id: "alpha", ad_id: "a1" },
          { click_id: "too-late-0001", campaign_id: "alpha", ad_id: "a1", ts: Date.now() - 2 * 86_400_000 },
          { click_id: "future-00001", campaign_id: "alpha", ad_id: "a1", ts: Date.now() + 3_600_000 },
        ],
      },
    });
    expect(bad.status).toBe(200);
    expect(bad.body.rejected.map((r: { code: string }) => r.code).sort()).toEqual(["future", "invalid", "invalid", "too_late"]);
    await apiSettles(truth.total);

    // The page's own window, and the API's answer for exactly that window.
    await poll(() => kpi(page, "total")).toBe(truth.total);
    const w = await pageWindow(page);
    expect(Date.parse(w.to) - Date.parse(w.from)).toBe(60 * MINUTE);
    const metrics = await api("/api/v1/clicks/metrics", { from: w.from, to: w.to, granularity: "minute" });
    expect(sumClicks(metrics)).toBe(truth.total);
    expect(await page.isVisible("[data-testid=clicks-empty]")).toBe(false);
    expect(Number(await page.getAttribute("#chart-total", "data-sum"))).toBe(truth.total);

    // Per campaign and per region: the page, the ground truth and the API agree.
    const byCampaign = await api("/api/v1/clicks/metrics", { from: w.from, to: w.to, granularity: "minute", group_by: "campaign" });
    const apiCampaigns = new Map<string, number>();
    for (const r of byCampaign.series) bump(apiCampaigns, r.campaign_id, r.clicks);
    expect(toObject(apiCampaigns)).toEqual(toObject(truth.campaign));
    await poll(async () => Object.fromEntries((await rows(page, "campaign-row", ["campaign", "clicks"])).map((r) => [r.campaign, Number(r.clicks)]))).toEqual(toObject(truth.campaign));
    await poll(async () => Object.fromEntries((await rows(page, "region-row", ["region", "clicks"])).map((r) => [r.region, Number(r.clicks)]))).toEqual(toObject(truth.region));

    // Top ads: the API's order and numbers.
    const top = await api("/api/v1/clicks/top", { by: "ad", from: w.from, to: w.to, limit: "10" });
    const expectedTop = (top.items as { campaign_id: string; ad_id: string; clicks: number }[]).map((i) => ({ campaign: i.campaign_id, ad: i.ad_id, clicks: String(i.clicks) }));
    expect(Object.fromEntries(expectedTop.map((i) => [`${i.campaign}/${i.ad}`, Number(i.clicks)]))).toEqual(toObject(truth.ad));
    await poll(() => rows(page, "top-ad-row", ["campaign", "ad", "clicks"])).toEqual(expectedTop);

    // Ingest health: the page shows the API's totals for the window, which match what was sent.
    await poll(async () => (await api("/api/v1/clicks/ingest-stats", { from: w.from, to: w.to })).totals, { timeout: 30_000 }).toMatchObject({
      duplicates: 2,
      too_late: 1,
      future: 1,
      invalid: 2,
    });
    const stats = (await api("/api/v1/clicks/ingest-stats", { from: w.from, to: w.to })).totals;
    await poll(async () => ({ duplicates: await kpi(page, "duplicates"), late: await kpi(page, "late"), rejected: await kpi(page, "rejected"), accepted: await kpi(page, "accepted") })).toEqual({
      duplicates: stats.duplicates,
      late: stats.too_late,
      rejected: stats.future + stats.invalid,
      accepted: stats.accepted,
    });
    expect(await kpi(page, "eps")).toBeGreaterThan(0);
  });

  it("updates the numbers and the chart live, without reloading the page", async () => {
    const before = navigations;
    const total = truth.total;
    await sendCounted(clicks(6, "gamma", "g1", "sa", Date.now() - 30_000));
    await apiSettles(total + 6);
    await poll(() => kpi(page, "total")).toBe(total + 6);
    await poll(async () => Number(await page.getAttribute("#chart-total", "data-sum"))).toBe(total + 6);
    await poll(async () => (await rows(page, "region-row", ["region", "clicks"])).find((r) => r.region === "sa")?.clicks).toBe("6");
    expect(navigations).toBe(before);
  });

  it("marks an older minute whose count changed (late clicks) as revised", async () => {
    const late = (lateMinute = minuteOf(Date.now()) - 10 * MINUTE);
    await sendCounted(clicks(4, "late-camp", "l1", "oc", late + 1_000));
    await apiSettles(truth.total);
    const windowIso = new Date(late).toISOString();
    const revisionsOf = async () => (await rows(page, "revision-row", ["window", "before", "after"])).filter((r) => r.window === windowIso);
    // Newest first; a refresh may catch a flush half done, so a change can show as a chain (0→2, 2→4).
    const chain = async () => {
      const list = await revisionsOf();
      return list.length ? { from: list[list.length - 1].before, to: list[0].after, befores: list.map((r) => r.before) } : null;
    };
    // The page sees the closed minute go from 0 to 4 (late clicks into a minute it had already shown)...
    await poll(chain).toMatchObject({ from: "0", to: "4" });
    // ...then 3 more late clicks land in that minute: revised again, from 4 to 7.
    await sendCounted(clicks(3, "late-camp", "l1", "oc", late + 2_000));
    await apiSettles(truth.total);
    await poll(async () => (await chain())?.to).toBe("7");
    expect((await chain())?.befores).toContain("4");
    expect(Number(await page.textContent("[data-testid=revision-count]"))).toBeGreaterThan(0);
  });

  it("the range picker changes the query window and the numbers follow the API", async () => {
    await page.click("[data-testid=range-picker] button[data-range='15m']");
    await poll(async () => {
      const w = await pageWindow(page);
      return Date.parse(w.to) - Date.parse(w.from);
    }).toBe(15 * MINUTE);
    const w15 = await pageWindow(page);
    const expected15 = sumClicks(await api("/api/v1/clicks/metrics", { from: w15.from, to: w15.to }));
    await poll(() => kpi(page, "total")).toBe(expected15);

    // Custom: exactly the minute of the late clicks (the browser runs in UTC here).
    const late = lateMinute;
    const local = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    await page.click("[data-testid=range-picker] button[data-range='custom']");
    await page.fill("#custom-from", local(late));
    await page.fill("#custom-to", local(late + MINUTE));
    await page.click("#custom-range button[type=submit]");
    await poll(() => pageWindow(page)).toEqual({ from: new Date(late).toISOString(), to: new Date(late + MINUTE).toISOString() });
    await poll(() => kpi(page, "total")).toBe(7);
    expect(await kpi(page, "total")).toBe(sumClicks(await api("/api/v1/clicks/metrics", { from: new Date(late).toISOString(), to: new Date(late + MINUTE).toISOString() })));

    // 6 h and 24 h (hourly breakdowns): every panel still answers, and the total is the API's.
    for (const [preset, span] of [["6h", 6 * 60 * MINUTE], ["24h", 24 * 60 * MINUTE]] as const) {
      await page.click(`[data-testid=range-picker] button[data-range='${preset}']`);
      await poll(async () => {
        const w = await pageWindow(page);
        return Date.parse(w.to) - Date.parse(w.from);
      }).toBe(span);
      const w = await pageWindow(page);
      await poll(() => kpi(page, "total")).toBe(sumClicks(await api("/api/v1/clicks/metrics", { from: w.from, to: w.to })));
      expect(await kpi(page, "total")).toBe(truth.total);
      await poll(async () => Object.fromEntries((await rows(page, "region-row", ["region", "clicks"])).map((r) => [r.region, Number(r.clicks)]))).toEqual(toObject(truth.region));
      expect(await page.locator(".panel.failed").count()).toBe(0);
    }

    await page.click("[data-testid=range-picker] button[data-range='1h']");
    await poll(() => kpi(page, "total")).toBe(truth.total);
    expect(await page.locator(".panel.failed").count()).toBe(0);
  });

  it("shows campaign ids as text, never as markup", async () => {
    const evil = "<img src=x onerror=alert(1)>";
    const r = await sendClicks(server.url, clicks(2, evil, "x-ad", "eu", Date.now() - 20_000));
    expect(r.rejected).toEqual([]);
    truth.total += 2;
    bump(truth.campaign, evil, 2);
    await apiSettles(truth.total);
    await poll(async () => (await rows(page, "campaign-row", ["campaign"])).map((x) => x.campaign)).toContain(evil);
    expect(await page.locator("main img").count()).toBe(0);
    expect(await page.locator("[data-testid=top-ads]").textContent()).toContain("x-ad");
    expect(pageErrors).toEqual([]);
  });

  it("lists the top 8 campaigns (as the top API ranks them) and sums the rest as 'other'", async () => {
    const extra = Array.from({ length: 6 }, (_, i) => clicks(1, `small-${i}`, "s1", "af", Date.now() - 20_000)).flat();
    await sendCounted(extra);
    await apiSettles(truth.total);
    await poll(() => kpi(page, "total")).toBe(truth.total);
    const w = await pageWindow(page);
    const top = await api("/api/v1/clicks/top", { by: "campaign", from: w.from, to: w.to, limit: "8" });
    const expected = (top.items as { campaign_id: string; clicks: number }[]).map((i) => ({ campaign: i.campaign_id, clicks: String(i.clicks) }));
    expect(expected).toHaveLength(8);
    await poll(() => rows(page, "campaign-row", ["campaign", "clicks"])).toEqual(expected);
    const shown = expected.reduce((a, r) => a + Number(r.clicks), 0);
    await poll(async () => (await rows(page, "campaign-other", ["clicks"])).map((r) => Number(r.clicks))).toEqual([truth.total - shown]);
  });
});
