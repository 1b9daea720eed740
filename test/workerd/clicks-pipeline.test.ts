import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { windowStart } from "../../lib/clicks/windows";
import { countsFor, drainPipeline, events, postClicks, uniqueCampaign } from "./clicks-helpers";

describe("click pipeline: ingest → buffer → shards → D1", () => {
  it("counts every accepted click once, per one-minute window, ad and region", async () => {
    const campaign = uniqueCampaign();
    const ts = Date.now() - 5_000;
    const evs = events(campaign, 250, { ts });
    const r = await postClicks(evs.slice(0, 100));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ accepted: 100, rejected: [] });
    expect((await postClicks(evs.slice(100))).body.accepted).toBe(150);
    await drainPipeline();
    const got = await countsFor(campaign);
    expect(got.total).toBe(250);
    const w = windowStart(ts);
    const expected: Record<string, number> = {};
    for (const e of evs) expected[`${w}|${e.ad_id}|eu`] = (expected[`${w}|${e.ad_id}|eu`] ?? 0) + 1;
    expect(got.byCell).toEqual(expected);
  });
});
