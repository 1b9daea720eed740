import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { build } from "esbuild";
import type { Browser, Page, Response as PwResponse } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser } from "./dashboard-browser";
import { freePort, http, startDevServer, type DevServer } from "./server";
import { ALL_TYPES, setupNamespace, splitEu, versionFor } from "./ofrep-helpers";
import type { PageChange, StartOptions } from "./ofrep-web-page";

/**
 * OpenFeature's web SDK + OFREP web provider (not written here), unchanged, in Chromium. The page is
 * served from a second local port — another origin than the API — so every request is a real
 * cross-origin one (preflights, exposed headers, EventSource without credentials).
 */
let server: DevServer;
let pageServer: Server;
let pageOrigin: string;
let browser: Browser;

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [join(import.meta.dirname, "ofrep-web-page.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0].text;
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>ofrep</title></head><body><script type="module" src="/app.js"></script></body></html>`;
  const port = await freePort();
  pageServer = createServer((req, res) => {
    if (req.url === "/app.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    else res.writeHead(200, { "content-type": "text/html" }).end(html);
  });
  await new Promise<void>((r) => pageServer.listen(port, "127.0.0.1", r));
  pageOrigin = `http://127.0.0.1:${port}`;
  [server, browser] = await Promise.all([startDevServer({}, { browser: true }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => pageServer?.close(r));
  await server?.dispose();
});

interface Recorded {
  bulk: { status: number; url: string }[];
  streams: number;
}

/** A fresh page (own storage) on the page origin, recording the bulk evaluations and stream opens. */
async function openPage(): Promise<{ page: Page; rec: Recorded }> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const rec: Recorded = { bulk: [], streams: 0 };
  page.on("response", (r: PwResponse) => {
    const u = new URL(r.url());
    if (r.request().method() === "POST" && u.pathname.endsWith("/ofrep/v1/evaluate/flags")) rec.bulk.push({ status: r.status(), url: r.url() });
    if (u.pathname.endsWith("/ofrep/v1/events") && r.status() === 200) rec.streams++;
  });
  await page.goto(pageOrigin + "/");
  await page.waitForFunction(() => document.body.dataset.loaded === "true");
  return { page, rec };
}

function start(page: Page, o: Omit<StartOptions, "baseUrl"> & { ns: string }): Promise<string> {
  const opts: StartOptions = { baseUrl: `${server.url}/v1/configs/${o.ns}`, token: o.token, targetingKey: o.targetingKey, region: o.region };
  return page.evaluate((x) => window.ofrepTest.start(x), opts);
}

function details(page: Page, kind: "boolean" | "string" | "number" | "object", key: string, dflt: unknown) {
  return page.evaluate(([k, f, d]) => window.ofrepTest.details(k as "boolean", f as string, d as boolean), [kind, key, dflt] as const);
}

const changes = (page: Page): Promise<PageChange[]> => page.evaluate(() => window.ofrepTest.changes);

describe("@openfeature/web-sdk + @openfeature/ofrep-web-provider in Chromium, cross-origin", () => {
  it("resolves every value type; FLAG_NOT_FOUND and TYPE_MISMATCH give the default", async () => {
    const ns = "ofrep-web-types";
    const token = await setupNamespace(server.url, ns, [ALL_TYPES]);
    const { page, rec } = await openPage();
    expect(await start(page, { ns, token, targetingKey: "browser-1", region: "na" })).toBe("ready");
    expect(await details(page, "boolean", "on", false)).toMatchObject({ value: true, reason: "STATIC", variant: "v1" });
    expect((await details(page, "boolean", "on", false)).flagMetadata).toMatchObject({ version: 1 });
    expect((await details(page, "string", "title", "x")).value).toBe("hello");
    expect((await details(page, "number", "limit", 0)).value).toBe(42);
    expect((await details(page, "number", "ratio", 0)).value).toBe(0.25);
    expect((await details(page, "object", "obj", {})).value).toEqual(ALL_TYPES.obj);
    expect(await details(page, "boolean", "no-such-flag", false)).toMatchObject({ value: false, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    expect(await details(page, "number", "title", 7)).toMatchObject({ value: 7, reason: "ERROR", errorCode: "TYPE_MISMATCH" });
    // One bulk evaluation, answered cross-origin, and the provider opened the advertised event stream.
    expect(rec.bulk.map((b) => b.status)).toEqual([200]);
    await expect.poll(() => rec.streams, { timeout: 20_000 }).toBe(1);
    await page.context().close();
  });

  it("with a bad token the provider fails to start and every flag gives its default", async () => {
    const ns = "ofrep-web-badtoken";
    await setupNamespace(server.url, ns, [ALL_TYPES]);
    const { page, rec } = await openPage();
    expect(await start(page, { ns, token: "not-a-real-token", targetingKey: "b", region: "na" })).toMatch(/^failed/);
    expect(rec.bulk.map((b) => b.status)).toEqual([401]);
    const d = await details(page, "boolean", "on", false);
    expect(d.value).toBe(false);
    expect(d.reason).toBe("ERROR");
    await page.context().close();
  });

  it("follows a staged rollout's cohorts as the targeting key changes", async () => {
    const ns = "ofrep-web-split";
    const token = await setupNamespace(server.url, ns, [{ title: "stable" }, { title: "candidate" }]);
    await splitEu(server.url, ns, 2, 50);
    const { page } = await openPage();
    expect(await start(page, { ns, token, targetingKey: "k-0", region: "eu" })).toBe("ready");
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const key = `k-${i}`;
      if (i > 0) await page.evaluate((k) => window.ofrepTest.setTargetingKey(k), key);
      const d = await details(page, "string", "title", "none");
      const expected = await versionFor(server.url, ns, token, "eu", key);
      expect(d).toMatchObject({ reason: "SPLIT", variant: `v${expected}`, value: expected === 2 ? "candidate" : "stable" });
      seen.add(d.variant as string);
    }
    expect(seen).toEqual(new Set(["v1", "v2"]));
    await page.context().close();
  });

  it("gets changes pushed over the event stream (no polling, no reload): 304 when its answer is unchanged, new values when it changed", async () => {
    const ns = "ofrep-web-push";
    const token = await setupNamespace(server.url, ns, [{ on: false, title: "one" }, { on: true, title: "two" }, { on: true, title: "three" }]);
    const { page, rec } = await openPage();
    expect(await start(page, { ns, token, targetingKey: "pushed", region: "na" })).toBe("ready");
    await expect.poll(() => rec.streams, { timeout: 20_000 }).toBe(1);
    expect(rec.bulk.map((b) => b.status)).toEqual([200]);

    // A rollout in another region is a release change, but not for this client: re-fetch → 304.
    const gen = await splitEu(server.url, ns, 2, 50);
    await expect.poll(() => rec.bulk.length, { timeout: 20_000 }).toBe(2);
    expect(rec.bulk[1].status).toBe(304);
    expect(new URL(rec.bulk[1].url).searchParams.get("flagConfigEtag")).toBe(`"g${gen}"`);
    expect(await changes(page)).toEqual([]);

    // Abort it, then release v3 everywhere: the page sees the new values without reloading.
    const current = await http(server.url, "GET", `/admin/v1/namespaces/${ns}/rollouts/current`);
    expect((await http(server.url, "POST", `/admin/v1/namespaces/${ns}/rollouts/${current.body.rollout_id}/abort`)).status).toBe(200);
    await expect.poll(() => rec.bulk.length, { timeout: 20_000 }).toBe(3);
    expect(rec.bulk[2].status).toBe(304);
    const r = await http(server.url, "POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: 3, plan: "immediate" } });
    expect(r.body.state).toBe("completed");
    await expect.poll(async () => (await details(page, "string", "title", "x")).value, { timeout: 20_000 }).toBe("three");
    expect(await details(page, "boolean", "on", false)).toMatchObject({ value: true, variant: "v3" });
    expect(rec.bulk.map((b) => b.status)).toEqual([200, 304, 304, 200]);
    const pushed = await changes(page);
    expect(pushed).toHaveLength(1);
    expect(pushed[0].flagsChanged.sort()).toEqual(["on", "title"]);
    // Every re-fetch was triggered by an event (it names the event's etag), and the stream stayed open.
    for (const b of rec.bulk.slice(1)) expect(new URL(b.url).searchParams.get("flagConfigEtag")).toMatch(/^"g\d+"$/);
    expect(rec.streams).toBe(1);
    await page.context().close();
  });
});
