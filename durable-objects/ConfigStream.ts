import { DurableObject } from "cloudflare:workers";
import { isStreamEvent, type StreamEvent } from "../lib/ofrep/stream-event";

/**
 * Release-change fan-out for OFREP event streams (docs/clients.md, "Push at scale"). One class, two
 * roles by name:
 *
 * - `hub:<ns>` — one per namespace. The RolloutCoordinator publishes each release change here once;
 *   the hub keeps the newest event and forwards it to the namespace's leaves.
 * - `leaf:<ns>:<i>` — STREAM_LEAVES per namespace. Each holds the WebSockets of the Worker requests
 *   that serve SSE streams to clients, with the Hibernation API: while nothing changes the object is
 *   evicted from memory and costs no duration; a broadcast wakes it, sends, and it sleeps again.
 *
 * The Worker request (not the object) holds the client's SSE response, because an object holding
 * HTTP streams can never hibernate.
 */
const LATEST = "latest";
/** Hub only: the namespace it serves (for the retry alarm). */
const HUB_NS = "namespace";
const RETRY_MS = 1_000;
const PING = "ping";
const PONG = "pong";

export const hubName = (ns: string) => `hub:${ns}`;
export const leafName = (ns: string, i: number) => `leaf:${ns}:${i}`;

export function leafCount(env: Env): number {
  const n = Number(env.STREAM_LEAVES ?? "2");
  return Number.isInteger(n) && n >= 1 && n <= 1024 ? n : 2;
}

export function streamStub(env: Env, name: string): DurableObjectStub<ConfigStream> {
  return env.CONFIG_STREAM.get(env.CONFIG_STREAM.idFromName(name));
}

export class ConfigStream extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Keep-alive pings from the Workers are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  private async latest(): Promise<StreamEvent | null> {
    return (await this.ctx.storage.get<StreamEvent>(LATEST)) ?? null;
  }

  /** Keeps `e` when it is newer than what this object has; true when it was. */
  private async remember(e: StreamEvent): Promise<boolean> {
    const cur = await this.latest();
    if (cur && cur.generation >= e.generation) return false;
    await this.ctx.storage.put(LATEST, e);
    return true;
  }

  /**
   * Hub: a release change of `ns`. Answers once the event is stored (the coordinator waits only for
   * that); the fan-out to the leaves continues, and a leaf that could not be reached gets the newest
   * event again from the alarm. Older or repeated generations are dropped (the coordinator may retry).
   */
  async publish(ns: string, e: StreamEvent): Promise<boolean> {
    if (!isStreamEvent(e) || !(await this.remember(e))) return false;
    await this.ctx.storage.put(HUB_NS, ns);
    this.ctx.waitUntil(this.fanOut(ns, e));
    return true;
  }

  private async fanOut(ns: string, e: StreamEvent): Promise<void> {
    const n = leafCount(this.env);
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => streamStub(this.env, leafName(ns, i)).broadcast(e)));
    const failed = results.filter((r) => r.status === "rejected").length;
    if (failed > 0) {
      console.error(`config stream: ${failed}/${n} leaves of '${ns}' missed generation ${e.generation}; retrying`);
      await this.ctx.storage.setAlarm(Date.now() + RETRY_MS);
    }
  }

  /** Hub: re-sends the newest event to every leaf (leaves that have it already ignore it). */
  override async alarm(): Promise<void> {
    const [ns, e] = await Promise.all([this.ctx.storage.get<string>(HUB_NS), this.latest()]);
    if (ns && e) await this.fanOut(ns, e);
  }

  /** Hub or leaf: the newest event it has seen. */
  async newest(): Promise<StreamEvent | null> {
    return this.latest();
  }

  /** Leaf: sends `e` to every connected Worker. */
  async broadcast(e: StreamEvent): Promise<number> {
    if (!isStreamEvent(e) || !(await this.remember(e))) return 0;
    const msg = JSON.stringify(e);
    let sent = 0;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(msg);
        sent++;
      } catch {
        /* closing socket: the Worker side reconnects the client */
      }
    }
    return sent;
  }

  /** Leaf: a Worker subscribes (WebSocket upgrade); the first message is the newest event known here. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    const pair = new WebSocketPair();
    const [client, server] = Object.values(pair) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server);
    const latest = await this.latest();
    server.send(JSON.stringify(latest ?? { hello: true }));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(): Promise<void> {
    // Workers only send keep-alive pings (auto-answered); anything else is ignored.
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "closed");
    } catch {
      /* already closed */
    }
  }
}

/**
 * Called by the RolloutCoordinator after a release change commits: one RPC to the namespace's hub,
 * which fans out. Throws when the hub cannot be reached (the coordinator retries).
 */
export async function publishReleaseChange(env: Env, ns: string, e: StreamEvent): Promise<void> {
  await streamStub(env, hubName(ns)).publish(ns, e);
}
