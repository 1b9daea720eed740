import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, http, type DevServer } from "./server";

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  await server?.dispose();
});

describe("wrangler dev smoke", () => {
  it("serves /healthz and JSON errors", async () => {
    const h = await http(server.url, "GET", "/healthz", { token: null });
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ ok: true });
    const nf = await http(server.url, "GET", "/no/such/route", { token: null });
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe("not_found");
  });

  it("bootstraps tokens from ADMIN_TOKEN and keeps state across a SIGKILL", async () => {
    const t = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "survivor", role: "viewer", namespaces: ["*"] } });
    expect(t.status).toBe(201);
    await server.kill();
    await server.restart();
    const list = await http(server.url, "GET", "/admin/v1/tokens");
    expect(list.body.tokens.map((x: { name: string }) => x.name)).toContain("survivor");
    const viewer = await http(server.url, "GET", "/admin/v1/audit", { token: t.body.token });
    expect(viewer.status).toBe(200);
  });
});
