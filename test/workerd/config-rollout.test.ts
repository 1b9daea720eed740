import { env, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, publish, read, release, rollout, runAlarmsUntil, sleep, startRollout, stubFor, uniqueNs } from "./config-helpers";

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
    for (const region of ["na", "eu", "as", "zz"]) {
      const r = await read(ns, { region, client: `c-${region}`, gen: rel.generation });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ namespace: ns, version: v1, generation: rel.generation, values: { feature: true, limits: { max: 5 } } });
      expect(r.headers.get("x-config-version")).toBe(String(v1));
      expect(r.headers.get("etag")).toMatch(/^"v1-[0-9a-f]{32}"$/);
    }
  });
});
