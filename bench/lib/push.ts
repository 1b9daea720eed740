// Change → client over the OFREP event stream (issue 12 §2): clients fetch the bulk evaluation, open
// the SSE stream it names (`eventStreams[0].url`), and the bench times each release change (immediate
// rollout, then rollback) from the request that makes it to the `refetchEvaluation` event on every
// client. Skips with a message when the server has no OFREP bulk route (404) or names no stream.
import { api, errorMessage, percentiles, sleep, type Percentiles } from "./http.ts";
import { publishVersion, regionsOf, rolloutImmediate, type Tokens } from "./fixture.ts";
import { must } from "./http.ts";
import type { Log, Server } from "./server.ts";

export interface StreamEvent {
  at: number;
  id: string | null;
  data: string;
}

/** One SSE connection (fetch + a minimal text/event-stream parser; Node 22 has no EventSource). */
export class SseClient {
  events: StreamEvent[] = [];
  error: string | null = null;
  private abort = new AbortController();
  private waiters: (() => void)[] = [];
  url: string;

  constructor(url: string) {
    this.url = url;
  }

  /** Resolves once the stream's headers arrived (2xx and text/event-stream), rejects otherwise. */
  async open(timeoutMs = 10_000): Promise<void> {
    const timer = setTimeout(() => this.abort.abort(), timeoutMs);
    const res = await fetch(this.url, { headers: { accept: "text/event-stream" }, signal: this.abort.signal });
    clearTimeout(timer);
    const type = res.headers.get("content-type") ?? "";
    if (!res.ok || !type.startsWith("text/event-stream") || !res.body) {
      const text = await res.text().catch(() => "");
      throw new Error(`event stream → ${res.status} ${type}: ${text.slice(0, 200)}`);
    }
    void this.read(res.body);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = "";
    let data: string[] = [];
    let id: string | null = null;
    try {
      const reader = body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
          if (line === "") {
            if (data.length) this.push({ at: performance.now(), id, data: data.join("\n") });
            data = [];
            continue;
          }
          if (line.startsWith(":")) continue; // comment / heartbeat
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "data") data.push(value);
          else if (field === "id") id = value;
        }
      }
    } catch (e) {
      if (!this.abort.signal.aborted) this.error = errorMessage(e);
    }
  }

  private push(e: StreamEvent): void {
    this.events.push(e);
    for (const w of this.waiters.splice(0)) w();
  }

  /**
   * The first refetchEvaluation event that arrived after `t0` and announces something new (an etag
   * other than the last one announced before `t0`, so a late repeat of the previous change does not
   * count), waiting up to `timeoutMs`.
   */
  async refetchAfter(t0: number, timeoutMs: number): Promise<StreamEvent | null> {
    const deadline = performance.now() + timeoutMs;
    const before = this.events.filter((x) => x.at <= t0 && isRefetch(x.data)).at(-1);
    const oldTag = before ? etagOf(before.data) : null;
    for (;;) {
      const e = this.events.find((x) => x.at > t0 && isRefetch(x.data) && (oldTag === null || etagOf(x.data) !== oldTag));
      if (e) return e;
      const left = deadline - performance.now();
      if (left <= 0 || this.error) return null;
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(Math.min(left, 200))]);
    }
  }

  close(): void {
    this.abort.abort();
  }
}

function etagOf(data: string): string | null {
  try {
    const tag = JSON.parse(data)?.etag;
    return typeof tag === "string" ? tag : null;
  } catch {
    return null;
  }
}

function isRefetch(data: string): boolean {
  try {
    return JSON.parse(data)?.type === "refetchEvaluation";
  } catch {
    return false;
  }
}

export interface PushTrials {
  skipped?: string;
  clients?: number;
  changes?: number;
  change_to_client_ms?: Percentiles;
  change_to_all_clients_ms?: Percentiles;
  missed?: number;
  stream_errors?: string[];
  raw_ms?: number[];
}

/** OFREP bulk evaluation for `targetingKey`; the answer's status, body and ETag. */
async function bulkEvaluate(server: Server, token: string, ns: string, region: string, targetingKey: string) {
  return api(server.url, "POST", `/v1/configs/${ns}/ofrep/v1/evaluate/flags`, { token, headers: { "x-region": region }, body: { context: { targetingKey } } });
}

/**
 * `clients` streams (spread over the regions); `trials` rounds of two changes each (an immediate
 * rollout of a new version, then a rollback to `baseVersion`). A sample is one client's delay for one
 * change; "all clients" is the slowest client of each change.
 */
export async function pushTrials(server: Server, tokens: Tokens, ns: string, baseVersion: number, trials: number, { clients = 10, timeoutMs = 10_000, log = () => {} }: { clients?: number; timeoutMs?: number; log?: Log } = {}): Promise<PushTrials> {
  const regions = regionsOf(server);
  const first = await bulkEvaluate(server, tokens.reader, ns, regions[0], "bench-push-0");
  if (first.status === 404) return { skipped: `no OFREP route on this server (POST /v1/configs/:ns/ofrep/v1/evaluate/flags → 404 ${first.body?.error?.code ?? ""})` };
  if (first.status !== 200) return { skipped: `OFREP bulk evaluation answered ${first.status}: ${JSON.stringify(first.body)?.slice(0, 200)}` };
  const streams: SseClient[] = [];
  try {
    for (let i = 0; i < clients; i++) {
      const region = regions[i % regions.length];
      const r = i === 0 ? first : await bulkEvaluate(server, tokens.reader, ns, region, `bench-push-${i}`);
      const url = r.body?.eventStreams?.[0]?.url;
      if (r.status !== 200 || typeof url !== "string") return { skipped: `OFREP bulk evaluation has no eventStreams[0].url (status ${r.status}): ${JSON.stringify(r.body)?.slice(0, 200)}` };
      const s = new SseClient(new URL(url, server.url).toString());
      await s.open();
      streams.push(s);
    }
    await sleep(500); // let connect-time events (if any) pass
    const samples: number[] = [];
    const slowest: number[] = [];
    let missed = 0;
    const change = async (make: () => Promise<unknown>) => {
      const t0 = performance.now();
      await make();
      const got = await Promise.all(streams.map((s) => s.refetchAfter(t0, timeoutMs)));
      const ms = got.filter((e): e is StreamEvent => e !== null).map((e) => e.at - t0);
      missed += got.length - ms.length;
      samples.push(...ms);
      if (ms.length === got.length) slowest.push(Math.max(...ms));
    };
    for (let i = 0; i < trials; i++) {
      const v = await publishVersion(server, tokens.publisher, ns, 5000 + i);
      await sleep(200); // a version alone is not a release change; keep any event it causes out of the timing
      await change(() => rolloutImmediate(server, tokens.publisher, ns, v));
      await change(() => must(server.url, "POST", `/admin/v1/namespaces/${ns}/rollback`, { token: tokens.publisher, body: { to_version: baseVersion, reason: `bench push trial ${i}` } }, [200, 201, 202]));
      if ((i + 1) % 10 === 0) log(`  push trials: ${i + 1}/${trials}`);
    }
    return {
      clients: streams.length,
      changes: 2 * trials,
      change_to_client_ms: percentiles(samples),
      change_to_all_clients_ms: percentiles(slowest),
      missed,
      stream_errors: streams.map((s) => s.error).filter((e): e is string => e !== null),
      raw_ms: samples.map((x) => Math.round(x * 10) / 10),
    };
  } finally {
    for (const s of streams) s.close();
  }
}
