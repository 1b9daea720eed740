import { describe, expect, it } from "vitest";
import { chainHash, GENESIS_HASH, verifyChain } from "../../lib/audit-chain";
import { canonicalJson, contentHash } from "../../lib/canonical-json";

describe("canonical JSON", () => {
  it("sorts keys at every depth and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "x" } })).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
  });
  it("hashes equal documents equally regardless of key order", async () => {
    expect(await contentHash({ a: 1, b: 2 })).toBe(await contentHash({ b: 2, a: 1 }));
    expect(await contentHash({ a: 1 })).not.toBe(await contentHash({ a: 2 }));
    expect(await contentHash({})).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe("audit hash chain", () => {
  async function build(n: number) {
    const out = [];
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= n; seq++) {
      const e = { seq, ts: `2026-01-01T00:00:0${seq}Z`, actor: "a", action: "x", namespace: "ns", version: seq, rollout_id: null, details: { i: seq } };
      const hash = await chainHash(prev, e);
      out.push({ ...e, hash });
      prev = hash;
    }
    return out;
  }
  it("verifies an intact chain", async () => {
    const r = await verifyChain(await build(5));
    expect(r).toMatchObject({ ok: true, checked: 5 });
  });
  it("finds an edited entry, a removed entry and a reordering", async () => {
    const edited = await build(5);
    edited[2] = { ...edited[2], details: { i: 99 } };
    expect((await verifyChain(edited)).first_bad_seq).toBe(3);
    const removed = await build(5);
    removed.splice(1, 1);
    expect((await verifyChain(removed)).ok).toBe(false);
    const swapped = await build(3);
    [swapped[0], swapped[1]] = [swapped[1], swapped[0]];
    expect((await verifyChain(swapped)).ok).toBe(false);
  });
});
