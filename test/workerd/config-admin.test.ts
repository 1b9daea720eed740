import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, LIMITS_SCHEMA, publish, read, startRollout, uniqueNs } from "./config-helpers";

describe("auth matrix", () => {
  it("enforces roles and namespace scopes on every config route", async () => {
    const ns = uniqueNs("auth");
    const other = uniqueNs("auth-other");
    await createNamespace(ns);
    await createNamespace(other);
    await publish(ns, { feature: true });
    await startRollout(ns, 1, "immediate");
    const reader = await tokenFor("reader", [ns]);
    const viewer = await tokenFor("viewer", [ns]);
    const publisher = await tokenFor("publisher", [ns]);
    const scopedAdmin = await tokenFor("admin", [other]);

    expect((await read(ns, { token: reader })).status).toBe(200);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: reader, body: { values: { feature: true } } })).body.error.code).toBe("forbidden");
    expect((await api("PUT", `/admin/v1/namespaces/${ns}`, { token: publisher, body: { schema: true } })).status).toBe(403);
    expect((await read(ns, { token: viewer })).status).toBe(403);
    expect((await api("GET", `/admin/v1/namespaces/${ns}/release`, { token: viewer })).status).toBe(200);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { token: viewer, body: { to_version: 1, reason: "x" } })).status).toBe(403);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { token: viewer, body: { version: 1, plan: "immediate" } })).status).toBe(403);
    expect((await publish(ns, { feature: false }, publisher))).toBe(2);

    const scoped = await read(other, { token: reader });
    expect(scoped.status).toBe(403);
    expect(scoped.body.error.code).toBe("forbidden_namespace");
    for (const [method, path] of [
      ["GET", `/admin/v1/namespaces/${ns}`],
      ["GET", `/admin/v1/namespaces/${ns}/versions`],
      ["GET", `/admin/v1/namespaces/${ns}/release`],
      ["POST", `/admin/v1/namespaces/${ns}/versions`],
      ["PUT", `/admin/v1/namespaces/${ns}`],
    ] as const) {
      const r = await api(method, path, { token: scopedAdmin, body: method === "GET" ? undefined : { schema: true, values: {} } });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error.code).toBe("forbidden_namespace");
    }
    expect((await api("POST", `/v1/configs/${other}/reports`, { token: reader, body: { client_id: "a", version: 1, status: "ok" } })).status).toBe(403);
    expect((await read(ns, { token: null })).status).toBe(401);
    expect((await read(ns, { token: "not-a-token" })).status).toBe(401);

    const listed = await api("GET", "/admin/v1/namespaces", { token: viewer });
    expect(listed.body.namespaces.map((n: { name: string }) => n.name)).toEqual([ns]);
  });
});

describe("namespaces", () => {
  it("creates (201), updates (200), reads and lists with cursor paging", async () => {
    const ns = uniqueNs("nsa");
    const created = await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: LIMITS_SCHEMA, description: "first" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: ns, description: "first", approvals_required: 0, latest_version: 0, generation: 1, schema: LIMITS_SCHEMA });
    const updated = await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: LIMITS_SCHEMA, approvals_required: 1 } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ description: "first", approvals_required: 1 });
    expect((await api("GET", `/admin/v1/namespaces/${ns}`)).body.approvals_required).toBe(1);

    const names = new Set<string>();
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const r: any = await api("GET", `/admin/v1/namespaces?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(r.status).toBe(200);
      expect(r.body.namespaces.length).toBeLessThanOrEqual(2);
      for (const n of r.body.namespaces) names.add(n.name);
      cursor = r.body.next_cursor;
      if (!cursor) break;
    }
    expect(names.has(ns)).toBe(true);
    // The D1 read model follows the coordinator (latest version, active rollout, generation).
    await publish(ns, { feature: true });
    const ro = await startRollout(ns, 1, "immediate");
    const approved = await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${ro.body.rollout_id}/approve`, { token: await tokenFor("approver", [ns]) });
    expect(approved.body.state).toBe("completed");
    const row = (await api("GET", `/admin/v1/namespaces?cursor=${ns.slice(0, -1)}&limit=100`)).body.namespaces.find((n: { name: string }) => n.name === ns);
    expect(row).toMatchObject({ latest_version: 1, active_rollout_id: null, approvals_required: 1, generation: approved.body.release.generation });
    expect((await api("GET", "/admin/v1/namespaces?limit=1000")).body.error.code).toBe("invalid_query");
  });

  it("rejects bad namespace input", async () => {
    expect((await api("PUT", "/admin/v1/namespaces/Bad_Name!", { body: { schema: true } })).body.error.code).toBe("invalid_namespace");
    const ns = uniqueNs("nsbad");
    expect((await api("PUT", `/admin/v1/namespaces/${ns}`, { body: "{oops" })).body.error.code).toBe("invalid_json");
    expect((await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { description: "no schema" } })).body.error.code).toBe("invalid_request");
    expect((await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: true, approvals_required: 2 } })).status).toBe(400);
    for (const schema of [{ type: "strng" }, { properties: { a: { minLength: -1 } } }, { required: "a" }, 42, { pattern: "(" }, { $ref: "#/nope" }]) {
      const r = await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema } });
      expect(r.status, JSON.stringify(schema)).toBe(422);
      expect(r.body.error.code).toBe("invalid_schema");
      expect(r.body.error.details.length).toBeGreaterThan(0);
    }
    const missing = await api("GET", `/admin/v1/namespaces/${ns}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("namespace_not_found");
  });
});

describe("versions", () => {
  it("reports every schema violation with a JSON pointer", async () => {
    const ns = uniqueNs("val");
    await createNamespace(ns);
    const r = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { limits: { max: 5000.5, extra: 1 }, name: "" }, message: "bad" } });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe("validation_failed");
    const pointers = r.body.error.details.map((d: { pointer: string }) => d.pointer).sort();
    expect(pointers).toEqual(["", "/limits/extra", "/limits/max", "/limits/max", "/name"]);
    for (const d of r.body.error.details) expect(typeof d.message).toBe("string");
    const v = await api("POST", `/admin/v1/namespaces/${ns}/validate`, { body: { values: { limits: { max: 5000 } } } });
    expect(v.status).toBe(422);
    expect(v.body.error.details.map((d: { pointer: string }) => d.pointer).sort()).toEqual(["", "/limits/max"]);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/validate`, { body: { values: { feature: true } } })).body).toEqual({ valid: true });
    expect((await api("GET", `/admin/v1/namespaces/${ns}`)).body.latest_version).toBe(0);
  });

  it("rejects malformed and oversized bodies, unknown namespaces and versions", async () => {
    const ns = uniqueNs("bad");
    await createNamespace(ns, { schema: true });
    const post = (body: unknown) => api("POST", `/admin/v1/namespaces/${ns}/versions`, { body });
    expect((await post("{nope")).body.error.code).toBe("invalid_json");
    expect((await post({ values: [1, 2] })).body.error.code).toBe("invalid_request");
    expect((await post({ values: "x" })).status).toBe(400);
    expect((await post({ message: "no values" })).status).toBe(400);
    const big = await post({ values: { blob: "x".repeat(270 * 1024) } });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    const huge = await post({ values: { blob: "x".repeat(400 * 1024) } });
    expect(huge.status).toBe(413);
    const fits = await post({ values: { blob: "x".repeat(250 * 1024) } });
    expect(fits.status).toBe(201);
    const ghost = uniqueNs("ghost");
    expect((await api("POST", `/admin/v1/namespaces/${ghost}/versions`, { body: { values: {} } })).body.error.code).toBe("namespace_not_found");
    expect((await api("GET", `/admin/v1/namespaces/${ns}/versions/7`)).body.error.code).toBe("version_not_found");
    expect((await api("GET", `/admin/v1/namespaces/${ns}/versions/seven`)).body.error.code).toBe("invalid_version");
    expect((await api("GET", `/admin/v1/namespaces/${ns}/versions/1/diff`)).body.error.code).toBe("invalid_version");
  });

  it("makes retries safe with Idempotency-Key", async () => {
    const ns = uniqueNs("idem");
    await createNamespace(ns);
    const body = { values: { feature: true }, message: "first" };
    const a = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body, headers: { "idempotency-key": "deploy-42" } });
    expect(a.status).toBe(201);
    const b = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body, headers: { "idempotency-key": "deploy-42" } });
    expect(b.status).toBe(201);
    expect(b.headers.get("idempotency-replayed")).toBe("true");
    expect(b.body).toEqual(a.body);
    const c = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { ...body, message: "changed" }, headers: { "idempotency-key": "deploy-42" } });
    expect(c.status).toBe(422);
    expect(c.body.error.code).toBe("idempotency_key_reused");
    expect((await api("GET", `/admin/v1/namespaces/${ns}/versions`)).body.versions.length).toBe(1);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body, headers: { "idempotency-key": "bad key" } })).body.error.code).toBe("invalid_idempotency_key");
  });

  it("lists newest first with cursor paging, returns values and diffs", async () => {
    const ns = uniqueNs("list");
    await createNamespace(ns);
    for (let i = 1; i <= 5; i++) await publish(ns, { feature: i % 2 === 0, limits: { max: i } });
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const r: any = await api("GET", `/admin/v1/namespaces/${ns}/versions?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...r.body.versions.map((v: { version: number }) => v.version));
      for (const v of r.body.versions) expect(v).not.toHaveProperty("values");
      cursor = r.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual([5, 4, 3, 2, 1]);
    const v3 = await api("GET", `/admin/v1/namespaces/${ns}/versions/3`);
    expect(v3.body).toMatchObject({ version: 3, values: { feature: false, limits: { max: 3 } }, message: "test", author: "admin:bootstrap" });
    expect(v3.body.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    const diff = await api("GET", `/admin/v1/namespaces/${ns}/versions/4/diff?against=3`);
    expect(diff.status).toBe(200);
    expect(diff.body.patch).toEqual(
      expect.arrayContaining([
        { op: "replace", path: "/feature", value: true },
        { op: "replace", path: "/limits/max", value: 4 },
      ]),
    );
    expect(diff.body.patch.length).toBe(2);
    expect((await api("GET", `/admin/v1/namespaces/${ns}/versions/4/diff?against=9`)).body.error.code).toBe("version_not_found");
    expect((await api("GET", `/admin/v1/namespaces/${ns}/versions?limit=101`)).status).toBe(400);
  });
});

describe("rollout plans", () => {
  it("rejects invalid plans with every issue", async () => {
    const ns = uniqueNs("plan");
    await createNamespace(ns);
    await publish(ns, { feature: true });
    const bad: unknown[] = [
      "yolo",
      { stages: [] },
      { stages: [{ regions: ["mars"], percent: 100, bake_seconds: 0 }] },
      { stages: [{ regions: ["eu"], percent: 50, bake_seconds: 0 }, { regions: ["eu"], percent: 10, bake_seconds: 0 }, { regions: "*", percent: 100, bake_seconds: 0 }] },
      { stages: [{ regions: ["eu"], percent: 100, bake_seconds: 0 }] },
      { stages: [{ regions: "*", percent: 0, bake_seconds: 0 }] },
      { stages: [{ regions: "*", percent: 33.333, bake_seconds: 0 }] },
      { stages: [{ regions: "*", percent: 100, bake_seconds: -1 }] },
      { stages: Array.from({ length: 51 }, () => ({ regions: "*", percent: 100, bake_seconds: 0 })) },
      { stages: [{ regions: "*", percent: 100, bake_seconds: 0 }], auto_rollback: { max_error_rate: 2, min_samples: 0 } },
      { preset: "canary", bake_seconds: "soon" },
    ];
    for (const plan of bad) {
      const r = await startRollout(ns, 1, plan);
      expect(r.status, JSON.stringify(plan)).toBe(422);
      expect(r.body.error.code).toBe("invalid_plan");
      expect(r.body.error.details.length).toBeGreaterThan(0);
    }
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: 1 } })).body.error.code).toBe("invalid_plan");
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: "one", plan: "immediate" } })).status).toBe(400);
  });

  it("expands the canary preset region by region", async () => {
    const ns = uniqueNs("canary");
    await createNamespace(ns);
    await publish(ns, { feature: true });
    const r = await startRollout(ns, 1, "canary");
    expect(r.status).toBe(201);
    expect(r.body.preset).toBe("canary");
    expect(r.body.stages[0]).toMatchObject({ regions: ["na"], percent: 1, bake_seconds: 600 });
    expect(r.body.stages.length).toBe(9);
    expect(r.body.stages[8]).toMatchObject({ regions: "*", percent: 100 });
    expect(r.body.release.regions.na).toMatchObject({ candidate: 1, percent: 1 });
  });
});

describe("audit", () => {
  it("records every change of the config product and the chain verifies", async () => {
    const ns = uniqueNs("aud");
    await createNamespace(ns);
    await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: LIMITS_SCHEMA, description: "changed" } });
    await publish(ns, { feature: true });
    await publish(ns, { feature: false });
    await startRollout(ns, 1, "immediate");
    const ctl = async (id: string, action: string, token?: string) => expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/${action}`, { token })).status).toBe(200);
    const plan = { stages: [{ regions: ["eu"], percent: 10, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }] };
    const a = (await startRollout(ns, 2, plan)).body.rollout_id;
    await ctl(a, "pause");
    await ctl(a, "resume");
    await ctl(a, "promote");
    const b = (await startRollout(ns, 1, plan)).body.rollout_id;
    await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 2, reason: "bad" } });
    await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: LIMITS_SCHEMA, approvals_required: 1 } });
    const c = (await startRollout(ns, 1, plan)).body.rollout_id;
    await ctl(c, "approve", await tokenFor("approver", [ns]));
    await ctl(c, "abort");
    expect(b).not.toBe(c);

    const entries = (await api("GET", `/admin/v1/audit?namespace=${ns}&limit=1000`)).body.entries as { action: string; actor: string; rollout_id: string | null }[];
    const actions = entries.map((e) => e.action);
    expect(actions).toEqual([
      "namespace.created",
      "namespace.updated",
      "version.created",
      "version.created",
      "rollout.started",
      "rollout.completed",
      "rollout.started",
      "rollout.paused",
      "rollout.resumed",
      "rollout.promoted",
      "rollout.advanced",
      "rollout.completed",
      "rollout.started",
      "rollout.rolled_back",
      "release.rolled_back",
      "namespace.updated",
      "rollout.started",
      "rollout.approved",
      "rollout.aborted",
    ]);
    expect(entries[0].actor).toBe("admin:bootstrap");
    expect((await api("GET", "/admin/v1/audit/verify")).body.ok).toBe(true);
    const d1 = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE namespace = ?").bind(ns).first<{ n: number }>();
    expect(d1!.n).toBe(actions.length);
  });
});
