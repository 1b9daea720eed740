import { describe, expect, it } from "vitest";
import { createNamespace, publish, read, sleep, startRollout, uniqueNs } from "./config-helpers";

// Bursts of concurrent reads right after each release change: every one answers, with the new version.
// The edge never awaits another request's in-flight read (workerd refuses I/O continued in
// another request's context — seen as sporadic 500s by `npm run soak` after publishes).
describe("edge reads under concurrency", () => {
  it("answers every concurrent read while releases change underneath", async () => {
    const ns = uniqueNs("conc");
    await createNamespace(ns);
    const v1 = await publish(ns, { feature: false });
    expect((await startRollout(ns, v1, "immediate")).status).toBe(201);
    for (let round = 0; round < 4; round++) {
      const v = await publish(ns, { feature: round % 2 === 0, name: `round-${round}` });
      expect((await startRollout(ns, v, "immediate")).status).toBe(201);
      await sleep(800); // let the isolate and PoP copies expire (200 + 500 ms) so the burst below re-reads together
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => read(ns, { client: `c-${round}-${i}`, region: ["eu", "na", "as"][i % 3] })),
      );
      for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(new Set(answers.map((a) => a.body.version))).toEqual(new Set([v]));
    }
  });
});
