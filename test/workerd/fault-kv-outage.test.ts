import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { createNamespace, publish, read, startRollout, uniqueNs } from "./config-helpers";

/**
 * KV failing on the edge READ path (the outbox tests cover failing KV writes). The namespace's
 * RolloutCoordinator is the authority for both the release state and the immutable version blobs, so
 * config reads must keep answering — correctly — while KV reads fail, and recover when KV does.
 * The test swaps the binding's `get` (the Worker under test shares this env object).
 */

type KvGet = KVNamespace["get"];
const kv = env.CONFIG_KV as unknown as { get: KvGet };
const realGet = kv.get;
let failedReads = 0;

function breakKvReads(): void {
  kv.get = (async () => {
    failedReads++;
    throw new Error("KV GET failed: 503 Service Unavailable (injected)");
  }) as unknown as KvGet;
}

afterEach(() => {
  kv.get = realGet;
});

describe("KV outage on the edge read path", () => {
  it("config reads are answered from the coordinator while KV reads fail, then from KV again", async () => {
    const ns = uniqueNs("kv-down");
    await createNamespace(ns);
    const v1 = await publish(ns, { feature: false, name: "one" });
    expect((await startRollout(ns, v1, "immediate")).body.state).toBe("completed");
    const v2 = await publish(ns, { feature: true, name: "two" });

    breakKvReads();
    const r = await read(ns, { region: "eu", client: "c-1" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ namespace: ns, version: v1, values: { feature: false, name: "one" } });
    expect(r.headers.get("x-config-version")).toBe(String(v1));

    // a pinned read of a version this isolate has never served (blob not cached): from the coordinator
    const pinned = await read(ns, { version: v2, client: "c-1" });
    expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
    expect(pinned.body).toMatchObject({ version: v2, values: { feature: true, name: "two" } });

    // a client that saw a generation newer than anything cached still gets an answer at least that new
    const gen = r.body.generation as number;
    const monotonic = await read(ns, { region: "na", client: "c-2", gen });
    expect(monotonic.status).toBe(200);
    expect(monotonic.body.generation).toBeGreaterThanOrEqual(gen);

    // unknown namespaces and versions keep their 404s
    expect((await read(uniqueNs("absent"), { region: "eu" })).body.error.code).toBe("namespace_not_found");
    expect((await read(ns, { version: 99 })).body.error.code).toBe("version_not_found");
    expect(failedReads).toBeGreaterThan(0);

    // KV is back: reads work as before
    kv.get = realGet;
    const after = await read(ns, { region: "as", client: "c-3", gen });
    expect(after.status).toBe(200);
    expect(after.body.version).toBe(v1);
  });
});
