import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";
import { MINUTE, launchBrowser, minuteOf, poll, refreshes, sendClicks, shownTotal, signIn, sumClicks, viewerToken, type ClickSpec } from "./dashboard-browser";

/**
 * A realistic hour of traffic and a rollout in flight, all through the public APIs, then the
 * dashboard at wall-screen (1920×1080) and laptop (1366×768) size. The screenshots go to
 * test-results/dashboard/; with DASHBOARD_SCREENSHOTS=1 they replace the README's docs/img/ ones.
 */

const OUT = process.env.DASHBOARD_SCREENSHOTS === "1" ? "docs/img" : "test-results/dashboard";

let server: DevServer;
let browser: Browser;

/** Deterministic pseudo-random numbers, so the pictures are stable between runs. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const CAMPAIGNS: Record<string, { weight: number; ads: string[] }> = {
  "spring-sale": { weight: 0.34, ads: ["hero-banner", "sidebar-300x250", "video-preroll"] },
  "black-friday": { weight: 0.22, ads: ["countdown", "doorbuster-grid"] },
  "brand-awareness": { weight: 0.18, ads: ["native-feed", "homepage-takeover"] },
  "retargeting-q4": { weight: 0.14, ads: ["cart-reminder", "dynamic-product"] },
  "app-install": { weight: 0.12, ads: ["store-badge"] },
};
const REGIONS: Record<string, number> = { na: 0.34, eu: 0.3, as: 0.2, sa: 0.07, oc: 0.06, af: 0.03 };

function hourOfClicks(now: number): ClickSpec[] {
  const rand = rng(42);
  const out: ClickSpec[] = [];
  const current = minuteOf(now);
  for (let m = 59; m >= 0; m--) {
    const minute = current - m * MINUTE;
    const i = 59 - m;
    const perMinute = Math.round(90 + 55 * Math.sin(i / 8) + i * 1.2);
    // The open minute only up to now.
    const n = minute === current ? Math.round((perMinute * (now - current)) / MINUTE) : perMinute;
    for (let k = 0; k < n; k++) {
      const campaign = pick(rand, Object.fromEntries(Object.entries(CAMPAIGNS).map(([c, v]) => [c, v.weight])));
      const ads = CAMPAIGNS[campaign].ads;
      out.push({
        campaign_id: campaign,
        ad_id: ads[Math.floor(rand() * ads.length)],
        region: pick(rand, REGIONS),
        ts: Math.min(now - 1000, minute + Math.floor(rand() * MINUTE)),
      });
    }
  }
  return out;
}

function pick(rand: () => number, weights: Record<string, number>): string {
  let r = rand() * Object.values(weights).reduce((a, b) => a + b, 0);
  for (const [k, w] of Object.entries(weights)) {
    r -= w;
    if (r <= 0) return k;
  }
  return Object.keys(weights)[0];
}

async function ok(method: string, path: string, body?: unknown) {
  const r = await http(server.url, method, path, { body });
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function seedConfig() {
  const namespaces = [
    { name: "checkout", description: "Checkout flow: payment providers, retry limits" },
    { name: "search-ranking", description: "Ranking weights and experiments" },
    { name: "mobile-app", description: "Mobile app feature flags" },
  ];
  for (const ns of namespaces) {
    await ok("PUT", `/admin/v1/namespaces/${ns.name}`, { schema: { type: "object" }, description: ns.description });
    await ok("POST", `/admin/v1/namespaces/${ns.name}/versions`, { values: { release: 1 }, message: "initial" });
    await ok("POST", `/admin/v1/namespaces/${ns.name}/rollouts`, { version: 1, plan: "immediate" });
    await ok("POST", `/admin/v1/namespaces/${ns.name}/versions`, { values: { release: 2 }, message: "tune" });
  }
  const checkout = await ok("POST", "/admin/v1/namespaces/checkout/rollouts", {
    version: 2,
    plan: {
      stages: [
        { regions: ["eu"], percent: 10, bake_seconds: 60 },
        { regions: ["eu"], percent: 100, bake_seconds: 900 },
        { regions: ["na", "sa"], percent: 50, bake_seconds: 900 },
        { regions: "*", percent: 100, bake_seconds: 0 },
      ],
      auto_rollback: { max_error_rate: 0.05, min_samples: 100 },
    },
  });
  await ok("POST", `/admin/v1/namespaces/checkout/rollouts/${checkout.rollout_id}/promote`);
  await ok("POST", "/admin/v1/namespaces/mobile-app/rollouts", { version: 2, plan: { preset: "canary", bake_seconds: 1200 } });
  const rand = rng(7);
  for (const [ns, region, n, errorRate] of [
    ["checkout", "eu", 240, 0.012],
    ["mobile-app", "na", 40, 0.05],
  ] as const) {
    const reports = Array.from({ length: n }, (_, i) => ({ client_id: `${ns}-${region}-${i}`, version: 2, status: rand() < errorRate ? "error" : "ok" }));
    const r = await http(server.url, "POST", `/v1/configs/${ns}/reports`, { body: { reports }, headers: { "x-region": region } });
    expect(r.status).toBe(202);
  }
}

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "500" }, { browser: true });
  browser = await launchBrowser();
  mkdirSync(OUT, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

describe("dashboard screenshots", () => {
  it("renders an hour of traffic and rollouts in flight at wall-screen and laptop size", async () => {
    const now = Date.now();
    const traffic = hourOfClicks(now);
    const sent = await sendClicks(server.url, traffic);
    expect(sent.rejected).toEqual([]);
    // Some retries (duplicates) and bad events, as real beacons produce.
    const retry = await http(server.url, "POST", "/v1/clicks", {
      token: null,
      headers: { "x-region": "eu" },
      body: { events: [{ click_id: "retry-000001", campaign_id: "spring-sale", ad_id: "hero-banner", ts: now - 5000 }, { click_id: "retry-000001", campaign_id: "spring-sale", ad_id: "hero-banner", ts: now - 5000 }, { click_id: "bad", campaign_id: "x", ad_id: "y", ts: now }, { click_id: "stale-000001", campaign_id: "x", ad_id: "y", ts: now - 3 * 86_400_000 }] },
    });
    expect(retry.status).toBe(200);
    await seedConfig();

    const token = await viewerToken(server.url, "lobby wall screen");
    const context = await browser.newContext({ viewport: { width: 1920, height: 1080 }, timezoneId: "UTC" });
    const page = await context.newPage();
    await page.goto(`${server.url}/dashboard`);
    await signIn(page, token);
    // The page's window is the last 60 minutes by its own clock: once a minute boundary passes, the
    // oldest minute of traffic leaves it. So the truth is what was sent inside the window it shows.
    const retried = now - 5000; // the retried click, counted once
    const sentIn = (w: { from: string; to: string }) => {
      const [from, to] = [Date.parse(w.from), Date.parse(w.to)];
      return [...traffic.map((c) => c.ts), retried].filter((ts) => ts >= from && ts < to).length;
    };
    await poll(
      async () => {
        const shown = await shownTotal(page);
        return shown && { total: shown.total, sent: sentIn(shown.window) };
      },
      { timeout: 60_000 },
    ).toSatisfy((s) => s !== null && s.total === s.sent);
    const shown = (await shownTotal(page))!;
    expect(sentIn(shown.window)).toBeGreaterThan(traffic.length * 0.95); // at most a minute or two slid out
    const api = await http(server.url, "GET", `/api/v1/clicks/metrics?from=${shown.window.from}&to=${shown.window.to}`, { token });
    expect(sumClicks(api.body)).toBe(sentIn(shown.window));

    // Late clicks into a closed minute: the chart marks it as revised.
    const seen = await refreshes(page);
    await poll(() => refreshes(page)).toBeGreaterThan(seen);
    await sendClicks(server.url, Array.from({ length: 40 }, () => ({ campaign_id: "spring-sale", ad_id: "video-preroll", region: "eu", ts: minuteOf(now) - 25 * MINUTE + 10_000 })));
    await poll(() => page.locator("[data-testid=revision-row]").count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await poll(() => page.locator("[data-testid=rollout]").count()).toBe(2);
    await poll(() => page.locator("[data-testid=audit-row]").count()).toBeGreaterThan(5);

    // No failing panel, no banner.
    expect(await page.locator(".panel.failed").count()).toBe(0);
    expect(await page.isVisible("[data-testid=error-banner]")).toBe(false);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(OUT, "dashboard-wall.png") });

    await page.setViewportSize({ width: 1366, height: 768 });
    await poll(() => refreshes(page)).toBeGreaterThan(await refreshes(page));
    await page.screenshot({ path: join(OUT, "dashboard-laptop.png") });

    const prompt = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await prompt.goto(`${server.url}/dashboard`);
    await prompt.fill("[data-testid=token-input]", "not-a-real-token");
    await prompt.click("[data-testid=token-submit]");
    await poll(() => prompt.isVisible("[data-testid=auth-error]")).toBe(true);
    await prompt.screenshot({ path: join(OUT, "dashboard-token.png") });
    await prompt.close();
    await context.close();
  });
});
