import type { Browser, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";
import { launchBrowser, poll, refreshes, signIn, viewerToken } from "./dashboard-browser";

/** The dashboard page itself: headers, token handling, error states, escaping, and the server going away. */

let server: DevServer;
let browser: Browser;

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "500" }, { browser: true });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

async function openPage(): Promise<{ page: Page; requests: Request[]; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  const requests: Request[] = [];
  const pageErrors: string[] = [];
  page.on("request", (r) => requests.push(r));
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // CSP violations and failed module loads surface as console errors.
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Trusted Type|Failed to load module/i.test(m.text())) pageErrors.push(m.text());
  });
  await page.goto(`${server.url}/dashboard`);
  return { page, requests, pageErrors };
}

describe("GET /dashboard", () => {
  it("serves public HTML with a strict CSP, nosniff and no inline script", async () => {
    const r = await fetch(`${server.url}/dashboard`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = r.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await r.text();
    // Every <script> has a src (no inline code) and no element carries an inline event handler or style.
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(m[1]).toMatch(/\bsrc=/);
      expect(m[2].trim()).toBe("");
    }
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/\sstyle=/i);

    for (const path of ["/dashboard/app.js", "/vendor/uplot/uPlot.esm.js"]) {
      const js = await fetch(server.url + path);
      expect(js.status, path).toBe(200);
      expect(js.headers.get("content-type"), path).toMatch(/javascript/);
      expect(js.headers.get("x-content-type-options"), path).toBe("nosniff");
    }
    const css = await fetch(`${server.url}/dashboard/style.css`);
    expect(css.headers.get("content-type")).toMatch(/^text\/css/);
  });

  it("answers unknown dashboard files with a JSON 404 and other methods with 405", async () => {
    const missing = await http(server.url, "GET", "/dashboard/nope.js", { token: null });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("not_found");
    const traversal = await http(server.url, "GET", "/vendor/../wrangler.toml", { token: null });
    expect(traversal.status).toBe(404);
    const post = await http(server.url, "POST", "/dashboard", { token: null, body: {} });
    expect(post.status).toBe(405);
    expect(post.body.error.code).toBe("method_not_allowed");
  });

  it("revalidates with ETag (304) so a deploy shows up on the next load", async () => {
    const first = await fetch(`${server.url}/dashboard`);
    const etag = first.headers.get("etag");
    expect(etag).toBeTruthy();
    expect(first.headers.get("cache-control")).toBe("no-cache");
    const again = await fetch(`${server.url}/dashboard`, { headers: { "if-none-match": etag! } });
    expect(again.status).toBe(304);
  });
});

describe("token handling in the browser", () => {
  it("without a token shows the prompt and calls no API", async () => {
    const { page, requests, pageErrors } = await openPage();
    await poll(() => page.isVisible("[data-testid=token-prompt]")).toBe(true);
    await poll(() => page.isVisible("[data-testid=token-input]")).toBe(true);
    expect(await page.isVisible("[data-testid=auth-error]")).toBe(false);
    expect(requests.filter((r) => /\/(api|admin)\//.test(r.url()))).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });

  it("with a bad token shows the rejection, keeps prompting and forgets the token", async () => {
    const { page, pageErrors } = await openPage();
    await signIn(page, "definitely-not-a-token");
    await poll(() => page.textContent("[data-testid=auth-error]")).toMatch(/rejected/i);
    expect(await page.isVisible("[data-testid=token-prompt]")).toBe(true);
    expect(await page.$eval("[data-testid=auth-error]", (el) => (el as HTMLElement).dataset.kind)).toBe("unauthorized");
    expect(await page.evaluate(() => localStorage.getItem("edgeplane.dashboard.token"))).toBeNull();
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });

  it("with a token of the wrong role explains which role is needed", async () => {
    const reader = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "edge-client", role: "reader", namespaces: ["*"] } });
    expect(reader.status).toBe(201);
    const { page } = await openPage();
    await signIn(page, reader.body.token);
    await poll(() => page.textContent("[data-testid=auth-error]")).toMatch(/role reader.*viewer/i);
    expect(await page.$eval("[data-testid=auth-error]", (el) => (el as HTMLElement).dataset.kind)).toBe("forbidden");
    expect(await page.isVisible("[data-testid=token-prompt]")).toBe(true);
    await page.context().close();
  });

  it("keeps a good token across reloads, sends it only in the Authorization header, and signs out", async () => {
    const token = await viewerToken(server.url);
    const { page, requests, pageErrors } = await openPage();
    await signIn(page, token);
    await poll(() => page.isVisible("[data-testid=token-prompt]")).toBe(false);
    await poll(() => refreshes(page)).toBeGreaterThan(0);
    await poll(() => page.getAttribute("[data-testid=status]", "data-state")).toMatch(/live|partial/);

    const apiCalls = requests.filter((r) => /\/(api|admin)\//.test(r.url()));
    expect(apiCalls.length).toBeGreaterThan(0);
    for (const r of apiCalls) {
      expect(r.url()).not.toContain(token);
      expect((await r.allHeaders()).authorization).toBe(`Bearer ${token}`);
    }
    expect(page.url()).not.toContain(token);

    await page.reload();
    await poll(() => refreshes(page)).toBeGreaterThan(0);
    expect(await page.isVisible("[data-testid=token-prompt]")).toBe(false);

    await page.click("[data-testid=change-token]");
    await poll(() => page.isVisible("[data-testid=token-prompt]")).toBe(true);
    expect(await page.evaluate(() => localStorage.getItem("edgeplane.dashboard.token"))).toBeNull();
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });

  it("prompts again when the token is revoked while the page is open", async () => {
    const created = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "soon-revoked", role: "viewer", namespaces: ["*"] } });
    const { page } = await openPage();
    await signIn(page, created.body.token);
    await poll(() => refreshes(page)).toBeGreaterThan(0);
    expect(await page.isVisible("[data-testid=token-prompt]")).toBe(false);
    const del = await http(server.url, "DELETE", `/admin/v1/tokens/${created.body.id}`);
    expect(del.status).toBe(200);
    await poll(() => page.isVisible("[data-testid=token-prompt]"), { timeout: 30_000 }).toBe(true);
    expect(await page.textContent("[data-testid=auth-error]")).toMatch(/rejected/i);
    await page.context().close();
  });

  it("renders API-provided strings as text, never as HTML", async () => {
    const evil = `<img src=x onerror="window.__pwned=1">`;
    const put = await http(server.url, "PUT", "/admin/v1/namespaces/xss-probe", { body: { schema: { type: "object" }, description: evil } });
    expect([200, 201]).toContain(put.status);
    const token = await viewerToken(server.url, `<b>bold</b> ${evil}`);
    const { page, pageErrors } = await openPage();
    await signIn(page, token);
    await poll(() => page.locator("[data-testid=namespace-row][data-namespace=xss-probe]").textContent()).toContain(evil);
    expect(await page.locator("[data-testid=namespace-row][data-namespace=xss-probe] img").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator("main img").count()).toBe(0);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });
});

/** Boots the killed server again; one more try if the first boot never answers (2 busy cores). */
async function restartServer() {
  try {
    await server.restart();
  } catch {
    await server.kill();
    await server.restart();
  }
}

describe("server down", () => {
  it("shows a banner while the server is unreachable, keeps retrying and recovers", async () => {
    const token = await viewerToken(server.url);
    const { page } = await openPage();
    await signIn(page, token);
    await poll(() => refreshes(page)).toBeGreaterThan(0);
    expect(await page.isVisible("[data-testid=error-banner]")).toBe(false);

    await server.kill();
    await poll(() => page.isVisible("[data-testid=error-banner]"), { timeout: 30_000 }).toBe(true);
    expect(await page.textContent("[data-testid=error-banner]")).toMatch(/unreachable.*retrying/i);
    expect(await page.getAttribute("[data-testid=status]", "data-state")).toBe("down");
    // Still signed in: a network failure is not an auth failure.
    expect(await page.isVisible("[data-testid=token-prompt]")).toBe(false);
    const during = await refreshes(page);
    await poll(() => refreshes(page), { timeout: 30_000 }).toBeGreaterThan(during); // it keeps retrying

    await restartServer();
    await poll(() => page.isVisible("[data-testid=error-banner]"), { timeout: 60_000 }).toBe(false);
    await poll(() => page.getAttribute("[data-testid=status]", "data-state")).toMatch(/live|partial/);
    await page.context().close();
  }, 300_000);
});
