import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { coordinatorDown, d1Down, kvReadsFail, restoreBindings } from "./bindings";
import { countsFor, drainPipeline, events, postClicks, uniqueCampaign } from "./clicks-helpers";
import { createNamespace, kvRelease, publish, read, sleep, startRollout, uniqueNs } from "./config-helpers";

/** Longer than a valid token verdict is cached per isolate (workers/lib/auth.ts). */
const AUTH_CACHE_EXPIRES_MS = 2100;

async function releasedNamespace(prefix: string): Promise<string> {
  const ns = uniqueNs(prefix);
  await createNamespace(ns);
  const v1 = await publish(ns, { feature: true, name: "one" });
  expect((await startRollout(ns, v1, "immediate")).body.state).toBe("completed");
  await kvRelease(ns); // KV (the fallback) gets release writes ≥ 1 s apart: wait for this one
  return ns;
}

describe("config reads while D1 is unreachable", () => {
  it("accepts valid reader tokens, refuses revoked and unknown ones, and serves the release", async () => {
    const ns = await releasedNamespace("d1-down");
    const fresh = await tokenFor("reader", [ns]); // never used: no verdict cached anywhere
    const used = await tokenFor("reader", [ns]);
    const created = await api("POST", "/admin/v1/tokens", { body: { name: "to-revoke", role: "reader", namespaces: [ns] } });
    const revoked = created.body.token as string;
    expect((await read(ns, { token: used })).status).toBe(200);
    expect((await read(ns, { token: revoked })).status).toBe(200);
    expect((await api("DELETE", `/admin/v1/tokens/${created.body.id}`)).status).toBe(200);
    await sleep(AUTH_CACHE_EXPIRES_MS);

    d1Down();
    const r = await read(ns, { token: fresh, region: "eu", client: "c-1" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ namespace: ns, version: 1, values: { feature: true, name: "one" } });
    expect((await read(ns, { token: used })).status).toBe(200);
    const gone = await read(ns, { token: revoked });
    expect(gone.status).toBe(401);
    expect(gone.body.error.code).toBe("unauthorized");
    expect((await read(ns, { token: "ept_not-a-token" })).status).toBe(401);
    // Reports need neither D1.
    const rep = await api("POST", `/v1/configs/${ns}/reports`, { token: fresh, body: { client_id: "c-1", version: 1, status: "ok" } });
    expect(rep.status, JSON.stringify(rep.body)).toBe(202);
  });

  it("keeps serving with D1 and the coordinator both down, and says the release may be stale", async () => {
    const ns = await releasedNamespace("all-down");
    const reader = await tokenFor("reader", [ns]);
    d1Down();
    coordinatorDown("error");
    const r = await read(ns, { token: reader, region: "na", client: "c-2" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.version).toBe(1);
    expect(r.headers.get("x-config-stale")).toBe("1");
  });

  it("answers 503 (not 500) when neither D1 nor the KV mirror can check a token", async () => {
    const ns = await releasedNamespace("auth-down");
    const reader = await tokenFor("reader", [ns]);
    d1Down();
    kvReadsFail();
    const r = await read(ns, { token: reader });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe("auth_unavailable");
    restoreBindings();
    expect((await read(ns, { token: reader })).status).toBe(200);
  });
});

describe("click ingest during a control-plane outage", () => {
  it("accepts beacons and server-to-server batches while D1 and the coordinators are down", async () => {
    const publisher = await tokenFor("publisher");
    d1Down();
    coordinatorDown("hang");
    const campaign = uniqueCampaign("outage");
    const anon = await postClicks(events(campaign, 3, { idPrefix: `${campaign}-a` }));
    expect(anon.status, JSON.stringify(anon.body)).toBe(200);
    const trusted = await postClicks(events(campaign, 2, { idPrefix: `${campaign}-t` }), {}, publisher);
    expect(trusted.status, JSON.stringify(trusted.body)).toBe(200);
    expect(trusted.body.accepted).toBe(2);
    // once the control plane is back, they are counted (and nothing of this test is still in flight when the file ends)
    restoreBindings();
    await drainPipeline();
    expect((await countsFor(campaign)).total).toBe(5);
  });
});
