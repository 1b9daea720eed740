import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "./helpers";
import { coordinatorDown, kvServesOldCopy, restoreBindings, type CoordinatorMode } from "./bindings";
import { createNamespace, kvRelease, publish, read, release, sleep, startRollout, uniqueNs } from "./config-helpers";

/** Longer than the isolate's and the PoP's copies of the release state live (workers/lib/config-cache.ts). */
const COPIES_EXPIRE_MS = 200 + 500 + 100;

/** A namespace with v1 and then v2 released everywhere; returns KV's copy of the release state at v2. */
async function releasedTwice(prefix: string): Promise<{ ns: string; kvCopyAtV2: string }> {
  const ns = uniqueNs(prefix);
  await createNamespace(ns);
  const v1 = await publish(ns, { feature: false, name: "one" });
  expect((await startRollout(ns, v1, "immediate")).body.state).toBe("completed");
  const v2 = await publish(ns, { feature: true, name: "two" });
  expect((await startRollout(ns, v2, "immediate")).body.state).toBe("completed");
  const kvCopyAtV2 = await kvRelease(ns);
  expect(JSON.parse(kvCopyAtV2).stable).toBe(v2);
  return { ns, kvCopyAtV2 };
}

describe("propagation is not bounded by KV's edge cache", () => {
  it("a rollback, a rollout stage and a publish reach new readers while KV still serves a 60 s old copy", async () => {
    const { ns, kvCopyAtV2 } = await releasedTwice("prop");
    kvServesOldCopy(`cfg:r:${ns}`, kvCopyAtV2);
    expect((await read(ns, { region: "eu", client: "warm" })).body.version).toBe(2);

    // Emergency rollback: a reader without X-Config-Generation (a new client) sees it.
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 1, reason: "test" } })).status).toBe(200);
    await sleep(COPIES_EXPIRE_MS);
    const afterRollback = await read(ns, { region: "eu", client: "new-1" });
    expect(afterRollback.body.version).toBe(1);
    expect(afterRollback.headers.get("x-config-stale")).toBeNull();

    // A staged rollout's first stage (eu at 100 %) reaches eu readers, not the others.
    const v3 = await publish(ns, { feature: true, name: "three" });
    const started = await startRollout(ns, v3, { stages: [{ regions: ["eu"], percent: 100, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }] });
    expect(started.body.state).toBe("running");
    await sleep(COPIES_EXPIRE_MS);
    expect((await read(ns, { region: "eu", client: "new-2" })).body.version).toBe(v3);
    expect((await read(ns, { region: "na", client: "new-2" })).body.version).toBe(1);
    expect((await release(ns)).generation).toBe((await read(ns, { region: "eu", client: "new-3" })).body.generation);
  });
});

describe("reads while the coordinator is down", () => {
  for (const mode of ["error", "overloaded", "hang"] as CoordinatorMode[]) {
    it(`serves the last known release from KV, marked stale (coordinator: ${mode})`, async () => {
      const { ns } = await releasedTwice(`down-${mode}`);
      const gen = (await release(ns)).generation as number;
      // This isolate has never read `ns`: only KV knows the release.
      coordinatorDown(mode);
      const r = await read(ns, { region: "eu", client: "c-1" });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ namespace: ns, version: 2, generation: gen, values: { feature: true, name: "two" } });
      expect(r.headers.get("x-config-stale")).toBe("1");
      // A client that has seen this generation is still served; one claiming a newer one is refused, not fed older data.
      const same = await read(ns, { region: "na", client: "c-2", gen });
      expect(same.status).toBe(200);
      expect(same.headers.get("x-config-stale")).toBe("1");
      const newer = await read(ns, { region: "na", client: "c-3", gen: gen + 1 });
      expect(newer.status).toBe(503);
      expect(newer.body.error.code).toBe("config_unavailable");
      // A pinned version whose blob KV has keeps working too.
      expect((await read(ns, { version: 1 })).body.values).toEqual({ feature: false, name: "one" });
    });
  }

  it("serves the isolate's last copy when KV has nothing either, and is fresh again when the coordinator is back", async () => {
    const { ns } = await releasedTwice("down-isolate");
    expect((await read(ns, { region: "eu", client: "a" })).headers.get("x-config-stale")).toBeNull();
    await env.CONFIG_KV.delete(`cfg:r:${ns}`);
    coordinatorDown("error");
    await sleep(COPIES_EXPIRE_MS);
    const stale = await read(ns, { region: "eu", client: "a" });
    expect(stale.status).toBe(200);
    expect(stale.body.version).toBe(2);
    expect(stale.headers.get("x-config-stale")).toBe("1");
    // Nothing known at all: 503, not 500 and not a made-up 404.
    const unknown = await read(uniqueNs("never-read"), { region: "eu" });
    expect(unknown.status).toBe(503);
    expect(unknown.body.error.code).toBe("config_unavailable");
    restoreBindings();
    await sleep(COPIES_EXPIRE_MS);
    const fresh = await read(ns, { region: "eu", client: "a" });
    expect(fresh.body.version).toBe(2);
    expect(fresh.headers.get("x-config-stale")).toBeNull();
  });
});
