import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ CLICK_RATE_LIMIT_PER_MINUTE: "5" });
});
afterAll(async () => {
  await server?.dispose();
});

describe("POST /v1/clicks per-IP rate limit (CLICK_RATE_LIMIT_PER_MINUTE=5)", () => {
  it("answers 429 rate_limited with Retry-After past the limit; other IPs, tokens and loopback pass", async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const minute = Math.floor(Date.now() / 60_000);
      const ip = `203.0.113.${20 + attempt}`;
      const send = (headers: Record<string, string> = { "cf-connecting-ip": ip }, token: string | null = null) =>
        http(server.url, "POST", "/v1/clicks", { token, body: { events: [] }, headers });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await send()).status);
      const limited = await send();
      if (Math.floor(Date.now() / 60_000) !== minute) continue; // window rolled over mid-test: again
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe("rate_limited");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get("access-control-allow-origin")).toBe("*");
      expect((await send({ "cf-connecting-ip": "198.51.100.7" })).status).toBe(200);
      expect((await send({ "cf-connecting-ip": ip }, "e2e-admin-token")).status).toBe(200);
      expect((await send({})).status).toBe(200); // no client address (local callers): not limited
      return;
    }
    throw new Error("could not finish within one rate-limit window twice");
  });
});
