import { describe, expect, it } from "vitest";
import { createNamespace, publish, read, sleep, startRollout, uniqueNs } from "./config-helpers";

// Bursts of concurrent reads right after each release change: every one answers, with the new version.
// The edge never shares an in-flight read between requests (workerd refuses I/O continued in
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
      await sleep(250); // let the release cache expire so the burst below re-reads KV together
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => read(ns, { client: `c-${round}-${i}`, region: ["eu", "na", "as"][i % 3] })),
      );
      for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(new Set(answers.map((a) => a.body.version))).toEqual(new Set([v]));
    }
  });
});
