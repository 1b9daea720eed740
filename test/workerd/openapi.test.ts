// GET /openapi.json is the contract: it names exactly the routes the Worker mounts, its examples are
// valid requests, and the Worker's real answers match its response schemas.
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { app } from "../../workers/index";
import { OPERATIONS, responsesOf, STATIC_ROUTES, type Operation } from "../../workers/openapi/operations";
import { api, tokenFor } from "./helpers";

const key = (method: string, path: string) => `${method} ${path}`;
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

function operation(method: string, path: string): Operation {
  const op = OPERATIONS.find((o) => o.method === method && o.path === path);
  if (!op) throw new Error(`no operation ${method} ${path}`);
  return op;
}

/** Asserts that a real answer has a documented status and matches that status's schema. */
function conforms(method: string, path: string, res: { status: number; body: unknown }): void {
  const documented = responsesOf(operation(method, path))[res.status];
  expect(documented, `${method} ${path} answered ${res.status}, which it does not document: ${JSON.stringify(res.body)}`).toBeDefined();
  const schema = documented!.schema as z.ZodType | undefined;
  if (!schema) return;
  const parsed = schema.safeParse(res.body);
  expect(parsed.success, `${method} ${path} ${res.status}: ${parsed.success ? "" : JSON.stringify(parsed.error.issues)}`).toBe(true);
}

describe("the OpenAPI document", () => {
  it("has one operation per mounted route, and no operation without a route", () => {
    const mounted = new Set(app.routes.filter((r) => r.method !== "ALL").map((r) => key(r.method, r.path)));
    const documented = new Set(OPERATIONS.map((o) => key(o.method, o.path)));
    const statics = new Set(STATIC_ROUTES);
    expect([...mounted].filter((r) => !documented.has(r) && !statics.has(r)), "mounted routes without an operation in workers/openapi/operations.ts").toEqual([]);
    expect([...documented].filter((r) => !mounted.has(r)), "operations without a route").toEqual([]);
    expect([...statics].filter((r) => !mounted.has(r))).toEqual([]);
  });

  it("is served at GET /openapi.json as OpenAPI 3.1 with every operation", async () => {
    const r = await api("GET", "/openapi.json", { token: null });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.body.openapi).toBe("3.1.0");
    for (const op of OPERATIONS) {
      const item = r.body.paths[toOpenApiPath(op.path)]?.[op.method.toLowerCase()];
      expect(item, `${op.method} ${op.path}`).toBeDefined();
      expect(Object.keys(item.responses)).toEqual(expect.arrayContaining(Object.keys(op.responses)));
      if (op.body) expect(item.requestBody?.content?.["application/json"]?.schema, `${op.method} ${op.path} request body`).toBeDefined();
      for (const name of op.path.match(/:([A-Za-z0-9_]+)/g) ?? []) {
        expect(item.parameters.some((p: { in: string; name: string }) => p.in === "path" && p.name === name.slice(1)), `${op.path} ${name}`).toBe(true);
      }
      if (op.permission) expect(item.security).toEqual([{ bearer: [] }]);
    }
    // Shared schemas are components; every reference resolves.
    expect(r.body.paths["/admin/v1/namespaces/{ns}/rollouts"].post.requestBody.content["application/json"].schema.properties.plan).toEqual({ $ref: "#/components/schemas/RolloutPlan" });
    expect(JSON.stringify(r.body.components.schemas.RolloutPlan)).toContain("canary");
    const refs = [...JSON.stringify(r.body).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    expect(refs.filter((name) => !r.body.components.schemas[name])).toEqual([]);
  });

  it("has request examples that its own schemas accept", () => {
    const withBody = OPERATIONS.filter((o) => o.body);
    expect(withBody.length).toBeGreaterThan(8);
    for (const op of withBody) {
      expect(op.example, `${op.method} ${op.path} has no example`).toBeDefined();
      const parsed = op.body!.safeParse(op.example);
      expect(parsed.success, `${op.method} ${op.path}: ${parsed.success ? "" : JSON.stringify(parsed.error.issues)}`).toBe(true);
    }
  });
});

describe("real answers match the documented schemas", () => {
  it("config admin, edge reads and reports, access, clicks and metrics", async () => {
    const call = async (method: Operation["method"], template: string, path: string, body?: unknown, token?: string) => {
      const r = await api(method, path, { body, token, headers: { "x-region": "eu" } });
      conforms(method, template, r);
      return r;
    };
    const N = "/admin/v1/namespaces/:ns";
    const ex = (method: string, path: string) => operation(method, path).example;

    expect((await call("PUT", N, "/admin/v1/namespaces/checkout", ex("PUT", N))).status).toBe(201);
    expect((await call("PUT", N, "/admin/v1/namespaces/checkout", ex("PUT", N))).status).toBe(200);
    await call("GET", "/admin/v1/namespaces", "/admin/v1/namespaces");
    await call("GET", N, "/admin/v1/namespaces/checkout");
    expect((await call("POST", `${N}/versions`, "/admin/v1/namespaces/checkout/versions", { values: { max_items: 10 } })).status).toBe(201);
    expect((await call("POST", `${N}/versions`, "/admin/v1/namespaces/checkout/versions", ex("POST", `${N}/versions`))).status).toBe(201);
    expect((await call("POST", `${N}/validate`, "/admin/v1/namespaces/checkout/validate", ex("POST", `${N}/validate`))).status).toBe(422);
    expect((await call("POST", `${N}/validate`, "/admin/v1/namespaces/checkout/validate", { values: { max_items: 5 } })).status).toBe(200);
    await call("GET", `${N}/versions`, "/admin/v1/namespaces/checkout/versions");
    await call("GET", `${N}/versions/:v`, "/admin/v1/namespaces/checkout/versions/2");
    expect((await call("GET", `${N}/versions/:v`, "/admin/v1/namespaces/checkout/versions/9")).status).toBe(404);
    await call("GET", `${N}/versions/:v/diff`, "/admin/v1/namespaces/checkout/versions/2/diff?against=1");

    expect((await call("POST", `${N}/rollouts`, "/admin/v1/namespaces/checkout/rollouts", { version: 1, plan: "immediate" })).status).toBe(201);
    const started = await call("POST", `${N}/rollouts`, "/admin/v1/namespaces/checkout/rollouts", ex("POST", `${N}/rollouts`));
    expect(started.status).toBe(201);
    expect((await call("POST", `${N}/rollouts`, "/admin/v1/namespaces/checkout/rollouts", { version: 2, plan: "canary" })).status).toBe(409);
    await call("GET", `${N}/rollouts`, "/admin/v1/namespaces/checkout/rollouts");
    await call("GET", `${N}/rollouts/:id`, "/admin/v1/namespaces/checkout/rollouts/current");
    await call("POST", `${N}/rollouts/:id/:action`, `/admin/v1/namespaces/checkout/rollouts/${started.body.rollout_id}/pause`);
    await call("GET", `${N}/release`, "/admin/v1/namespaces/checkout/release");

    const reader = await tokenFor("reader", ["checkout"]);
    const read = await call("GET", "/v1/configs/:ns", "/v1/configs/checkout?client_id=device-42", undefined, reader);
    expect(read.status).toBe(200);
    expect((await call("POST", "/v1/configs/:ns/reports", "/v1/configs/checkout/reports", ex("POST", "/v1/configs/:ns/reports"), reader)).status).toBe(202);
    expect((await call("GET", N, "/admin/v1/namespaces/checkout", undefined, reader)).status).toBe(403);
    expect((await call("POST", `${N}/rollback`, "/admin/v1/namespaces/checkout/rollback", ex("POST", `${N}/rollback`))).status).toBe(200);

    const created = await call("POST", "/admin/v1/tokens", "/admin/v1/tokens", ex("POST", "/admin/v1/tokens"));
    expect(created.status).toBe(201);
    await call("GET", "/admin/v1/tokens", "/admin/v1/tokens");
    await call("DELETE", "/admin/v1/tokens/:id", `/admin/v1/tokens/${created.body.id}`);
    await call("GET", "/admin/v1/audit", "/admin/v1/audit?namespace=checkout");
    await call("GET", "/admin/v1/audit/verify", "/admin/v1/audit/verify");

    const events = { events: [{ click_id: "clk-openapi-0001", campaign_id: "spring", ad_id: "banner-1", ts: Date.now() }] };
    expect((await call("POST", "/v1/clicks", "/v1/clicks", events, "")).status).toBe(200);
    expect((await call("POST", "/admin/v1/click-links", "/admin/v1/click-links", ex("POST", "/admin/v1/click-links"))).status).toBe(201);
    await call("GET", "/api/v1/clicks/metrics", "/api/v1/clicks/metrics?granularity=minute&group_by=campaign,region");
    await call("GET", "/api/v1/clicks/top", "/api/v1/clicks/top?by=ad");
    await call("GET", "/api/v1/clicks/ingest-stats", "/api/v1/clicks/ingest-stats");
    await call("GET", "/api/v1/clicks/pipeline", "/api/v1/clicks/pipeline");
    expect((await call("GET", "/api/v1/clicks/metrics", "/api/v1/clicks/metrics?granularity=week")).status).toBe(400);
  });
});

describe("docs/api.md", () => {
  it("names every operation", async () => {
    const doc = (await import("../../docs/api.md?raw")).default;
    const missing = OPERATIONS.map((o) => `\`${o.method} ${toOpenApiPath(o.path)}\``).filter((line) => !doc.includes(line));
    expect(missing).toEqual([]);
  });
});
