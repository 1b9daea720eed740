import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, uniqueNs } from "./config-helpers";

/** Issue 9 §5 (the trust engineer's part): Idempotency-Key per actor, trailing slashes, 431. */
describe("Idempotency-Key is scoped to the actor", () => {
  it("another actor with the same key and body gets its own version, never the first actor's", async () => {
    const ns = uniqueNs("idem");
    await createNamespace(ns);
    const [alice, bob] = await Promise.all([tokenFor("publisher", [ns]), tokenFor("publisher", [ns])]);
    const body = { values: { feature: true }, message: "same" };
    const headers = { "idempotency-key": "deploy-1" };
    const a1 = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: alice, body, headers });
    expect(a1.status).toBe(201);
    const b1 = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: bob, body, headers });
    expect(b1.status).toBe(201);
    expect(b1.headers.get("idempotency-replayed")).toBeNull();
    expect(b1.body.version).not.toBe(a1.body.version);
    // Each actor's own retry is still a replay of its own version.
    const a2 = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: alice, body, headers });
    expect(a2.headers.get("idempotency-replayed")).toBe("true");
    expect(a2.body.version).toBe(a1.body.version);
    const b2 = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: bob, body, headers });
    expect(b2.body.version).toBe(b1.body.version);
    // A different body under someone else's key is not "key reused" for the other actor, and the
    // first actor's key keeps its meaning.
    const admin = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { feature: false }, message: "other" }, headers });
    expect(admin.status).toBe(201);
    const reused = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: alice, body: { values: { feature: false }, message: "other" }, headers });
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe("idempotency_key_reused");
    expect(reused.body.error.details).toEqual({ version: a1.body.version });
  });
});

describe("trailing slashes", () => {
  it("answer a JSON 404 (with a hint), never a 405 whose Allow names the method used", async () => {
    for (const [method, path] of [
      ["GET", "/admin/v1/namespaces/beta/"],
      ["GET", "/admin/v1/namespaces/"],
      ["GET", "/admin/v1/tokens/"],
      ["POST", "/admin/v1/tokens/"],
      ["GET", "/healthz/"],
      ["GET", "/admin/v1/namespaces/beta/versions/"],
      ["POST", "/admin/v1/namespaces/beta/rollback/"],
    ]) {
      const r = await api(method, path, method === "POST" ? { body: {} } : {});
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error.code).toBe("not_found");
      expect(r.headers.get("allow")).toBeNull();
      expect(r.body.error.details).toEqual({ without_trailing_slash: path.replace(/\/$/, "") });
    }
    // A wrong method on a real path is still a 405 with the right Allow.
    const m = await api("DELETE", "/admin/v1/namespaces/beta");
    expect(m.status).toBe(405);
    expect(m.headers.get("allow")).not.toContain("DELETE");
  });
});

describe("oversized request headers", () => {
  it("431 in the JSON error shape, for one big header, many headers or a long URL", async () => {
    const cases: { path: string; headers: Record<string, string> }[] = [
      { path: "/healthz", headers: { "x-big": "a".repeat(40 * 1024) } },
      { path: "/v1/clicks", headers: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x-h${i}`, "b".repeat(1024)])) },
      { path: "/healthz?" + "q".repeat(40 * 1024), headers: {} },
      { path: "/admin/v1/tokens", headers: { cookie: "c=" + "d".repeat(40 * 1024) } },
    ];
    for (const c of cases) {
      const r = await api("GET", c.path, { token: null, headers: c.headers });
      expect(r.status).toBe(431);
      expect(r.headers.get("content-type")).toContain("application/json");
      expect(r.body.error).toMatchObject({ code: "headers_too_large", details: { limit_bytes: 32 * 1024 } });
    }
    expect((await api("GET", "/healthz", { token: null, headers: { "x-ok": "a".repeat(8 * 1024) } })).status).toBe(200);
  });
});
