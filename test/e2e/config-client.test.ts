import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigClient, ConnectionError, type ConfigClientOptions, type ConfigSnapshot } from "@edgeplane/client";
import { fileStorage } from "@edgeplane/client/node";
import { freePort, http, startDevServer, type DevServer } from "./server";
import { setupNamespace } from "./ofrep-helpers";

/** @edgeplane/client's config client against `wrangler dev`. */
let server: DevServer;
const dirs: string[] = [];
const clients: ConfigClient[] = [];

beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Seen {
  method: string;
  path: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that records what the client sent and got (JSON bodies of non-stream answers). */
function recordingFetch(log: Seen[]): typeof fetch {
  return async (input, init) => {
    const req = new Request(input, init);
    const res = await fetch(req);
    const u = new URL(req.url);
    const entry: Seen = { method: req.method, path: u.pathname + u.search, status: res.status, headers: Object.fromEntries(req.headers), body: null };
    if (!u.pathname.endsWith("/events") && res.headers.get("content-type")?.includes("json")) entry.body = await res.clone().json();
    log.push(entry);
    return res;
  };
}

type Checkout = { max_items: number; banner: string };

function client(opts: Partial<ConfigClientOptions> & Pick<ConfigClientOptions, "namespace" | "token">): ConfigClient<Checkout> {
  const c = new ConfigClient<Checkout>({ baseUrl: server.url, clientId: "device-1", headers: { "x-region": "na" }, pollIntervalMs: 0, ...opts });
  clients.push(c as unknown as ConfigClient);
  return c;
}

async function release(ns: string, values: Record<string, unknown>): Promise<number> {
  const v = await http(server.url, "POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values } });
  const r = await http(server.url, "POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: v.body.version, plan: "immediate" } });
  expect(r.body.state).toBe("completed");
  return r.body.release.generation as number;
}

describe("@edgeplane/client config client", () => {
  it("reads typed values, revalidates with ETag (304) and sends back the generation it has seen", async () => {
    const ns = "client-read";
    const token = await setupNamespace(server.url, ns, [{ max_items: 10, banner: "hi" }]);
    const log: Seen[] = [];
    const c = client({ namespace: ns, token, push: false, fetch: recordingFetch(log) });
    await c.start();
    const max: number = c.get("max_items", 0);
    expect(max).toBe(10);
    expect(c.snapshot()).toMatchObject({ version: 1, source: "network" });
    expect(await c.refresh()).toBe(false);
    const reads = log.filter((l) => l.method === "GET");
    expect(reads.map((r) => r.status)).toEqual([200, 304]);
    expect(reads[1].headers["if-none-match"]).toMatch(/^"v1-/);
    expect(reads[1].headers["x-config-generation"]).toBe(String(c.snapshot()!.generation));
    expect(reads[1].path).toContain("client_id=device-1");
  });

  it("gets changes pushed over the event stream, without polling", async () => {
    const ns = "client-push";
    const token = await setupNamespace(server.url, ns, [{ max_items: 1, banner: "one" }]);
    const log: Seen[] = [];
    const c = client({ namespace: ns, token, fetch: recordingFetch(log) });
    const changes: ConfigSnapshot<Checkout>[] = [];
    c.subscribe((s) => changes.push(s));
    await c.start();
    await expect.poll(() => c.pushing, { timeout: 20_000 }).toBe(true);
    const gen = await release(ns, { max_items: 2, banner: "two" });
    await expect.poll(() => c.get("banner"), { timeout: 20_000 }).toBe("two");
    expect(changes.at(-1)).toMatchObject({ version: 2, generation: gen, values: { max_items: 2 } });
    // The re-fetch asked for at least the announced generation (monotonic, even with a lagging KV).
    const refetch = log.filter((l) => l.method === "GET").at(-1)!;
    expect(Number(refetch.headers["x-config-generation"])).toBeGreaterThanOrEqual(gen);
    // The stream URL came from the OFREP bulk answer and carries no reader token.
    const stream = log.find((l) => l.path.includes("/ofrep/v1/events"))!;
    expect(stream.status).toBe(200);
    expect(stream.path).not.toContain(token);
  });

  it("keeps working from the last known good copy when the edge is unreachable", async () => {
    const ns = "client-lkg";
    const token = await setupNamespace(server.url, ns, [{ max_items: 5, banner: "saved" }]);
    const dir = mkdtempSync(join(tmpdir(), "edgeplane-lkg-"));
    dirs.push(dir);
    const first = client({ namespace: ns, token, push: false, storage: fileStorage(dir) });
    await first.start();
    await first.close();
    // Nothing listens on this port: the edge is "down".
    const dead = `http://127.0.0.1:${await freePort()}`;
    const offline = new ConfigClient<Checkout>({ baseUrl: dead, namespace: ns, token, clientId: "device-1", push: false, pollIntervalMs: 0, storage: fileStorage(dir) });
    clients.push(offline as unknown as ConfigClient);
    await offline.start();
    expect(offline.get("banner")).toBe("saved");
    expect(offline.snapshot()).toMatchObject({ version: 1, source: "storage" });
    expect(offline.lastError).toBeInstanceOf(ConnectionError);
    // Without a stored copy there is nothing to fall back on.
    const empty = new ConfigClient<Checkout>({ baseUrl: dead, namespace: ns, token, clientId: "device-1", push: false, pollIntervalMs: 0 });
    await expect(empty.start()).rejects.toBeInstanceOf(ConnectionError);
  });

  it("batches health reports into one request", async () => {
    const ns = "client-reports";
    const token = await setupNamespace(server.url, ns, [{ max_items: 5, banner: "x" }]);
    const log: Seen[] = [];
    const c = client({ namespace: ns, token, push: false, fetch: recordingFetch(log), reportIntervalMs: 60_000 });
    await c.start();
    for (let i = 0; i < 5; i++) c.report(i === 4 ? "error" : "ok", i === 4 ? "render failed" : undefined);
    expect(log.filter((l) => l.path.endsWith("/reports"))).toHaveLength(0);
    expect(await c.flushReports()).toBe(5);
    const posts = log.filter((l) => l.path.endsWith("/reports"));
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({ status: 202, body: { accepted: 5 } });
  });
});
