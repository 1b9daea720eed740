import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exhaustClickBudget, TEST_WEIGHT, TOKEN_REQUESTS } from "./click-rate-limit";
import { http, startDevServer, type DevServer } from "./server";

/** The per-client budgets of the Workers Rate Limiting bindings (wrangler.toml [[ratelimits]]). */
let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ CLICK_RATE_LIMIT_WEIGHT: String(TEST_WEIGHT) });
});
afterAll(async () => {
  await server?.dispose();
});

const post = (ip: string | null, token: string | null = null) =>
  http(server.url, "POST", "/v1/clicks", { token, body: { events: [] }, headers: ip ? { "cf-connecting-ip": ip } : {} });

describe("click rate limits (Workers Rate Limiting binding)", () => {
  it("one budget per client for POST /v1/clicks and GET /c/:token; 429 with Retry-After; others pass", async () => {
    const link = await http(server.url, "POST", "/admin/v1/click-links", { body: { campaign_id: "rl", ad_id: "x", url: "https://shop.example/x" } });
    expect(link.status).toBe(201);
    for (let attempt = 0; attempt < 3; attempt++) {
      const ip = `203.0.113.${30 + attempt}`;
      expect(await exhaustClickBudget(server.url, ip)).toBe(true);
      const limited = await post(ip);
      const follow = await fetch(link.body.url, { redirect: "manual", headers: { "cf-connecting-ip": ip } });
      const followBody = (await follow.json().catch(() => null)) as { error?: { code?: string } } | null;
      if (limited.status !== 429 || follow.status !== 429) continue; // a new window began in between: again
      expect(limited.body.error.code).toBe("rate_limited");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get("access-control-allow-origin")).toBe("*");
      // the link shares the budget: refused, and never redirected
      expect(follow.headers.get("location")).toBeNull();
      expect(followBody?.error?.code).toBe("rate_limited");
      expect((await post("198.51.100.7")).status).toBe(200);
      expect((await post(null)).status).toBe(200); // no client address (local callers): not limited
      return;
    }
    throw new Error("could not observe the limit within one window three times");
  });

  it("bad bearer tokens are throttled before they are checked", async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const ip = `203.0.113.${60 + attempt}`;
      let n = 0;
      // every request carries another bad token: 401 until the token budget is spent
      const sent = await exhaustClickBudget(server.url, ip, () => ({ authorization: `Bearer bad-${attempt}-${n++}` }), TOKEN_REQUESTS);
      expect(sent).toBe(true);
      const again = await post(ip, `another-bad-token-${attempt}`);
      if (again.status !== 429) continue; // a new window began: again
      expect(again.body.error.code).toBe("rate_limited");
      // a valid token from that address is limited too (one token budget per client address)…
      expect((await post(ip, "e2e-admin-token")).status).toBe(429);
      // …while a bad token from elsewhere is still answered (401), and anonymous beacons have their own budget
      expect((await post("198.51.100.9", "bad")).status).toBe(401);
      expect((await post(ip)).status).toBe(200);
      return;
    }
    throw new Error("could not observe the limit within one window three times");
  });
});
