/**
 * A minimal Server-Sent Events reader on `fetch` (Node has no EventSource; in browsers this also lets
 * us send `Last-Event-ID` on our own reconnects). Parses `id:` and `data:` lines per the HTML spec's
 * event-stream format; comments (heartbeats) are skipped.
 */
export interface SseMessage {
  id: string | null;
  data: string;
}

export class SseHttpError extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`event stream answered ${status}`);
    this.name = "SseHttpError";
    this.status = status;
  }
}

/** Splits an event-stream text buffer into complete events; returns them and the unconsumed rest. */
export function parseSseChunk(buffer: string): { events: SseMessage[]; rest: string } {
  const events: SseMessage[] = [];
  const norm = buffer.replace(/\r\n?/g, "\n");
  const blocks = norm.split("\n\n");
  const rest = blocks.pop() ?? "";
  for (const block of blocks) {
    let id: string | null = null;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "data") data.push(value);
    }
    if (data.length > 0) events.push({ id, data: data.join("\n") });
  }
  return { events, rest };
}

/**
 * Reads `url` until the stream ends or `signal` aborts, calling `onMessage` for each event. Resolves
 * when the server closes the stream; rejects with SseHttpError for a non-200 answer.
 */
export async function readSse(
  url: string,
  opts: { fetch: typeof fetch; signal: AbortSignal; lastEventId: string | null; onOpen?: () => void; onMessage: (m: SseMessage) => void },
): Promise<void> {
  const headers: Record<string, string> = { accept: "text/event-stream" };
  if (opts.lastEventId !== null) headers["last-event-id"] = opts.lastEventId;
  const res = await opts.fetch(url, { headers, signal: opts.signal, cache: "no-store" });
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new SseHttpError(res.status);
  }
  opts.onOpen?.();
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    const { events, rest } = parseSseChunk(buf);
    buf = rest;
    if (buf.length > 1_000_000) throw new Error("event stream sent an oversized event");
    for (const e of events) opts.onMessage(e);
  }
}
