import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exhaustClickBudget, TEST_WEIGHT } from "./click-rate-limit";
import { http, startDevServer, type DevServer } from "./server";

/** Signed click-through links end to end: mint, follow (twice), exactly one click in the metrics API. */

const FLUSH_MS = 500;
let server: DevServer;
let publisher: string;
let viewer: string;

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: String(FLUSH_MS), CLICK_RATE_LIMIT_WEIGHT: String(TEST_WEIGHT) });
  const p = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "ads", role: "publisher", namespaces: ["*"] } });
  const v = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "wall", role: "viewer", namespaces: ["*"] } });
  publisher = p.body.token;
  viewer = v.body.token;
});

afterAll(async () => {
  await server?.dispose();
});

/** GET without following the redirect, like a browser's first hop. */
async function follow(url: string, region: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { redirect: "manual", headers: { "x-region": region, ...headers } });
  const text = await res.text();
  return { status: res.status, location: res.headers.get("location"), cache: res.headers.get("cache-control"), body: text ? JSON.parse(text) : null };
}

async function mint(body: Record<string, unknown>) {
  const r = await http(server.url, "POST", "/admin/v1/click-links", { token: publisher, body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as { url: string; click_id: string; expires_at: string };
}

async function clicksOf(campaign: string) {
  const now = Date.now();
  const r = await http(server.url, "GET", `/api/v1/clicks/metrics?from=${now - 3_600_000}&to=${now + 120_000}&granularity=hour&group_by=ad,region&campaign_id=${encodeURIComponent(campaign)}`, {
    token: viewer,
  });
  expect(r.status).toBe(200);
  return r.body.series.map((x: { ad_id: string; region: string; clicks: number }) => ({ ad_id: x.ad_id, region: x.region, clicks: x.clicks }));
}

async function duplicates(): Promise<number> {
  const now = Date.now();
  const r = await http(server.url, "GET", `/api/v1/clicks/ingest-stats?from=${now - 3_600_000}&to=${now + 120_000}&granularity=hour`, { token: viewer });
  return r.body.totals.duplicates;
}

async function eventually(check: () => Promise<void>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe("click links end to end", () => {
  it("a link followed twice redirects twice and counts exactly once", async () => {
    const landing = "https://shop.example/spring?utm_campaign=spring&ref=edge";
    const link = await mint({ campaign_id: "spring-links", ad_id: "hero", url: landing, ttl_seconds: 3600 });
    expect(link.url.startsWith(`${server.url}/c/`)).toBe(true);
    const dupBefore = await duplicates();

    const first = await follow(link.url, "eu");
    const second = await follow(link.url, "eu");
    for (const r of [first, second]) {
      expect(r.status).toBe(302);
      expect(r.location).toBe(landing);
      expect(r.cache).toBe("no-store");
    }
    await eventually(async () => {
      expect(await duplicates()).toBeGreaterThanOrEqual(dupBefore + 1);
      expect(await clicksOf("spring-links")).toEqual([{ ad_id: "hero", region: "eu", clicks: 1 }]);
    });
    // Several flush intervals later it is still exactly one.
    await new Promise((r) => setTimeout(r, 4 * FLUSH_MS));
    expect(await clicksOf("spring-links")).toEqual([{ ad_id: "hero", region: "eu", clicks: 1 }]);
  });

  it("separate impressions of one ad are separate clicks; tampered and expired links count nothing", async () => {
    const a = await mint({ campaign_id: "multi-links", ad_id: "side", url: "https://shop.example/a", ttl_seconds: 3600 });
    const b = await mint({ campaign_id: "multi-links", ad_id: "side", url: "https://shop.example/a", ttl_seconds: 3600 });
    const short = await mint({ campaign_id: "multi-links", ad_id: "gone", url: "https://shop.example/gone", ttl_seconds: 1 });
    expect(a.click_id).not.toBe(b.click_id);

    // Never followed genuinely: any click of ad "forged" would come from the tampered link.
    const victim = await mint({ campaign_id: "multi-links", ad_id: "forged", url: "https://shop.example/f", ttl_seconds: 3600 });
    const dot = victim.url.lastIndexOf(".");
    const [prefix, mac] = [victim.url.slice(0, dot), victim.url.slice(dot + 1)];
    const tampered = `${prefix}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`;
    const bad = await follow(tampered, "na");
    expect(bad.status).toBe(400);
    expect(bad.location).toBeNull();
    expect(bad.body.error.code).toBe("invalid_link");

    // Wait past the one-second expiry (a wait, not a timed assertion).
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await follow(short.url, "na");
    expect(expired.status).toBe(400);
    expect(expired.location).toBeNull();
    expect(expired.body.error.code).toBe("link_expired");

    expect((await follow(a.url, "na")).status).toBe(302);
    expect((await follow(b.url, "as")).status).toBe(302);
    await eventually(async () => {
      expect(await clicksOf("multi-links")).toEqual([
        { ad_id: "side", region: "as", clicks: 1 },
        { ad_id: "side", region: "na", clicks: 1 },
      ]);
    });
  });

  it("following links is rate-limited per client IP", async () => {
    const link = await mint({ campaign_id: "limited-links", ad_id: "x", url: "https://shop.example/x", ttl_seconds: 3600 });
    // the client's budget (shared with POST /v1/clicks, loopback clients are never limited) is spent
    expect(await exhaustClickBudget(server.url, "203.0.113.7")).toBe(true);
    const limited = await follow(link.url, "eu", { "cf-connecting-ip": "203.0.113.7" });
    // (Unless this very request opened a new minute.)
    if (limited.status === 429) {
      expect(limited.location).toBeNull();
      expect(limited.body.error.code).toBe("rate_limited");
    }
    // Other clients are unaffected, and the link still counts once.
    expect((await follow(link.url, "eu", { "cf-connecting-ip": "198.51.100.4" })).status).toBe(302);
    await eventually(async () => {
      expect(await clicksOf("limited-links")).toEqual([{ ad_id: "x", region: "eu", clicks: 1 }]);
    });
  });
});
