import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_ADMIN_TOKEN, http, startDevServer, type DevServer } from "./server";

/**
 * Issue 9 §3: a series of 20 MiB bodies — chunked or with a Content-Length, anonymous or not, to
 * routes that read a body and to routes that answer before reading one — each gets its JSON error,
 * and `wrangler dev` keeps serving. (Before the fix the dev server exited after a few of them.)
 */
const SIZE = 20 * 1024 * 1024;
const CHUNK = new Uint8Array(64 * 1024).fill(0x61);

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  await server?.dispose();
});

interface Answer {
  status: number;
  code: string | null;
}

function parseCode(text: string): string | null {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? null;
  } catch {
    return null;
  }
}

/** fetch() with a streamed (chunked) body; like most clients it stops uploading once answered. */
async function chunkedFetch(path: string, token: string | null): Promise<Answer> {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= SIZE) return c.close();
      sent += CHUNK.byteLength;
      c.enqueue(CHUNK);
    },
  });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(server.url + path, { method: "POST", body, headers, duplex: "half" } as RequestInit);
  return { status: res.status, code: parseCode(await res.text()) };
}

/** node:http with an honest Content-Length: the whole body follows unless the client is told to stop. */
function lengthPost(path: string, token: string | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json", "content-length": String(SIZE) };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = httpRequest(server.url + path, { method: "POST", headers });
    let answered = false;
    req.on("response", (res) => {
      answered = true;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, code: parseCode(text) });
      });
    });
    req.on("error", (e) => (answered ? undefined : reject(e)));
    let sent = 0;
    const pump = () => {
      while (!answered && sent < SIZE) {
        sent += CHUNK.byteLength;
        if (!req.write(CHUNK)) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

const CASES: { path: string; token: string | null; status: number; code: string }[] = [
  { path: "/v1/clicks", token: null, status: 413, code: "payload_too_large" },
  { path: "/v1/clicks", token: E2E_ADMIN_TOKEN, status: 413, code: "payload_too_large" },
  { path: "/admin/v1/tokens", token: E2E_ADMIN_TOKEN, status: 413, code: "payload_too_large" },
  { path: "/admin/v1/tokens", token: null, status: 401, code: "unauthorized" },
  { path: "/admin/v1/namespaces/big/versions", token: E2E_ADMIN_TOKEN, status: 413, code: "payload_too_large" },
  { path: "/admin/v1/namespaces/big/rollback", token: E2E_ADMIN_TOKEN, status: 413, code: "payload_too_large" },
  { path: "/v1/configs/big/reports", token: E2E_ADMIN_TOKEN, status: 413, code: "payload_too_large" },
  { path: "/v1/configs/big/reports", token: "not-a-token", status: 401, code: "unauthorized" },
  { path: "/admin/v1/click-links", token: E2E_ADMIN_TOKEN, status: 413, code: "payload_too_large" },
  { path: "/no/such/route", token: null, status: 404, code: "not_found" },
  { path: "/healthz", token: null, status: 405, code: "method_not_allowed" },
];

describe("oversized bodies", () => {
  it("a series of 20 MiB bodies to every kind of route: JSON errors, and the server keeps serving", async () => {
    const seen: string[] = [];
    for (const [i, c] of CASES.entries()) {
      for (const send of [chunkedFetch, lengthPost]) {
        const a = await send(c.path, c.token);
        seen.push(`${send.name} ${c.path} ${c.token ? "auth" : "anon"}: ${a.status} ${a.code}`);
        expect(a, seen[seen.length - 1]).toEqual({ status: c.status, code: c.code });
      }
      if (i % 3 === 2) expect((await http(server.url, "GET", "/healthz", { token: null })).status).toBe(200);
    }
    expect((await http(server.url, "GET", "/healthz", { token: null })).status).toBe(200);
    // And it still does real work: a token can be minted and used.
    const t = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "after-bodies", role: "viewer", namespaces: ["*"] } });
    expect(t.status).toBe(201);
    expect((await http(server.url, "GET", "/admin/v1/audit?limit=1", { token: t.body.token })).status).toBe(200);
  });

  it("oversized headers: JSON 431 from the Worker; past the runtime's own limit a plain 431, and the server keeps serving", async () => {
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
        const req = httpRequest(server.url + "/healthz", { method: "GET", headers }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), text }));
        });
        req.on("error", reject);
        req.end();
      });
    const worker = await get({ "x-big": "a".repeat(40 * 1024) });
    expect(worker.status).toBe(431);
    expect(worker.type).toContain("application/json");
    expect(parseCode(worker.text)).toBe("headers_too_large");
    // workerd refuses ~128 KiB of headers itself, before any Worker code runs (documented limit).
    const runtime = await get({ "x-huge": "a".repeat(200 * 1024) });
    expect(runtime.status).toBe(431);
    expect((await http(server.url, "GET", "/healthz", { token: null })).status).toBe(200);
  });
});
