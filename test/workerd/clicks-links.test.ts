import { SELF, env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { base64urlEncode, signLink } from "../../lib/clicks/link-token";

/** Signed click links: minting (publisher), following (public), and that a followed link counts once. */

let publisher: string;
let viewer: string;

beforeAll(async () => {
  publisher = await tokenFor("publisher", ["checkout"]);
  viewer = await tokenFor("viewer");
});

async function createLink(body: Record<string, unknown>, token = publisher) {
  return api("POST", "/admin/v1/click-links", { token, body });
}

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** Follows a link without following the redirect (helpers' api() would chase the Location). */
async function follow(path: string, headers: Record<string, string> = {}, method = "GET") {
  const res = await SELF.fetch("http://edgeplane.test" + path, { method, headers, redirect: "manual" });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** Retries `check` until it passes (the pipeline flushes on an alarm); rethrows its last failure. */
async function eventually(check: () => Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function clicksOf(campaign: string): Promise<{ region: string; ad_id: string; clicks: number }[]> {
  const now = Date.now();
  const r = await api("GET", `/api/v1/clicks/metrics?from=${now - 3_600_000}&to=${now + 120_000}&granularity=day&group_by=ad,region&campaign_id=${encodeURIComponent(campaign)}`, {
    token: viewer,
  });
  expect(r.status).toBe(200);
  return r.body.series;
}

async function duplicatesSoFar(): Promise<number> {
  const now = Date.now();
  const r = await api("GET", `/api/v1/clicks/ingest-stats?from=${now - 3_600_000}&to=${now + 120_000}&granularity=day`, { token: viewer });
  return r.body.totals.duplicates;
}

describe("POST /admin/v1/click-links", () => {
  it("mints a signed link for a publisher", async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await createLink({ campaign_id: "spring", ad_id: "banner-1", url: "https://shop.example/landing?utm=x", ttl_seconds: 3600 });
    expect(r.status).toBe(201);
    expect(r.body.url).toMatch(/^http:\/\/edgeplane\.test\/c\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(r.body.click_id).toMatch(/^[A-Za-z0-9_\-:.]{8,128}$/);
    expect(r.body.landing_url).toBe("https://shop.example/landing?utm=x");
    const exp = Date.parse(r.body.expires_at) / 1000;
    expect(exp).toBeGreaterThanOrEqual(before + 3600);
    expect(exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 3600);
    const again = await createLink({ campaign_id: "spring", ad_id: "banner-1", url: "https://shop.example/landing?utm=x", ttl_seconds: 3600 });
    expect(again.body.click_id).not.toBe(r.body.click_id); // one click_id per impression
  });

  it("accepts the caller's own impression id and defaults the ttl", async () => {
    const r = await createLink({ campaign_id: "spring", ad_id: "banner-1", url: "https://shop.example/", click_id: "imp:2026-11-25:000042" }, await tokenFor("admin"));
    expect(r.status).toBe(201);
    expect(r.body.click_id).toBe("imp:2026-11-25:000042");
    const ttl = Date.parse(r.body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(7 * 86_400_000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(7 * 86_400_000 + 1000);
  });

  it("is for publishers and admins only", async () => {
    const body = { campaign_id: "c", ad_id: "a", url: "https://shop.example/", ttl_seconds: 60 };
    expect((await createLink(body, "")).status).toBe(401);
    expect((await api("POST", "/admin/v1/click-links", { token: null, body })).status).toBe(401);
    for (const role of ["viewer", "reader", "approver"]) {
      const r = await createLink(body, await tokenFor(role));
      expect(r.status, role).toBe(403);
      expect(r.body.error.code).toBe("forbidden");
    }
  });

  it("rejects unsafe or malformed requests, naming each field", async () => {
    const ok = { campaign_id: "c", ad_id: "a", url: "https://shop.example/", ttl_seconds: 60 };
    const cases: [Record<string, unknown>, string[]][] = [
      [{ ...ok, url: "javascript:alert(document.cookie)" }, ["/url"]],
      [{ ...ok, url: "data:text/html,<script>1</script>" }, ["/url"]],
      [{ ...ok, url: "/relative/landing" }, ["/url"]],
      [{ ...ok, url: "//evil.example/" }, ["/url"]],
      [{ ...ok, url: "https://user:secret@shop.example/" }, ["/url"]],
      [{ ...ok, url: "https://shop.example/\r\nSet-Cookie: a=b" }, ["/url"]],
      [{ ...ok, url: "https://shop.example/" + "a".repeat(2048) }, ["/url"]],
      [{ ...ok, url: 42 }, ["/url"]],
      [{ ...ok, ttl_seconds: 0 }, ["/ttl_seconds"]],
      [{ ...ok, ttl_seconds: 30 * 86_400 + 1 }, ["/ttl_seconds"]],
      [{ ...ok, ttl_seconds: 1.5 }, ["/ttl_seconds"]],
      [{ ...ok, ttl_seconds: "60" }, ["/ttl_seconds"]],
      [{ ...ok, campaign_id: "" }, ["/campaign_id"]],
      [{ ...ok, ad_id: "x".repeat(65) }, ["/ad_id"]],
      [{ ...ok, ad_id: "tab\there" }, ["/ad_id"]],
      [{ ...ok, click_id: "short" }, ["/click_id"]],
      [{ ...ok, click_id: "has spaces in it" }, ["/click_id"]],
      [{ url: "https://shop.example/" }, ["/ad_id", "/campaign_id"]],
      [{ ...ok, landing: "x" }, ["/"]],
    ];
    for (const [body, paths] of cases) {
      const r = await createLink(body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe("invalid_request");
      expect(r.body.error.details.map((d: { path: string }) => d.path).sort(), JSON.stringify(body).slice(0, 80)).toEqual(paths);
    }
    // Fits 2048 characters, but every backslash doubles in the signed JSON: the link would be unfollowable.
    const escaped = await createLink({ ...ok, url: "https://shop.example/?q=" + "\\".repeat(2000) });
    expect(escaped.status).toBe(400);
    expect(escaped.body.error.details).toEqual([{ path: "/url", message: expect.stringContaining("longer than 4096") }]);
    const notJson = await api("POST", "/admin/v1/click-links", { token: publisher, body: "{oops" });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe("invalid_json");
    const huge = await api("POST", "/admin/v1/click-links", { token: publisher, body: { ...ok, pad: "x".repeat(20_000) } });
    expect(huge.status).toBe(413);
  });

  it("boundary ttl and url lengths are accepted", async () => {
    expect((await createLink({ campaign_id: "c", ad_id: "a", url: "https://shop.example/", ttl_seconds: 1 })).status).toBe(201);
    expect((await createLink({ campaign_id: "c", ad_id: "a", url: "https://shop.example/", ttl_seconds: 30 * 86_400 })).status).toBe(201);
    const long = "https://shop.example/" + "a".repeat(2048 - "https://shop.example/".length);
    const r = await createLink({ campaign_id: "x".repeat(64), ad_id: "y".repeat(64), url: long, ttl_seconds: 60 });
    expect(r.status).toBe(201);
    const followed = await follow(pathOf(r.body.url));
    expect(followed.status).toBe(302);
    expect(followed.headers.get("location")).toBe(long);
  });
});

describe("GET /c/:token", () => {
  it("redirects to exactly the signed landing URL, uncached", async () => {
    const landing = "https://shop.example/p/42?utm_source=edge&x=%20y#top";
    const link = await createLink({ campaign_id: "redir", ad_id: "a1", url: landing, ttl_seconds: 600 });
    const r = await follow(pathOf(link.body.url), { "x-region": "eu" });
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe(landing);
    expect(r.headers.get("cache-control")).toBe("no-store");
    // Query strings added by anyone else never change where it goes.
    const extra = await follow(pathOf(link.body.url) + "?url=https://evil.example/&u=https://evil.example/");
    expect(extra.status).toBe(302);
    expect(extra.headers.get("location")).toBe(landing);
  });

  it("answers 400 without a Location for tampered, forged, expired and malformed tokens", async () => {
    const link = await createLink({ campaign_id: "tamper", ad_id: "a1", url: "https://shop.example/", ttl_seconds: 600 });
    const token = pathOf(link.body.url).slice(3);
    const [body, mac] = token.split(".");
    const evilBody = base64urlEncode(new TextEncoder().encode(JSON.stringify({ c: "tamper", a: "a1", u: "https://evil.example/", i: link.body.click_id, e: 4_000_000_000 })));
    const expired = await signLink(env.CLICK_SIGNING_KEY, { c: "tamper", a: "a1", u: "https://shop.example/", i: "expired-click-0001", e: Math.floor(Date.now() / 1000) - 1 });
    const otherKey = await signLink("not-the-deployment-key", { c: "tamper", a: "a1", u: "https://evil.example/", i: "forged-click-00001", e: 4_000_000_000 });
    const cases: [string, string][] = [
      [`${evilBody}.${mac}`, "invalid_link"],
      [`${body}.${mac.slice(0, -1)}${mac.endsWith("A") ? "Q" : "A"}`, "invalid_link"],
      [`${body.slice(0, -2)}.${mac}`, "invalid_link"],
      [otherKey, "invalid_link"],
      [expired, "link_expired"],
      ["not-a-token", "invalid_link"],
      [`${body}.${mac}.x`, "invalid_link"],
      ["A".repeat(5000) + "." + mac, "invalid_link"],
    ];
    for (const [t, code] of cases) {
      const r = await follow(`/c/${t}`);
      expect(r.status, t.slice(0, 40)).toBe(400);
      expect(r.body.error.code, t.slice(0, 40)).toBe(code);
      expect(r.headers.get("location")).toBeNull();
    }
  });

  it("counts a link followed twice exactly once, in the visitor's region", { timeout: 30_000 }, async () => {
    const link = await createLink({ campaign_id: "twice", ad_id: "ad-t", url: "https://shop.example/twice", ttl_seconds: 600 });
    const dupBefore = await duplicatesSoFar();
    const first = await follow(pathOf(link.body.url), { "x-region": "eu" });
    const second = await follow(pathOf(link.body.url), { "x-region": "eu" });
    expect(first.status).toBe(302);
    expect(second.status).toBe(302);
    expect(second.headers.get("location")).toBe("https://shop.example/twice");
    // Once the pipeline has seen the repeat as a duplicate, the count must be exactly one.
    await eventually(async () => {
      expect(await duplicatesSoFar()).toBeGreaterThanOrEqual(dupBefore + 1);
      expect(await clicksOf("twice")).toEqual([{ window_start: expect.any(String), ad_id: "ad-t", region: "eu", clicks: 1 }]);
    });
  });

  it("counts nothing for rejected links and HEAD requests", { timeout: 30_000 }, async () => {
    const good = await createLink({ campaign_id: "counted", ad_id: "a", url: "https://shop.example/", ttl_seconds: 600 });
    const bad = await createLink({ campaign_id: "never", ad_id: "a", url: "https://shop.example/", ttl_seconds: 600 });
    const [body, mac] = pathOf(bad.body.url).slice(3).split(".");
    const forged = `${body}.${mac.startsWith("A") ? "B" : "A"}${mac.slice(1)}`;
    expect((await follow(`/c/${forged}`)).status).toBe(400);
    const expired = await signLink(env.CLICK_SIGNING_KEY, { c: "never", a: "a", u: "https://shop.example/", i: "expired-never-0001", e: 1 });
    expect((await follow(`/c/${expired}`)).status).toBe(400);
    const head = await follow(pathOf(bad.body.url), {}, "HEAD");
    expect(head.status).toBe(302);
    expect(head.headers.get("location")).toBe("https://shop.example/");
    // A genuine click after them: once it shows, everything before it would have too.
    expect((await follow(pathOf(good.body.url), { "x-region": "na" })).status).toBe(302);
    await eventually(async () => {
      expect(await clicksOf("counted")).toEqual([{ window_start: expect.any(String), ad_id: "a", region: "na", clicks: 1 }]);
    });
    expect(await clicksOf("never")).toEqual([]);
  });
});
