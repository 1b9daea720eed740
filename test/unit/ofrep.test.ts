import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expiryFor, signStream, streamSecret, verifyStream, WINDOW_SECONDS } from "../../lib/ofrep/stream-credential";
import { bulkJson, flagJson, flagTable, generationFromTag, placement } from "../../lib/ofrep/evaluate";
import { parseLastEventId, sseFrame } from "../../lib/ofrep/stream-event";
import type { ReleaseState } from "../../lib/config/release";

const release = (regions: ReleaseState["regions"]): ReleaseState => ({ namespace: "ns", generation: 5, stable: 1, regions, updated_at: "2026-01-01T00:00:00Z" });

describe("stream credentials", () => {
  it("expire 30-60 minutes ahead, stay the same for one client within its window and are spread across clients", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }), fc.string(), (now, client) => {
        const exp = expiryFor("ns", client, now);
        return exp > now + WINDOW_SECONDS && exp <= now + 2 * WINDOW_SECONDS;
      }),
    );
    const now = 1_800_000_000;
    const exp = expiryFor("ns", "device-1", now);
    // Same URL for the rest of this window: a minute later, the same expiry.
    const windowStart = exp - 2 * WINDOW_SECONDS;
    expect(expiryFor("ns", "device-1", windowStart)).toBe(exp);
    expect(expiryFor("ns", "device-1", windowStart + WINDOW_SECONDS - 1)).toBe(exp);
    expect(expiryFor("ns", "device-1", windowStart + WINDOW_SECONDS)).toBe(exp + WINDOW_SECONDS);
    const spread = new Set(Array.from({ length: 200 }, (_, i) => expiryFor("ns", `device-${i}`, now)));
    expect(spread.size).toBeGreaterThan(150);
  });

  it("verify accepts only the signed namespace and expiry, before the expiry", async () => {
    const secret = "s3cret";
    const sig = await signStream(secret, "ns", 2_000);
    expect(await verifyStream(secret, "ns", "2000", sig, 1_000)).toEqual({ ok: true, exp: 2000 });
    expect(await verifyStream(secret, "ns", "2000", sig, 2_000)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyStream(secret, "other", "2000", sig, 1_000)).toEqual({ ok: false, reason: "bad_signature" });
    expect(await verifyStream(secret, "ns", "2001", sig, 1_000)).toEqual({ ok: false, reason: "bad_signature" });
    expect(await verifyStream("other-secret", "ns", "2000", sig, 1_000)).toEqual({ ok: false, reason: "bad_signature" });
    expect((await verifyStream(secret, "ns", "2000", sig.slice(1), 1_000)).ok).toBe(false);
    expect((await verifyStream(secret, "ns", "2e3", sig, 1_000)).ok).toBe(false);
    expect((await verifyStream(secret, "ns", undefined, sig, 1_000)).ok).toBe(false);
  });

  it("uses STREAM_SIGNING_KEY, else a key derived from ADMIN_TOKEN (not the token itself), else none", async () => {
    expect(await streamSecret({ STREAM_SIGNING_KEY: "k", ADMIN_TOKEN: "a" })).toBe("k");
    const derived = await streamSecret({ ADMIN_TOKEN: "admin" });
    expect(derived).not.toBeNull();
    expect(derived).not.toContain("admin");
    expect(await streamSecret({ ADMIN_TOKEN: "admin" })).toBe(derived);
    expect(await streamSecret({ ADMIN_TOKEN: "other" })).not.toBe(derived);
    expect(await streamSecret({})).toBeNull();
  });
});

describe("OFREP shaping", () => {
  it("STATIC outside a rollout, SPLIT inside; a targeting key is needed only for a partial split", () => {
    const r = release({
      na: { stable: 1, candidate: null, percent: 0, rollout_id: null },
      eu: { stable: 1, candidate: 2, percent: 50, rollout_id: "ro_1" },
      as: { stable: 1, candidate: 2, percent: 100, rollout_id: "ro_1" },
    });
    expect(placement(r, "na")).toEqual({ reason: "STATIC", needsTargetingKey: false });
    expect(placement(r, null)).toEqual({ reason: "STATIC", needsTargetingKey: false });
    expect(placement(r, "mars")).toEqual({ reason: "STATIC", needsTargetingKey: false });
    expect(placement(r, "eu")).toEqual({ reason: "SPLIT", needsTargetingKey: true });
    expect(placement(r, "as")).toEqual({ reason: "SPLIT", needsTargetingKey: false });
  });

  it("builds flag and bulk JSON that parses back to the values", () => {
    const values = { a: true, "we\"ird": { x: [1, null] }, n: 1.5 };
    const t = flagTable(JSON.stringify(values));
    const e = { version: 3, generation: 9, reason: "SPLIT" as const };
    expect(JSON.parse(flagJson(t, "we\"ird", e))).toEqual({ key: "we\"ird", value: values["we\"ird"], reason: "SPLIT", variant: "v3", metadata: { version: 3, generation: 9 } });
    const bulk = JSON.parse(bulkJson(t, e, 9, "https://x/events?exp=1&sig=2"));
    expect(bulk.flags.map((f: { key: string }) => f.key)).toEqual(Object.keys(values));
    expect(bulk.eventStreams).toEqual([{ type: "sse", url: "https://x/events?exp=1&sig=2" }]);
    expect(JSON.parse(bulkJson(null, null, 4, null))).toEqual({ flags: [], metadata: { generation: 4 } });
  });

  it("reads generations from stream etags and Last-Event-ID, and frames events as ADR-0008 says", () => {
    expect(generationFromTag('"g42"')).toBe(42);
    expect(generationFromTag("g42")).toBe(42);
    expect(generationFromTag('W/"g7"')).toBe(7);
    for (const bad of [undefined, "", '"v42"', '"g"', '"g-1"', '"g1e3"', '"g12345678901234567"']) expect(generationFromTag(bad)).toBeNull();
    expect(parseLastEventId(" 12 ")).toBe(12);
    for (const bad of [null, undefined, "", "x", "-1", "1.5"]) expect(parseLastEventId(bad)).toBeNull();
    expect(sseFrame({ generation: 12, lastModified: 1771622898 })).toBe(
      'id: 12\nevent: message\ndata: {"type":"refetchEvaluation","etag":"\\"g12\\"","lastModified":1771622898}\n\n',
    );
  });
});
