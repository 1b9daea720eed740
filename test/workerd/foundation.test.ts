import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";

describe("foundation", () => {
  it("GET /healthz answers ok", async () => {
    const r = await api("GET", "/healthz", { token: null });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true });
  });

  it("unknown paths are JSON 404s, wrong methods JSON 405s", async () => {
    const a = await api("GET", "/nope", { token: null });
    expect(a.status).toBe(404);
    expect(a.body.error.code).toBe("not_found");
    const b = await api("DELETE", "/healthz", { token: null });
    expect(b.status).toBe(405);
    expect(b.body.error.code).toBe("method_not_allowed");
    expect(b.headers.get("allow")).toContain("GET");
  });
});

describe("tokens and auth", () => {
  it("401 without a token, 401 with a bad one, 403 with the wrong role", async () => {
    expect((await api("GET", "/admin/v1/tokens", { token: null })).status).toBe(401);
    const bad = await api("GET", "/admin/v1/tokens", { token: "nope" });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe("unauthorized");
    const reader = await tokenFor("reader");
    const f = await api("GET", "/admin/v1/tokens", { token: reader });
    expect(f.status).toBe(403);
    expect(f.body.error.code).toBe("forbidden");
  });

  it("stores only a hash of the token, and revocation stops it", async () => {
    const created = await api("POST", "/admin/v1/tokens", { body: { name: "ci", role: "admin", namespaces: ["*"] } });
    expect(created.status).toBe(201);
    const secret: string = created.body.token;
    const rows = await env.DB.prepare("SELECT * FROM tokens WHERE id = ?").bind(created.body.id).all();
    expect(JSON.stringify(rows.results)).not.toContain(secret);
    expect((await api("GET", "/admin/v1/tokens", { token: secret })).status).toBe(200);
    const del = await api("DELETE", `/admin/v1/tokens/${created.body.id}`);
    expect(del.status).toBe(200);
  });

  it("rejects a bad token request with every issue", async () => {
    const r = await api("POST", "/admin/v1/tokens", { body: { name: "", role: "king" } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("invalid_request");
    expect(r.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(["/name", "/role"]);
    const j = await api("POST", "/admin/v1/tokens", { body: "{not json" });
    expect(j.status).toBe(400);
    expect(j.body.error.code).toBe("invalid_json");
  });
});

describe("audit", () => {
  it("chains token changes and detects tampering", async () => {
    await tokenFor("viewer");
    await tokenFor("publisher", ["checkout"]);
    const list = await api("GET", "/admin/v1/audit");
    expect(list.status).toBe(200);
    expect(list.body.entries.length).toBeGreaterThanOrEqual(2);
    expect(list.body.entries[0].action).toBe("token.created");
    const ok = await api("GET", "/admin/v1/audit/verify");
    expect(ok.body.ok).toBe(true);
    await env.DB.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1").run();
    const bad = await api("GET", "/admin/v1/audit/verify");
    expect(bad.body.ok).toBe(false);
    expect(bad.body.first_bad_seq).toBe(1);
  });
});
