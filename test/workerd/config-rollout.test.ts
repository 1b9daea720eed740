import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, eventually, injectCoordinatorFaults, publish, read, release, rollout, runAlarmsUntil, sleep, startRollout, stubFor, uniqueNs } from "./config-helpers";

const ALL = ["na", "sa", "eu", "af", "as", "oc", "an"];

/** A namespace with v1 stable everywhere and v2 published (not released). */
async function withStableV1(prefix: string, extra: Record<string, unknown> = {}): Promise<string> {
  const ns = uniqueNs(prefix);
  await createNamespace(ns, extra);
  const v1 = await publish(ns, { feature: false, name: "one" });
  if (extra.approvals_required === 1) {
    const r = await startRollout(ns, v1, "immediate");
    const approver = await tokenFor("approver", [ns]);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${r.body.rollout_id}/approve`, { token: approver })).status).toBe(200);
  } else {
    expect((await startRollout(ns, v1, "immediate")).body.state).toBe("completed");
  }
  expect(await publish(ns, { feature: true, name: "two" })).toBe(2);
  return ns;
}

async function waitUntilDue(ns: string): Promise<void> {
  const ro = await rollout(ns);
  const due = Date.parse(ro.next_advance_at);
  const wait = due - Date.now();
  if (wait > 0) await sleep(wait + 50);
}

describe("immediate rollout and edge reads", () => {
  it("publishes, rolls out at once and serves the version in every region", async () => {
    const ns = uniqueNs("imm");
    await createNamespace(ns);
    const none = await read(ns, { region: "eu", client: "c1" });
    expect(none.status).toBe(404);
    expect(none.body.error.code).toBe("no_release");
    const v1 = await publish(ns, { feature: true, limits: { max: 5 } });
    const ro = await startRollout(ns, v1, "immediate");
    expect(ro.status).toBe(201);
    expect(ro.body.state).toBe("completed");
    const rel = await release(ns);
    expect(rel.stable).toBe(v1);
    for (const region of [...ALL, "zz"]) {
      const r = await read(ns, { region, client: `c-${region}`, gen: rel.generation });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ namespace: ns, version: v1, generation: rel.generation, values: { feature: true, limits: { max: 5 } } });
      expect(r.headers.get("x-config-version")).toBe(String(v1));
    }
  });
});

describe("staged rollout driven by the alarm", () => {
  it("advances stage by stage on its own and completes", async () => {
    const ns = await withStableV1("staged");
    const plan = {
      stages: [
        // Long enough that the runtime's own alarm cannot move it while the test reads stage 0.
        { regions: ["eu"], percent: 50, bake_seconds: 4 },
        { regions: ["eu", "na"], percent: 100, bake_seconds: 1 },
        { regions: "*", percent: 100, bake_seconds: 0 },
      ],
    };
    const started = await startRollout(ns, 2, plan);
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ state: "running", stage_index: 0, version: 2, from_version: 1, stage_count: 3 });
    const id = started.body.rollout_id as string;
    expect(started.body.release.regions.eu).toEqual({ stable: 1, candidate: 2, percent: 50, rollout_id: id });
    expect(started.body.release.regions.na).toEqual({ stable: 1, candidate: null, percent: 0, rollout_id: null });

    // Half of eu's clients get v2, stickily; na stays on v1; a client without id gets stable.
    const gen0 = started.body.release.generation as number;
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await read(ns, { region: "eu", client: `client-${i}`, gen: gen0 });
      expect(r.status).toBe(200);
      seen.set(`client-${i}`, r.body.version);
    }
    const onCandidate = [...seen.values()].filter((v) => v === 2).length;
    expect(onCandidate).toBeGreaterThan(10);
    expect(onCandidate).toBeLessThan(50);
    for (let i = 0; i < 60; i += 7) expect((await read(ns, { region: "eu", client: `client-${i}` })).body.version).toBe(seen.get(`client-${i}`));
    expect((await read(ns, { region: "na", client: "client-1" })).body.version).toBe(1);
    expect((await read(ns, { region: "eu" })).body.version).toBe(1);

    // The alarm does nothing before the bake time is over.
    await runDurableObjectAlarm(stubFor(ns));
    expect((await rollout(ns, id)).stage_index).toBe(0);

    await waitUntilDue(ns);
    await runAlarmsUntil(ns, async () => (await rollout(ns, id)).stage_index === 1);
    const s1 = await rollout(ns, id);
    expect(s1.state).toBe("running");
    expect(s1.release.regions.na).toMatchObject({ candidate: 2, percent: 100 });
    expect(s1.stages[1].started_at).not.toBeNull();
    // Clients that were on v2 stay on it when the percent grows.
    for (const [client, v] of seen) if (v === 2) expect((await read(ns, { region: "eu", client, gen: s1.release.generation })).body.version).toBe(2);

    await waitUntilDue(ns);
    await runAlarmsUntil(ns, async () => (await rollout(ns, id)).state === "completed");
    const rel = await release(ns);
    expect(rel.stable).toBe(2);
    for (const region of ALL) expect(rel.regions[region]).toEqual({ stable: 2, candidate: null, percent: 0, rollout_id: null });
    expect((await read(ns, { region: "as", client: "x", gen: rel.generation })).body.version).toBe(2);
    expect((await api("GET", `/admin/v1/namespaces/${ns}/rollouts/current`)).body.error.code).toBe("no_active_rollout");
  });

  it("survives eviction of the coordinator mid-rollout", async () => {
    const ns = await withStableV1("evict");
    const started = await startRollout(ns, 2, {
      stages: [
        { regions: ["as"], percent: 10, bake_seconds: 3 },
        { regions: "*", percent: 100, bake_seconds: 1 },
      ],
    });
    const id = started.body.rollout_id;
    await evictDurableObject(stubFor(ns));
    const run = runInDurableObject as unknown as (stub: DurableObjectStub, fn: (i: unknown, state: DurableObjectState) => string) => Promise<string>;
    const schemaVersion = await run(stubFor(ns), (_i, state) => String(state.storage.sql.exec("SELECT value FROM meta WHERE key = 'schema_version'").one().value));
    expect(schemaVersion).toBe("1");
    const after = await rollout(ns, id);
    expect(after).toMatchObject({ state: "running", stage_index: 0, version: 2 });
    expect(after.release.regions.as).toMatchObject({ candidate: 2, percent: 10 });
    await waitUntilDue(ns);
    await runAlarmsUntil(ns, async () => (await rollout(ns, id)).stage_index === 1);
    await evictDurableObject(stubFor(ns));
    await waitUntilDue(ns);
    await runAlarmsUntil(ns, async () => (await rollout(ns, id)).state === "completed");
    expect((await release(ns)).stable).toBe(2);
  });
});

describe("controls", () => {
  const LONG = {
    stages: [
      { regions: ["eu"], percent: 5, bake_seconds: 3600 },
      { regions: ["eu"], percent: 50, bake_seconds: 3600 },
      { regions: "*", percent: 100, bake_seconds: 3600 },
    ],
  };
  const ctl = (ns: string, id: string, action: string, token?: string) => api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/${action}`, { token });

  it("pause keeps the remaining bake, resume, promote skips the bake, abort returns to stable", async () => {
    const ns = await withStableV1("ctl");
    const publisher = await tokenFor("publisher", [ns]);
    const { body } = await startRollout(ns, 2, LONG, publisher);
    const id = body.rollout_id;

    const paused = await ctl(ns, id, "pause", publisher);
    expect(paused.status).toBe(200);
    expect(paused.body.state).toBe("paused");
    expect(paused.body.paused_remaining_seconds).toBeGreaterThan(3500);
    expect(paused.body.next_advance_at).toBeNull();
    expect((await ctl(ns, id, "pause", publisher)).body.error).toMatchObject({ code: "invalid_state", details: { state: "paused" } });
    expect((await ctl(ns, id, "promote", publisher)).status).toBe(409);
    await runDurableObjectAlarm(stubFor(ns));
    expect((await rollout(ns, id)).state).toBe("paused");

    const resumed = await ctl(ns, id, "resume", publisher);
    expect(resumed.body.state).toBe("running");
    expect(Date.parse(resumed.body.next_advance_at) - Date.now()).toBeGreaterThan(3500_000);

    const promoted = await ctl(ns, id, "promote", publisher);
    expect(promoted.body).toMatchObject({ state: "running", stage_index: 1 });
    expect(promoted.body.release.regions.eu).toMatchObject({ candidate: 2, percent: 50 });

    const aborted = await ctl(ns, id, "abort", publisher);
    expect(aborted.body.state).toBe("aborted");
    const rel = await release(ns);
    expect(rel.stable).toBe(1);
    for (const region of ALL) expect(rel.regions[region].candidate).toBeNull();
    for (let i = 0; i < 20; i++) expect((await read(ns, { region: "eu", client: `k${i}`, gen: rel.generation })).body.version).toBe(1);
    for (const action of ["resume", "promote", "abort", "approve"]) {
      const r = await ctl(ns, id, action);
      expect(r.status).toBe(409);
      expect(r.body.error.details.state).toBe("aborted");
    }
    expect((await ctl(ns, id, "explode")).status).toBe(404);
    expect((await ctl(ns, "ro_nope", "pause")).body.error.code).toBe("rollout_not_found");
  });

  it("allows one active rollout per namespace and refuses re-releasing the stable version", async () => {
    const ns = await withStableV1("conc");
    const first = await startRollout(ns, 2, LONG);
    expect(first.status).toBe(201);
    const second = await startRollout(ns, 2, "immediate");
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: "rollout_in_progress", details: { rollout_id: first.body.rollout_id } });
    const [a, b] = await Promise.all([startRollout(ns, 1, "immediate"), startRollout(ns, 2, "immediate")]);
    expect([a.status, b.status]).toEqual([409, 409]);
    await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${first.body.rollout_id}/abort`);
    const same = await startRollout(ns, 1, "immediate");
    expect(same.status).toBe(409);
    expect(same.body.error.code).toBe("already_released");
    const missing = await startRollout(ns, 42, "immediate");
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("version_not_found");
  });

  it("needs a second person to approve when approvals_required = 1", async () => {
    const ns = await withStableV1("appr", { approvals_required: 1 });
    const publisher = await tokenFor("publisher", [ns]);
    const starter = await tokenFor("admin", [ns]);
    const other = await tokenFor("approver", [ns]);
    expect((await startRollout(ns, 2, "immediate", other)).status).toBe(403);
    const started = await startRollout(ns, 2, "immediate", starter);
    expect(started.body.state).toBe("pending_approval");
    expect((await release(ns)).regions.eu.candidate).toBeNull();
    const id = started.body.rollout_id;
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/approve`, { token: publisher })).body.error.code).toBe("forbidden");
    const self = await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/approve`, { token: starter });
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe("self_approval");
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/promote`, { token: other })).status).toBe(409);
    const ok = await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/approve`, { token: other });
    expect(ok.status).toBe(200);
    expect(ok.body.state).toBe("completed");
    expect(ok.body.approved_by).toContain("token:");
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/approve`, { token: other })).status).toBe(409);
    expect((await release(ns)).stable).toBe(2);
  });
});

describe("rollbacks", () => {
  it("emergency rollback moves every region back at once and cancels the rollout", async () => {
    const ns = await withStableV1("emerg");
    const started = await startRollout(ns, 2, { stages: [{ regions: ["eu", "na"], percent: 100, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }] });
    expect((await read(ns, { region: "eu", client: "a", gen: started.body.release.generation })).body.version).toBe(2);
    const rb = await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 1, reason: "checkout errors" } });
    expect(rb.status).toBe(200);
    expect(rb.body.stable).toBe(1);
    for (const region of ALL) expect(rb.body.regions[region]).toEqual({ stable: 1, candidate: null, percent: 0, rollout_id: null });
    expect((await rollout(ns, started.body.rollout_id)).state).toBe("rolled_back");
    for (const region of ["eu", "na", "as"]) expect((await read(ns, { region, client: "a", gen: rb.body.generation })).body.version).toBe(1);
    // Rolling "forward" to a later version is allowed too, and unknown versions are refused.
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 2, reason: "fixed" } })).body.stable).toBe(2);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 9, reason: "x" } })).body.error.code).toBe("version_not_found");
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 1 } })).status).toBe(400);
  });

  it("rolls back automatically when the candidate's error rate breaches the gate", async () => {
    const ns = await withStableV1("auto");
    const reader = await tokenFor("reader", [ns]);
    const started = await startRollout(ns, 2, {
      stages: [{ regions: ["eu"], percent: 100, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }],
      auto_rollback: { max_error_rate: 0.2, min_samples: 10 },
    });
    const id = started.body.rollout_id;
    const send = (reports: unknown[]) => api("POST", `/v1/configs/${ns}/reports`, { token: reader, headers: { "x-region": "eu" }, body: { reports } });
    // Errors on the stable version and too few candidate samples do not trigger it.
    expect((await send(Array.from({ length: 20 }, (_, i) => ({ client_id: `s${i}`, version: 1, status: "error" })))).status).toBe(202);
    const few = await send(Array.from({ length: 9 }, (_, i) => ({ client_id: `c${i}`, version: 2, status: "error", error: "boom" })));
    expect(few.body).toEqual({ accepted: 9 });
    await runDurableObjectAlarm(stubFor(ns));
    await eventually(async () => JSON.stringify((await rollout(ns, id)).clients.eu) === JSON.stringify({ "1": 20, "2": 9 }));
    const mid = await rollout(ns, id);
    expect(mid.state).toBe("running");
    expect(mid.stages[0].health).toEqual(
      expect.arrayContaining([
        { version: 1, ok: 0, error: 20, regions: { eu: { ok: 0, error: 20 } } },
        { version: 2, ok: 0, error: 9, regions: { eu: { ok: 0, error: 9 } } },
      ]),
    );
    expect(mid.clients.eu).toEqual({ "1": 20, "2": 9 });
    // The tenth candidate report makes 9/10 errors > 20%.
    expect((await api("POST", `/v1/configs/${ns}/reports`, { token: reader, headers: { "x-region": "eu" }, body: { client_id: "c9", version: 2, status: "ok" } })).status).toBe(202);
    await eventually(async () => (await rollout(ns, id)).state === "rolled_back");
    const after = await rollout(ns, id);
    expect(after.end_reason).toContain("automatic rollback");
    const rel = await release(ns);
    expect(rel.stable).toBe(1);
    expect(rel.regions.eu.candidate).toBeNull();
    expect((await read(ns, { region: "eu", client: "c1", gen: rel.generation })).body.version).toBe(1);
    const audit = await api("GET", `/admin/v1/audit?namespace=${ns}`);
    const entry = audit.body.entries.find((e: { action: string }) => e.action === "rollout.auto_rolled_back");
    expect(entry.details).toMatchObject({ samples: 10, errors: 9, error_rate: 0.9, max_error_rate: 0.2, min_samples: 10, stage_index: 0 });
  });
});

describe("health gate while paused", () => {
  it("counts reports during a pause and applies the gate when the rollout resumes", async () => {
    const ns = await withStableV1("pausegate");
    const reader = await tokenFor("reader", [ns]);
    const started = await startRollout(ns, 2, {
      stages: [{ regions: ["na"], percent: 100, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }],
      auto_rollback: { max_error_rate: 0.5, min_samples: 4 },
    });
    const id = started.body.rollout_id;
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/pause`)).body.state).toBe("paused");
    const reports = Array.from({ length: 4 }, (_, i) => ({ client_id: `p${i}`, version: 2, status: "error" }));
    expect((await api("POST", `/v1/configs/${ns}/reports`, { token: reader, headers: { "x-region": "na" }, body: { reports } })).status).toBe(202);
    expect((await rollout(ns, id)).state).toBe("paused");
    const resumed = await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/resume`);
    expect(resumed.body.state).toBe("rolled_back");
    expect((await release(ns)).regions.na.candidate).toBeNull();
  });
});

describe("outbox", () => {
  it("retries a failed KV write from the alarm; reads fall back to the coordinator meanwhile", async () => {
    const ns = await withStableV1("outbox");
    await injectCoordinatorFaults(ns, { kv: 1 });
    const v3 = await publish(ns, { feature: true, name: "three" });
    expect(await env.CONFIG_KV.get(`cfg:v:${ns}:${v3}`)).toBeNull();
    const pinned = await read(ns, { version: v3, client: "p" });
    expect(pinned.status).toBe(200);
    expect(pinned.body.values.name).toBe("three");
    await runAlarmsUntil(ns, async () => (await env.CONFIG_KV.get(`cfg:v:${ns}:${v3}`)) !== null);
    expect(JSON.parse((await env.CONFIG_KV.get(`cfg:v:${ns}:${v3}`))!)).toMatchObject({ namespace: ns, version: v3, values: { name: "three" } });
  });

  it("retries a failed audit append and the chain still verifies", async () => {
    const ns = await withStableV1("outbox-audit");
    await injectCoordinatorFaults(ns, { d1: 1 });
    const v3 = await publish(ns, { feature: true, name: "three" });
    const actions = async () => (await api("GET", `/admin/v1/audit?namespace=${ns}&limit=1000`)).body.entries.filter((e: any) => e.action === "version.created").map((e: any) => e.version);
    expect(await actions()).toEqual([1, 2]);
    await runAlarmsUntil(ns, async () => (await actions()).includes(v3));
    expect(await actions()).toEqual([1, 2, 3]);
    expect((await api("GET", "/admin/v1/audit/verify")).body.ok).toBe(true);
  });
});
