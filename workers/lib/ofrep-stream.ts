import { ApiError } from "../../lib/errors";
import { expiryFor, signStream, streamSecret, verifyStream } from "../../lib/ofrep/stream-credential";
import { isStreamEvent, parseLastEventId, sseFrame, streamEventOf, type StreamEvent } from "../../lib/ofrep/stream-event";
import { leafCount, leafName, streamStub } from "../../durable-objects/ConfigStream";
import { getRelease } from "./config-cache";
import type { AppContext } from "./context";

/**
 * OFREP event streams (ADR-0008), Worker side. The bulk answer names a URL with a signed, short-lived
 * credential; this request holds the client's SSE response and subscribes to one ConfigStream leaf
 * over a WebSocket (which lets the leaf hibernate), turning each release change into an SSE event.
 */

/** SSE comment lines keep proxies and load balancers from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
const PINGS_EVERY = 4;
/** Reconnect delay suggested to EventSource (ms). */
const RETRY_MS = 2_000;

export function streamPath(ns: string): string {
  return `/v1/configs/${ns}/ofrep/v1/events`;
}

/**
 * The stream URL for a bulk answer, or null when no signing secret is configured. The caller appends
 * `&g=<generation>` (the generation the answer was computed at: a first connect replays from there).
 */
export async function streamUrl(c: AppContext, ns: string, clientKey: string): Promise<string | null> {
  const secret = await streamSecret(c.env);
  if (!secret) return null;
  const exp = expiryFor(ns, clientKey, Math.floor(Date.now() / 1000));
  const sig = await signStream(secret, ns, exp);
  return `${new URL(c.req.url).origin}${streamPath(ns)}?exp=${exp}&sig=${sig}`;
}

/** The client's SSE response. 401 (JSON) for a missing, expired or forged credential. */
export async function openStream(c: AppContext, ns: string): Promise<Response> {
  const secret = await streamSecret(c.env);
  const now = Math.floor(Date.now() / 1000);
  const check = secret ? await verifyStream(secret, ns, c.req.query("exp"), c.req.query("sig"), now) : ({ ok: false, reason: "missing" } as const);
  if (!check.ok) {
    throw new ApiError(401, "invalid_stream_credential", "The event stream URL is missing, expired or not valid: fetch a new one from the bulk evaluation", { reason: check.reason });
  }

  // A leaked or looping URL cannot open connections without bound (same binding as evaluations).
  const limiter: RateLimit | undefined = c.env.OFREP_LIMITER;
  if (limiter && !(await limiter.limit({ key: `${ns}\u0000stream\u0000${c.req.query("sig")}` })).success) {
    throw new ApiError(429, "rate_limited", "Too many connections with this stream URL; retry in 60 s", { retry_after_seconds: 60 });
  }

  // Subscribe first, then look at the current state, so no change can fall between the two.
  const leaf = streamStub(c.env, leafName(ns, Math.floor(Math.random() * leafCount(c.env))));
  const up = await leaf.fetch("https://config-stream/subscribe", { headers: { Upgrade: "websocket" } });
  const ws = up.webSocket;
  if (!ws) throw new ApiError(503, "stream_unavailable", "The event stream is not available right now; retry");
  ws.accept();

  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const enc = new TextEncoder();
  let lastSent = parseLastEventId(c.req.header("last-event-id")) ?? parseLastEventId(c.req.query("g"));
  let closed = false;
  let beat: ReturnType<typeof setInterval> | undefined;
  let expiry: ReturnType<typeof setTimeout> | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    if (beat !== undefined) clearInterval(beat);
    if (expiry !== undefined) clearTimeout(expiry);
    try {
      ws.close(1000, "client gone");
    } catch {
      /* already closed */
    }
    writer.close().catch(() => {});
  };
  const write = (text: string) => {
    if (closed) return;
    writer.write(enc.encode(text)).catch(close);
  };
  /** Sends `e` unless the client has already seen its generation (replay after Last-Event-ID included). */
  const offer = (e: StreamEvent) => {
    if (lastSent !== null && e.generation <= lastSent) return;
    if (lastSent === null) {
      // A client that names nothing has just fetched: it only needs changes from now on.
      lastSent = e.generation;
      return;
    }
    lastSent = e.generation;
    write(sseFrame(e));
  };

  write(`retry: ${RETRY_MS}\n: edgeplane config stream for ${ns}\n\n`);
  ws.addEventListener("message", (m) => {
    if (typeof m.data !== "string" || m.data === "pong") return;
    try {
      const e: unknown = JSON.parse(m.data);
      if (isStreamEvent(e)) offer(e);
    } catch {
      /* not ours */
    }
  });
  ws.addEventListener("close", close);
  ws.addEventListener("error", close);
  let beats = 0;
  beat = setInterval(() => {
    write(": heartbeat\n\n");
    // The leaf answers pings without waking from hibernation; once a minute is enough to notice a dead socket.
    if (++beats % PINGS_EVERY === 0) {
      try {
        ws.send("ping");
      } catch {
        close();
      }
    }
  }, HEARTBEAT_MS);
  // The credential's end closes the stream; EventSource then reconnects, gets 401, and the provider
  // re-fetches the bulk answer (which names a fresh URL).
  expiry = setTimeout(close, Math.max(1, check.exp - now) * 1000);

  // Also compare with the release state the read path sees (covers a leaf that missed a broadcast).
  const release = (await getRelease(c.env, ns, null).catch(() => null))?.state;
  if (release) offer(streamEventOf(release));

  return new Response(readable, {
    status: 200,
    headers: { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no" },
  });
}
