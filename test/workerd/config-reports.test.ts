import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { coordinatorCalls } from "./bindings";
import { createNamespace, eventually, publish, rollout, startRollout, uniqueNs } from "./config-helpers";

/** Per isolate and (namespace, region), calls to the coordinator are at least this far apart (workers/lib/config-reports.ts). */
const FLUSH_INTERVAL_MS = 1000;

describe("health reports at scale", () => {
  it("many report requests cost the coordinator about one call per second, and the gate sees every count", async () => {
    const ns = uniqueNs("reports");
    await createNamespace(ns);
    const v1 = await publish(ns, { feature: false });
    expect((await startRollout(ns, v1, "immediate")).body.state).toBe("completed");
    const v2 = await publish(ns, { feature: true });
    const started = await startRollout(ns, v2, {
      stages: [{ regions: ["eu"], percent: 100, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }],
      auto_rollback: { max_error_rate: 0.5, min_samples: 60 },
    });
    const id = started.body.rollout_id as string;
    const reader = await tokenFor("reader", [ns]);

    const calls = coordinatorCalls();
    const t0 = Date.now();
    // 40 clients report ok, then 10 report errors: 50 candidate samples, 20 % errors (below the gate's minimum).
    for (let i = 0; i < 50; i++) {
      const r = await api("POST", `/v1/configs/${ns}/reports`, {
        token: reader,
        headers: { "x-region": "eu" },
        body: { client_id: `client-${i}`, version: v2, status: i < 40 ? "ok" : "error" },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      expect(r.body).toEqual({ accepted: 1 });
    }
    const elapsed = Date.now() - t0;
    await eventually(async () => (await rollout(ns, id)).stages[0].health.some((h: { version: number; ok: number; error: number }) => h.version === v2 && h.ok + h.error === 50));
    const view = await rollout(ns, id);
    expect(view.stages[0].health.find((h: { version: number }) => h.version === v2)).toMatchObject({ ok: 40, error: 10, regions: { eu: { ok: 40, error: 10 } } });
    expect(view.clients.eu).toEqual({ [String(v2)]: 50 });
    expect(view.state).toBe("running");
    // Calls for this key are ≥ FLUSH_INTERVAL_MS apart: one at the start, at most one per interval after.
    const reportCalls = calls.get("report") ?? 0;
    expect(reportCalls).toBeLessThanOrEqual(Math.ceil((elapsed + FLUSH_INTERVAL_MS) / FLUSH_INTERVAL_MS) + 1);
    expect(reportCalls).toBeLessThan(50);

    // 10 more errors: 60 samples, 20 errors = 33 %… still under 50 %; 40 more errors: 100 samples, 60 % → rolled back.
    const batch = Array.from({ length: 50 }, (_, i) => ({ client_id: `late-${i}`, version: v2, status: "error" }));
    expect((await api("POST", `/v1/configs/${ns}/reports`, { token: reader, headers: { "x-region": "eu" }, body: { reports: batch } })).status).toBe(202);
    await eventually(async () => (await rollout(ns, id)).state === "rolled_back");
    const done = await rollout(ns, id);
    expect(done.end_reason).toContain("automatic rollback");
  });
});
