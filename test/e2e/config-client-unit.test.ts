import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { backoffDelay, parseRecord, parseSseChunk, webStorage, type ConfigRecord } from "@edgeplane/client";
import { fileStorage } from "@edgeplane/client/node";
import { isNewer } from "../../packages/client/src/config-storage.ts";

/** Unit tests of @edgeplane/client's pure parts (no server): backoff, storage, SSE parsing. */
const rec = (over: Partial<ConfigRecord> = {}): ConfigRecord => ({
  namespace: "checkout",
  version: 3,
  generation: 7,
  etag: '"v3-abc"',
  values: { max_items: 10 },
  fetchedAt: 1_700_000_000_000,
  ...over,
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("backoffDelay", () => {
  it("grows exponentially, stays within [ceiling/2, ceiling] and never exceeds the cap", () => {
    const opts = { initialMs: 1000, maxMs: 60_000 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const ceiling = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 30));
        const d = backoffDelay(attempt, opts, () => r);
        return d >= ceiling / 2 - 1 && d <= ceiling + 1 && d <= 60_000;
      }),
    );
    expect(backoffDelay(0, opts, () => 0)).toBe(500);
    expect(backoffDelay(3, opts, () => 0.999999)).toBe(8000);
    expect(backoffDelay(50, opts, () => 0)).toBe(30_000);
    // Jitter: two clients on the same attempt do not retry in step.
    expect(backoffDelay(4, opts, () => 0.1)).not.toBe(backoffDelay(4, opts, () => 0.9));
  });
});

describe("last-known-good storage", () => {
  it("parseRecord accepts a well-formed record of the namespace and nothing else", () => {
    expect(parseRecord(JSON.stringify(rec()), "checkout")).toEqual(rec());
    for (const bad of [null, "", "{", "[]", "null", JSON.stringify(rec({ namespace: "other" })), JSON.stringify({ ...rec(), version: 0 }), JSON.stringify({ ...rec(), values: [] }), JSON.stringify({ ...rec(), generation: -1 }), JSON.stringify({ ...rec(), etag: 5 })]) {
      expect(parseRecord(bad, "checkout")).toBeNull();
    }
  });

  it("isNewer never lets a record move back to an older generation", () => {
    expect(isNewer(rec({ generation: 8 }), rec())).toBe(true);
    expect(isNewer(rec({ generation: 6, version: 9 }), rec())).toBe(false);
    expect(isNewer(rec(), null)).toBe(true);
  });

  it("fileStorage round-trips atomically and ignores a corrupt file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgeplane-client-"));
    dirs.push(dir);
    const s = fileStorage(join(dir, "nested"));
    expect(await s.load("checkout")).toBeNull();
    await s.save(rec());
    await s.save(rec({ version: 4, generation: 9 }));
    expect(await s.load("checkout")).toEqual(rec({ version: 4, generation: 9 }));
    expect(readdirSync(join(dir, "nested"))).toEqual(["checkout.json"]); // no temp files left
    writeFileSync(join(dir, "nested", "checkout.json"), '{"namespace": "checkout", "vers');
    expect(await s.load("checkout")).toBeNull();
  });

  it("webStorage uses the given Storage and survives quota errors", async () => {
    const m = new Map<string, string>();
    const ok = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
    const s = webStorage(ok, "p:");
    await s.save(rec());
    expect([...m.keys()]).toEqual(["p:checkout"]);
    expect(await s.load("checkout")).toEqual(rec());
    const full = webStorage({ getItem: () => null, setItem: () => { throw new Error("QuotaExceededError"); } });
    await expect(full.save(rec())).resolves.toBeUndefined();
    const broken = webStorage({ getItem: () => { throw new Error("SecurityError"); }, setItem: () => {} });
    expect(await broken.load("checkout")).toBeNull();
  });
});

describe("parseSseChunk", () => {
  it("splits complete events, joins multi-line data, skips comments and keeps the partial rest", () => {
    const { events, rest } = parseSseChunk(': heartbeat\n\nid: 4\nevent: message\ndata: {"a":1}\n\nid: 5\ndata: x\ndata: y\n\nid: 6\ndata: par');
    expect(events).toEqual([
      { id: "4", data: '{"a":1}' },
      { id: "5", data: "x\ny" },
    ]);
    expect(rest).toBe("id: 6\ndata: par");
    expect(parseSseChunk(rest + "tial\n\n").events).toEqual([{ id: "6", data: "partial" }]);
    expect(parseSseChunk("retry: 2000\n: hello\n\n").events).toEqual([]);
  });
});
