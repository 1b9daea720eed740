import { env, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "./helpers";
import { coordinatorDown, kvPutLog } from "./bindings";
import { createNamespace, publish, read, release, sleep, startRollout, stubFor, uniqueNs } from "./config-helpers";

/** KV allows about one write per second to a key (lib/config/outbox.ts, KV_KEY_WRITE_INTERVAL_MS). */
const KV_KEY_WRITE_INTERVAL_MS = 1000;

describe("KV writes stay within KV's per-key limit", () => {
  it("a burst of 50 rollbacks writes the release key about once a second and ends in the final state", async () => {
    const ns = uniqueNs("burst");
    await createNamespace(ns);
    const v1 = await publish(ns, { feature: false, name: "one" });
    expect((await startRollout(ns, v1, "immediate")).body.state).toBe("completed");
    const v2 = await publish(ns, { feature: true, name: "two" });
    expect((await startRollout(ns, v2, "immediate")).body.state).toBe("completed");

    const puts = kvPutLog();
    let last = 0;
    for (let i = 0; i < 50; i++) {
      last = i % 2 === 0 ? v1 : v2;
      const r = await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: last, reason: `burst ${i}` } });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const final = await release(ns);
    expect(final.stable).toBe(last);

    // The alarm delivers what the burst deferred.
    const key = `cfg:r:${ns}`;
    for (let i = 0; i < 40; i++) {
      const inKv = JSON.parse((await env.CONFIG_KV.get(key)) ?? "null");
      if (inKv?.generation === final.generation) break;
      await runDurableObjectAlarm(stubFor(ns));
      await sleep(200);
    }
    const inKv = JSON.parse((await env.CONFIG_KV.get(key))!);
    expect(inKv).toMatchObject({ generation: final.generation, stable: last });

    const releaseWrites = puts.filter((p) => p.key === key);
    expect(releaseWrites.length).toBeGreaterThan(0);
    for (let i = 1; i < releaseWrites.length; i++) {
      expect(releaseWrites[i].at - releaseWrites[i - 1].at).toBeGreaterThanOrEqual(KV_KEY_WRITE_INTERVAL_MS);
    }
    // Generations written to KV only grow.
    const gens = releaseWrites.map((p) => JSON.parse(p.value).generation as number);
    expect([...gens].sort((a, b) => a - b)).toEqual(gens);

    // The edge, left with KV only, serves the final state.
    coordinatorDown("error");
    const r = await read(ns, { region: "eu", client: "c-1", gen: final.generation });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version: last, generation: final.generation });
  });
});
