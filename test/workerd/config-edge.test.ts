import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, kvRelease, publish, read, release, sleep, startRollout, uniqueNs } from "./config-helpers";

async function released(prefix: string): Promise<{ ns: string; gen: number }> {
  const ns = uniqueNs(prefix);
  await createNamespace(ns);
  await publish(ns, { feature: false, name: "one" });
  await publish(ns, { feature: true, name: "two" });
  const r = await startRollout(ns, 2, "immediate");
  expect(r.body.state).toBe("completed");
  return { ns, gen: r.body.release.generation };
}

describe("edge reads", () => {
  it("pins a version with ?version=N and rejects bad pins", async () => {
    const { ns } = await released("pin");
    const one = await read(ns, { version: 1, region: "eu", client: "a" });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ version: 1, values: { name: "one" } });
    expect(one.headers.get("x-config-version")).toBe("1");
    const missing = await read(ns, { version: 99 });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("version_not_found");
    for (const bad of ["abc", "0", "-1", "1.5"]) {
      const r = await api("GET", `/v1/configs/${ns}?version=${bad}`);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("invalid_version");
    }
  });

  it("answers 304 to a matching If-None-Match and 200 once the version changes", async () => {
    const { ns, gen } = await released("etag");
    const first = await read(ns, { region: "na", client: "a", gen });
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"v2-[0-9a-f]{32}"$/);
    expect(first.headers.get("cache-control")).toContain("no-cache");
    const again = await read(ns, { region: "na", client: "a", headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBeNull();
    expect(again.headers.get("etag")).toBe(etag);
    expect((await read(ns, { region: "na", client: "a", headers: { "if-none-match": `"other", W/${etag}` } })).status).toBe(304);
    expect((await read(ns, { region: "na", client: "a", headers: { "if-none-match": '"v1-nope"' } })).status).toBe(200);
    // v1 was never released, so it comes back by a rollout (an emergency rollback to it is refused).
    const back = await startRollout(ns, 1, "immediate");
    const changed = await read(ns, { region: "na", client: "a", gen: back.body.release.generation, headers: { "if-none-match": etag } });
    expect(changed.status).toBe(200);
    expect(changed.body.version).toBe(1);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });

  it("never serves a release state older than X-Config-Generation, even when KV lags", async () => {
    const ns = uniqueNs("gen");
    await createNamespace(ns);
    await publish(ns, { feature: false, name: "one" });
    const r1 = await startRollout(ns, 1, "immediate");
    const staleState = await kvRelease(ns, r1.body.release.generation);
    expect(JSON.parse(staleState!).generation).toBe(r1.body.release.generation);
    await publish(ns, { feature: true, name: "two" });
    const r2 = await startRollout(ns, 2, "immediate");
    const g2 = r2.body.release.generation as number;
    expect(g2).toBeGreaterThan(r1.body.release.generation);
    // Simulate an eventually-consistent KV replica that still has the old state.
    await env.CONFIG_KV.put(`cfg:r:${ns}`, staleState!);
    await sleep(300); // let the isolate's short release cache expire
    const fresh = await read(ns, { region: "eu", client: "a", gen: g2 });
    expect(fresh.status).toBe(200);
    expect(fresh.body.version).toBe(2);
    expect(fresh.body.generation).toBeGreaterThanOrEqual(g2);
    expect(fresh.headers.get("x-config-generation")).toBe(String(fresh.body.generation));
    expect((await read(ns, { headers: { "x-config-generation": "soon" } })).body.error.code).toBe("invalid_generation");
    // A generation from the future (a confused client) gets the authoritative state, not an error.
    for (let i = 0; i < 3; i++) {
      const future = await read(ns, { region: "eu", client: "a", gen: g2 + 1000 });
      expect(future.status).toBe(200);
      expect(future.body).toMatchObject({ version: 2, generation: g2 });
    }
  });

  it("distinguishes unknown namespaces, unreleased ones and bad names", async () => {
    const unknown = await read(uniqueNs("ghost"));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("namespace_not_found");
    expect((await api("GET", "/v1/configs/Bad!Name")).body.error.code).toBe("invalid_namespace");
    const ns = uniqueNs("fresh");
    await createNamespace(ns);
    expect((await read(ns)).body.error.code).toBe("no_release");
  });

  it("takes the client id from the query or the X-Client-Id header", async () => {
    const ns = uniqueNs("cid");
    await createNamespace(ns);
    await publish(ns, { feature: false });
    await startRollout(ns, 1, "immediate");
    await publish(ns, { feature: true });
    const r = await startRollout(ns, 2, { stages: [{ regions: ["eu"], percent: 50, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }] });
    const gen = r.body.release.generation;
    for (let i = 0; i < 30; i++) {
      const byQuery = await read(ns, { region: "eu", client: `u${i}`, gen });
      const byHeader = await read(ns, { region: "eu", gen, headers: { "x-client-id": `u${i}` } });
      expect(byHeader.body.version).toBe(byQuery.body.version);
    }
    const long = await read(ns, { region: "eu", client: "x".repeat(257) });
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe("invalid_client_id");
  });
});

describe("health reports", () => {
  it("accepts single and batched reports and rejects bad ones", async () => {
    const { ns } = await released("rep");
    const reader = await tokenFor("reader", [ns]);
    const one = await api("POST", `/v1/configs/${ns}/reports`, { token: reader, body: { client_id: "a", version: 2, status: "ok" } });
    expect(one.status).toBe(202);
    expect(one.body).toEqual({ accepted: 1 });
    const many = await api("POST", `/v1/configs/${ns}/reports`, {
      token: reader,
      body: { reports: [{ client_id: "b", version: 2, status: "error", error: "parse" }, { client_id: "c", version: 1, status: "ok" }] },
    });
    expect(many.body).toEqual({ accepted: 2 });
    // Unknown versions are ignored and unconfigured regions pooled, so the counters stay bounded.
    const odd = await api("POST", `/v1/configs/${ns}/reports`, {
      token: reader,
      headers: { "x-region": "zz" },
      body: { reports: [{ client_id: "d", version: 99, status: "ok" }, { client_id: "e", version: 2, status: "ok" }] },
    });
    expect(odd.status).toBe(202);
    expect(odd.body).toEqual({ accepted: 1, ignored: 1 });
    // Reports within a second of the previous call are folded into one batch sent a moment later.
    let ro = (await api("GET", `/admin/v1/namespaces/${ns}/rollouts?limit=1`)).body.rollouts[0];
    for (let i = 0; i < 30 && JSON.stringify(ro.clients.other) !== JSON.stringify({ "1": 1, "2": 3 }); i++) {
      await sleep(150);
      ro = (await api("GET", `/admin/v1/namespaces/${ns}/rollouts?limit=1`)).body.rollouts[0];
    }
    expect(ro.clients.other).toEqual({ "1": 1, "2": 3 }); // a, b, e on v2 and c on v1 (no region header → "other")
    for (const body of [{ client_id: "a", version: 2, status: "meh" }, { client_id: "", version: 2, status: "ok" }, { reports: [] }, { version: 1 }]) {
      const r = await api("POST", `/v1/configs/${ns}/reports`, { token: reader, body });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("invalid_request");
    }
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ client_id: `x${i}`, version: 2, status: "ok" }));
    expect((await api("POST", `/v1/configs/${ns}/reports`, { token: reader, body: { reports: tooMany } })).status).toBe(400);
    expect((await api("POST", `/v1/configs/${ns}/reports`, { token: reader, body: "{nope" })).body.error.code).toBe("invalid_json");
    const ghost = uniqueNs("ghost");
    expect((await api("POST", `/v1/configs/${ghost}/reports`, { body: { client_id: "a", version: 1, status: "ok" } })).body.error.code).toBe("namespace_not_found");
  });
});

describe("release state in KV", () => {
  it("stores immutable version blobs and the release state under documented keys", async () => {
    const { ns, gen } = await released("kv");
    const blob = JSON.parse((await env.CONFIG_KV.get(`cfg:v:${ns}:2`))!);
    expect(blob).toMatchObject({ namespace: ns, version: 2, values: { name: "two" } });
    expect(blob.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const rel = JSON.parse(await kvRelease(ns, gen));
    expect(rel).toMatchObject({ namespace: ns, generation: gen, stable: 2 });
    expect(rel).toEqual(await release(ns));
  });
});
