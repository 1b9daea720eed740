import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { read, sleep, uniqueNs } from "./config-helpers";
import { ALL_TYPES, evalBulk, evalFlag, ofrepPath, releasedNs, splitInEu } from "./ofrep-helpers";
import { ofrepLimitKey } from "../../workers/lib/ofrep-limit";

describe("OFREP single-flag evaluation", () => {
  it("returns every value type with reason STATIC, the version as variant and version/generation metadata", async () => {
    const ns = await releasedNs("types");
    const reader = await tokenFor("reader", [ns]);
    const gen = (await read(ns, { client: "client-1" })).body.generation as number;
    for (const [key, value] of Object.entries(ALL_TYPES)) {
      const r = await evalFlag(ns, key, { targetingKey: "client-1" }, { token: reader, region: "na" });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.body).toEqual({ key, value, reason: "STATIC", variant: "v1", metadata: { version: 1, generation: gen } });
    }
  });

  it("answers 404 FLAG_NOT_FOUND (OFREP body and the usual error) for unknown flags and namespaces", async () => {
    const ns = await releasedNs("missing");
    const r = await evalFlag(ns, "nope");
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ key: "nope", errorCode: "FLAG_NOT_FOUND", error: { code: "flag_not_found" } });
    expect(typeof r.body.errorDetails).toBe("string");
    const ghost = await evalFlag(uniqueNs("ghost"), "on");
    expect(ghost.status).toBe(404);
    expect(ghost.body).toMatchObject({ key: "on", errorCode: "FLAG_NOT_FOUND", error: { code: "namespace_not_found" } });
    // Inherited object properties are not flags.
    expect((await evalFlag(ns, "constructor")).body.errorCode).toBe("FLAG_NOT_FOUND");
  });

  it("rejects unparsable bodies with PARSE_ERROR and bad contexts with INVALID_CONTEXT", async () => {
    const ns = await releasedNs("bad");
    for (const body of ["{nope", "[1,2]", "42", ""]) {
      const r = await api("POST", ofrepPath(ns, "on"), { body, headers: { "content-type": "application/json" } });
      expect(r.status, body).toBe(400);
      expect(r.body).toMatchObject({ key: "on", errorCode: "PARSE_ERROR" });
    }
    for (const body of [{}, { context: [] }, { context: "x" }, { context: { targetingKey: 7 } }, { context: { targetingKey: "" } }, { context: { targetingKey: "k".repeat(257) } }]) {
      const r = await api("POST", ofrepPath(ns, "on"), { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ key: "on", errorCode: "INVALID_CONTEXT", error: { code: "invalid_context" } });
    }
    const bulk = await api("POST", ofrepPath(ns), { body: { context: 5 } });
    expect(bulk.status).toBe(400);
    expect(bulk.body.errorCode).toBe("INVALID_CONTEXT");
    expect(bulk.body.key).toBeUndefined();
  });

  it("needs a targeting key only where a rollout splits the client's region (TARGETING_KEY_MISSING), and then answers SPLIT", async () => {
    const ns = await releasedNs("split", { on: false });
    await splitInEu(ns, { on: true }, 50);
    const missing = await evalFlag(ns, "on", {}, { region: "eu" });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ key: "on", errorCode: "TARGETING_KEY_MISSING" });
    expect((await evalBulk(ns, {}, { region: "eu" })).body.errorCode).toBe("TARGETING_KEY_MISSING");
    // Outside the rollout the key is not needed and the answer is STATIC.
    const na = await evalFlag(ns, "on", {}, { region: "na" });
    expect(na.body).toMatchObject({ value: false, reason: "STATIC", variant: "v1" });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const client = `device-${i}`;
      const r = await evalFlag(ns, "on", { targetingKey: client, plan: "pro" }, { region: "eu" });
      expect(r.status).toBe(200);
      expect(r.body.reason).toBe("SPLIT");
      // Exactly the version GET /v1/configs/:ns gives the same client in the same region.
      const get = await read(ns, { region: "eu", client });
      expect(r.body.variant).toBe(`v${get.body.version}`);
      expect(r.body.value).toBe(get.body.values.on);
      expect(r.body.metadata).toEqual({ version: get.body.version, generation: get.body.generation });
      seen.add(r.body.variant);
    }
    expect(seen).toEqual(new Set(["v1", "v2"]));
  });

  it("refuses missing or bad tokens (401) and tokens without the namespace or role (403)", async () => {
    const ns = await releasedNs("auth");
    expect((await evalFlag(ns, "on", undefined, { token: null })).status).toBe(401);
    const bad = await evalFlag(ns, "on", undefined, { token: "not-a-token" });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ key: "on", errorCode: "GENERAL", error: { code: "unauthorized" } });
    const other = await tokenFor("reader", ["someone-else"]);
    const scoped = await evalBulk(ns, undefined, { token: other });
    expect(scoped.status).toBe(403);
    expect(scoped.body.error.code).toBe("forbidden_namespace");
    const viewer = await tokenFor("viewer", [ns]);
    expect((await evalFlag(ns, "on", undefined, { token: viewer })).status).toBe(403);
  });

  it("answers 429 with Retry-After in seconds when one client exceeds the per-minute limit", async () => {
    const ns = await releasedNs("limit");
    // Spend the client's budget on the binding directly (a loaded machine may not send 300 HTTP
    // requests within the limiter's minute), then the route must refuse.
    let spent = 0;
    while (spent < 1000 && (await env.OFREP_LIMITER.limit({ key: ofrepLimitKey(ns, "k:hot-loop", "on") })).success) spent++;
    expect(spent).toBeLessThan(1000);
    const limited = await evalFlag(ns, "on", { targetingKey: "hot-loop" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^[1-9][0-9]*$/);
    expect(limited.body).toMatchObject({ key: "on", errorCode: "GENERAL", error: { code: "rate_limited" } });
    // Another client (and the same client's other flags) are not affected.
    expect((await evalFlag(ns, "on", { targetingKey: "calm" })).status).toBe(200);
    expect((await evalFlag(ns, "title", { targetingKey: "hot-loop" })).status).toBe(200);
  });
});

describe("OFREP bulk evaluation", () => {
  it("evaluates every flag, with an ETag over the answer and 304 on If-None-Match", async () => {
    const ns = await releasedNs("bulk");
    const r = await evalBulk(ns, { targetingKey: "a" }, { region: "na" });
    expect(r.status).toBe(200);
    const keys = (r.body.flags as { key: string }[]).map((f) => f.key).sort();
    expect(keys).toEqual(Object.keys(ALL_TYPES).sort());
    for (const f of r.body.flags) expect(f).toMatchObject({ reason: "STATIC", variant: "v1", value: ALL_TYPES[f.key as keyof typeof ALL_TYPES] });
    expect(r.body.metadata).toMatchObject({ version: 1 });
    const etag = r.headers.get("etag")!;
    expect(etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
    const again = await evalBulk(ns, { targetingKey: "a" }, { region: "na", headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.body).toBeNull();
    expect(again.headers.get("etag")).toBe(etag);
    expect((await evalBulk(ns, { targetingKey: "a" }, { region: "na", headers: { "if-none-match": '"other"' } })).status).toBe(200);
    // A new release changes the answer, so the old tag no longer matches.
    const pub = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { ...ALL_TYPES, on: false } } });
    const ro = await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: pub.body.version, plan: "immediate" } });
    const gen = ro.body.release.generation as number;
    const changed = await evalBulk(ns, { targetingKey: "a" }, { region: "na", headers: { "if-none-match": etag }, query: `?flagConfigEtag=${encodeURIComponent(`"g${gen}"`)}` });
    expect(changed.status).toBe(200);
    expect(changed.body.flags.find((f: { key: string }) => f.key === "on").value).toBe(false);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });

  it("tags the evaluated answer, not only the generation: clients in different cohorts get different ETags", async () => {
    const ns = await releasedNs("cohort-etag", { on: false });
    await splitInEu(ns, { on: true }, 50);
    const byVersion = new Map<number, { client: string; etag: string }>();
    for (let i = 0; i < 30 && byVersion.size < 2; i++) {
      const r = await evalBulk(ns, { targetingKey: `c${i}` }, { region: "eu" });
      expect(r.status).toBe(200);
      byVersion.set(r.body.metadata.version, { client: `c${i}`, etag: r.headers.get("etag")! });
      // The bulk answer matches the single-flag answer for the same client.
      const one = await evalFlag(ns, "on", { targetingKey: `c${i}` }, { region: "eu" });
      expect(one.body.variant).toBe(r.body.flags[0].variant);
    }
    expect(byVersion.size).toBe(2);
    const [v1, v2] = [byVersion.get(1)!, byVersion.get(2)!];
    expect(v1.etag).not.toBe(v2.etag);
    // A client on v1 presenting a v2 client's tag (e.g. after a context change) gets its full answer, not a 304.
    const swapped = await evalBulk(ns, { targetingKey: v1.client }, { region: "eu", headers: { "if-none-match": v2.etag } });
    expect(swapped.status).toBe(200);
    expect(swapped.body.metadata.version).toBe(1);
    expect((await evalBulk(ns, { targetingKey: v1.client }, { region: "eu", headers: { "if-none-match": v1.etag } })).status).toBe(304);
  });

  it("answers 304 after a release change that leaves this client's answer as it was (another region)", async () => {
    const ns = await releasedNs("elsewhere", { on: false });
    const before = await evalBulk(ns, { targetingKey: "c0" }, { region: "na" });
    const gen = await splitInEu(ns, { on: true }, 50);
    expect(gen).toBeGreaterThan(before.body.metadata.generation);
    const query = `?flagConfigEtag=${encodeURIComponent(`"g${gen}"`)}`;
    const after = await evalBulk(ns, { targetingKey: "c0" }, { region: "na", query, headers: { "if-none-match": before.headers.get("etag")! } });
    expect(after.status).toBe(304);
    // Without the tag, the full answer names the new generation and the same flags.
    const full = await evalBulk(ns, { targetingKey: "c0" }, { region: "na", query });
    expect(full.body.metadata).toEqual({ version: 1, generation: gen });
    expect(full.body.flags).toEqual(before.body.flags.map((f: { metadata: object }) => ({ ...f, metadata: { version: 1, generation: gen } })));
    expect(full.headers.get("etag")).toBe(before.headers.get("etag"));
  });

  it("with flagConfigEtag from a stream event, never answers from an older release state (stale KV)", async () => {
    const ns = await releasedNs("fresh", { on: false });
    const stale = await env.CONFIG_KV.get(`cfg:r:${ns}`);
    const pub = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { on: true } } });
    const ro = await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: pub.body.version, plan: "immediate" } });
    const gen = ro.body.release.generation as number;
    await env.CONFIG_KV.put(`cfg:r:${ns}`, stale!);
    await sleep(300); // past the isolate's release cache
    const r = await evalBulk(ns, { targetingKey: "a" }, { query: `?flagConfigEtag=${encodeURIComponent(`"g${gen}"`)}&flagConfigLastModified=1771622898` });
    expect(r.status).toBe(200);
    expect(r.body.metadata).toMatchObject({ version: 2, generation: gen });
    // Junk metadata is ignored, not an error.
    expect((await evalBulk(ns, { targetingKey: "a" }, { query: "?flagConfigEtag=%22zzz%22" })).status).toBe(200);
  });

  it("answers an unreleased namespace with no flags", async () => {
    const ns = uniqueNs("unreleased");
    await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: { type: "object" } } });
    const r = await evalBulk(ns);
    expect(r.status).toBe(200);
    expect(r.body.flags).toEqual([]);
    expect((await evalFlag(ns, "on")).body).toMatchObject({ errorCode: "FLAG_NOT_FOUND", error: { code: "no_release" } });
  });
});

describe("OFREP CORS", () => {
  it("answers preflights allowing Authorization, Content-Type and If-None-Match, and exposes ETag", async () => {
    const ns = await releasedNs("cors");
    const pre = await SELF.fetch(`http://edgeplane.test${ofrepPath(ns)}`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,if-none-match" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    const allowed = pre.headers.get("access-control-allow-headers")!.toLowerCase().split(",");
    for (const h of ["authorization", "content-type", "if-none-match"]) expect(allowed).toContain(h);
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    const r = await evalBulk(ns, undefined, { headers: { origin: "https://app.example" } });
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("access-control-expose-headers")!.toLowerCase()).toContain("etag");
    // Errors are readable cross-origin too.
    const denied = await evalFlag(ns, "on", undefined, { token: "bad", headers: { origin: "https://app.example" } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get("access-control-allow-origin")).toBe("*");
  });
});
