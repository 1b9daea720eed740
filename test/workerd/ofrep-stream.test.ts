import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { publish, startRollout } from "./config-helpers";
import { evalBulk, releasedNs } from "./ofrep-helpers";

/** An open SSE response read incrementally. */
class SseReader {
  private text = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly dec = new TextDecoder();
  constructor(readonly res: Response) {
    this.reader = res.body!.getReader();
  }
  /** Reads until `re` matches the text received after `from`; the match and where it ends. */
  async until(re: RegExp, from = 0, failAfterMs = 20_000): Promise<{ match: RegExpExecArray; end: number }> {
    const deadline = Date.now() + failAfterMs;
    for (;;) {
      const rest = this.text.slice(from);
      const m = re.exec(rest);
      if (m) return { match: m, end: from + m.index + m[0].length };
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no ${re} in: ${JSON.stringify(rest)}`)), Math.max(1, deadline - Date.now()))),
      ]);
      if (chunk.done) throw new Error(`stream ended without ${re}: ${JSON.stringify(rest)}`);
      this.text += this.dec.decode(chunk.value, { stream: true });
    }
  }
  get received(): string {
    return this.text;
  }
  async close(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

const EVENT_RE = /id: (\d+)\nevent: message\ndata: (\{.*\})\n\n/;

async function streamUrlOf(ns: string, token?: string): Promise<string> {
  const r = await evalBulk(ns, { targetingKey: "watcher" }, { token });
  expect(r.status).toBe(200);
  expect(r.body.eventStreams).toHaveLength(1);
  expect(r.body.eventStreams[0].type).toBe("sse");
  return r.body.eventStreams[0].url as string;
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const res = await SELF.fetch(url, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return new SseReader(res);
}

async function releaseNew(ns: string, values: Record<string, unknown>): Promise<number> {
  const v = await publish(ns, values);
  const r = await startRollout(ns, v, "immediate");
  expect(r.body.state).toBe("completed");
  return r.body.release.generation as number;
}

describe("OFREP event streams", () => {
  it("bulk answers name a signed stream URL without the reader token; a release change arrives as refetchEvaluation", async () => {
    const ns = await releasedNs("push", { on: false });
    const reader = await tokenFor("reader", [ns]);
    const url = await streamUrlOf(ns, reader);
    expect(url).not.toContain(reader);
    expect(new URL(url).pathname).toBe(`/v1/configs/${ns}/ofrep/v1/events`);
    expect([...new URL(url).searchParams.keys()].sort()).toEqual(["exp", "g", "sig"]);
    const streams = await Promise.all([connect(url, { origin: "https://app.example" }), connect(url), connect(url), connect(url)]);
    expect(streams[0].res.headers.get("access-control-allow-origin")).toBe("*");
    for (const s of streams) await s.until(/: edgeplane config stream/);
    const gen = await releaseNew(ns, { on: true });
    for (const s of streams) {
      const { match } = await s.until(EVENT_RE);
      expect(Number(match[1])).toBe(gen);
      const data = JSON.parse(match[2]);
      expect(data).toEqual({ type: "refetchEvaluation", etag: `"g${gen}"`, lastModified: expect.any(Number) });
      expect(Math.abs(data.lastModified - Date.now() / 1000)).toBeLessThan(600);
    }
    // The re-fetch the event triggers (with its etag as flagConfigEtag) sees the change.
    const after = await evalBulk(ns, { targetingKey: "watcher" }, { token: reader, query: `?flagConfigEtag=${encodeURIComponent(`"g${gen}"`)}` });
    expect(after.body.flags[0]).toMatchObject({ key: "on", value: true });
    // A rollback is a release change too.
    const rb = await api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: 1, reason: "test" } });
    for (const s of streams) {
      const seen = await s.until(new RegExp(`id: ${rb.body.generation}\\n`));
      expect(seen.end).toBeGreaterThan(0);
      await s.close();
    }
  });

  it("replays what a reconnecting client missed (Last-Event-ID) and nothing it has seen", async () => {
    const ns = await releasedNs("replay", { on: 1 });
    const url = await streamUrlOf(ns);
    const g2 = await releaseNew(ns, { on: 2 });
    const g3 = await releaseNew(ns, { on: 3 });
    // Missed g2 and g3 while away: one event names the newest (each event means "re-fetch").
    const back = await connect(url, { "last-event-id": String(g2 - 1) });
    const { match } = await back.until(EVENT_RE);
    expect(Number(match[1])).toBe(g3);
    await back.close();
    // The URL alone (first connect) carries the generation the bulk answer was computed at.
    const fresh = await connect(url);
    expect(Number((await fresh.until(EVENT_RE)).match[1])).toBe(g3);
    await fresh.close();
    // Up to date: the next event is the next change, not a repeat.
    const current = await connect(url, { "last-event-id": String(g3) });
    const start = (await current.until(/: edgeplane config stream/)).end;
    const g4 = await releaseNew(ns, { on: 4 });
    const next = await current.until(EVENT_RE, start);
    expect(Number(next.match[1])).toBe(g4);
    expect(current.received.match(/^id: /gm)).toHaveLength(1);
    await current.close();
  });

  it("refuses forged, expired, missing and other namespaces' credentials with 401", async () => {
    const ns = await releasedNs("cred");
    const other = await releasedNs("cred-other");
    const url = new URL(await streamUrlOf(ns));
    const tampered = new URL(url);
    tampered.searchParams.set("exp", String(Number(url.searchParams.get("exp")) + 3600));
    const expired = new URL(url);
    expired.searchParams.set("exp", "1000");
    const badSig = new URL(url);
    badSig.searchParams.set("sig", "A".repeat(43));
    const noSig = new URL(url);
    noSig.searchParams.delete("sig");
    const wrongNs = new URL(url);
    wrongNs.pathname = `/v1/configs/${other}/ofrep/v1/events`;
    for (const u of [tampered, expired, badSig, noSig, wrongNs]) {
      const r = await SELF.fetch(u.toString());
      expect(r.status, u.toString()).toBe(401);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("invalid_stream_credential");
    }
  });

  it("sends heartbeats while nothing changes", async () => {
    const ns = await releasedNs("beat");
    const s = await connect(await streamUrlOf(ns));
    await s.until(/: heartbeat\n\n/, 0, 30_000);
    await s.close();
  });
});
