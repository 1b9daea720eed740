import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";

const REGIONS = ["na", "sa", "eu", "af", "as", "oc", "an"];
const SCHEMA = { type: "object", properties: { color: { type: "string" }, limit: { type: "integer" } }, required: ["color"] };

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  await server?.dispose();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const admin = (method: string, path: string, body?: unknown) => http(server.url, method, `/admin/v1${path}`, { body });

async function setup(ns: string, versions: Record<string, unknown>[]): Promise<void> {
  expect((await admin("PUT", `/namespaces/${ns}`, { schema: SCHEMA, description: "e2e" })).status).toBe(201);
  for (const values of versions) expect((await admin("POST", `/namespaces/${ns}/versions`, { values, message: "e2e" })).status).toBe(201);
}

function read(ns: string, opts: { region: string; client?: string; gen?: number; token?: string }) {
  const headers: Record<string, string> = { "x-region": opts.region };
  if (opts.gen !== undefined) headers["x-config-generation"] = String(opts.gen);
  const q = opts.client ? `?client_id=${encodeURIComponent(opts.client)}` : "";
  return http(server.url, "GET", `/v1/configs/${ns}${q}`, { headers, token: opts.token });
}

/** Polls `check` (reads only) until it returns true; fails after `timeoutMs`. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  expect(await check()).toBe(true);
}

describe("config rollout end to end", () => {
  it("publish → immediate rollout → edge reads in every region → emergency rollback", async () => {
    const ns = "e2e-imm";
    await setup(ns, [{ color: "blue" }, { color: "green", limit: 3 }]);
    const reader = (await admin("POST", "/tokens", { name: "e2e-reader", role: "reader", namespaces: [ns] })).body.token as string;
    const first = await admin("POST", `/namespaces/${ns}/rollouts`, { version: 1, plan: "immediate" });
    expect(first.body.state).toBe("completed");
    const second = await admin("POST", `/namespaces/${ns}/rollouts`, { version: 2, plan: "immediate" });
    expect(second.status).toBe(201);
    const gen = second.body.release.generation as number;
    for (const region of REGIONS) {
      const r = await read(ns, { region, client: `c-${region}`, gen, token: reader });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ namespace: ns, version: 2, values: { color: "green", limit: 3 } });
      expect(r.headers.get("etag")).toBeTruthy();
      const again = await http(server.url, "GET", `/v1/configs/${ns}?client_id=c-${region}`, {
        token: reader,
        headers: { "x-region": region, "if-none-match": r.headers.get("etag")! },
      });
      expect(again.status).toBe(304);
    }
    const rb = await admin("POST", `/namespaces/${ns}/rollback`, { to_version: 1, reason: "e2e says so" });
    expect(rb.status).toBe(200);
    for (const region of REGIONS) {
      const r = await read(ns, { region, client: `c-${region}`, gen: rb.body.generation, token: reader });
      expect(r.body).toMatchObject({ version: 1, values: { color: "blue" } });
    }
    const pinned = await http(server.url, "GET", `/v1/configs/${ns}?version=2`, { token: reader });
    expect(pinned.body.version).toBe(2);
    const audit = await admin("GET", `/audit?namespace=${ns}`);
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toContain("release.rolled_back");
    expect((await admin("GET", "/audit/verify")).body.ok).toBe(true);
  });

  it("a staged rollout with short bakes completes on its own; cohorts are sticky and only grow", async () => {
    const ns = "e2e-staged";
    await setup(ns, [{ color: "blue" }, { color: "green" }]);
    expect((await admin("POST", `/namespaces/${ns}/rollouts`, { version: 1, plan: "immediate" })).body.state).toBe("completed");
    const started = await admin("POST", `/namespaces/${ns}/rollouts`, {
      version: 2,
      plan: {
        stages: [
          { regions: ["eu"], percent: 30, bake_seconds: 2 },
          { regions: ["eu"], percent: 60, bake_seconds: 2 },
          { regions: "*", percent: 100, bake_seconds: 1 },
        ],
      },
    });
    expect(started.status).toBe(201);
    const id = started.body.rollout_id as string;
    let gen = started.body.release.generation as number;
    const clients = Array.from({ length: 40 }, (_, i) => `device-${i}`);
    const history = new Map<string, number[]>(clients.map((c) => [c, []]));
    const byGeneration = new Map<string, number>();
    let done = false;
    const deadline = Date.now() + 60_000;
    while (!done && Date.now() < deadline) {
      for (const client of clients) {
        const r = await read(ns, { region: "eu", client, gen });
        expect(r.status).toBe(200);
        history.get(client)!.push(r.body.version);
        gen = Math.max(gen, r.body.generation);
        // Sticky: the same client under the same release state always gets the same version.
        const key = `${client}@${r.body.generation}`;
        if (byGeneration.has(key)) expect(r.body.version).toBe(byGeneration.get(key));
        byGeneration.set(key, r.body.version);
      }
      const na = await read(ns, { region: "na", client: "observer" });
      done = na.body.version === 2;
      if (!done) await sleep(150);
    }
    expect(done).toBe(true);
    // Monotone: once a client got the candidate it never went back.
    for (const [client, versions] of history) {
      const firstNew = versions.indexOf(2);
      if (firstNew >= 0) expect(versions.slice(firstNew).every((v) => v === 2), client).toBe(true);
    }
    const partial = [...history.values()].filter((v) => v[0] === 1).length;
    expect(partial).toBeGreaterThan(0);
    await eventually(async () => (await admin("GET", `/namespaces/${ns}/rollouts/${id}`)).body.state === "completed", 20_000);
    const ro = (await admin("GET", `/namespaces/${ns}/rollouts/${id}`)).body;
    expect(ro.stages.every((s: { started_at: string | null }) => s.started_at !== null)).toBe(true);
    expect((await admin("GET", `/namespaces/${ns}/release`)).body.stable).toBe(2);
  });

  it("a rollout survives SIGKILL of the server and completes by its alarm", async () => {
    const ns = "e2e-crash";
    await setup(ns, [{ color: "blue" }, { color: "red" }]);
    expect((await admin("POST", `/namespaces/${ns}/rollouts`, { version: 1, plan: "immediate" })).body.state).toBe("completed");
    const started = await admin("POST", `/namespaces/${ns}/rollouts`, {
      version: 2,
      plan: { stages: [{ regions: ["eu"], percent: 50, bake_seconds: 2 }, { regions: "*", percent: 100, bake_seconds: 2 }] },
    });
    expect(started.body.state).toBe("running");
    const id = started.body.rollout_id as string;
    await server.kill();
    await server.restart();
    // Only edge reads (served from KV) while waiting: nothing but the alarm can move the rollout.
    await eventually(async () => (await read(ns, { region: "as", client: "watcher" })).body.version === 2, 60_000);
    await eventually(async () => (await admin("GET", `/namespaces/${ns}/rollouts/${id}`)).body.state === "completed", 30_000);
    expect((await admin("GET", `/namespaces/${ns}/release`)).body.stable).toBe(2);
  });
});
