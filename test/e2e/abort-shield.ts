import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback proxy in front of `wrangler dev` for the browser tests. wrangler 4.124's dev proxy exits
 * (an empty `✘ [ERROR]`, exit code 1) when a client drops a request before its response headers
 * arrive — a browser closing a page while the dashboard refreshes, on a slow machine (workers-sdk
 * #15451). Through this proxy a request the client dropped early is still completed upstream and its
 * answer discarded; once the headers have arrived, a drop is passed on (safe then, and it ends event
 * streams). When the upstream is down (a test's SIGKILL), the client's connection is destroyed, as a
 * refused connection would be — unless wrangler died on its own and is being revived (server.ts): then
 * a GET or HEAD waits for it and is sent again. wrangler 4.124 also dies on a race of its own (a
 * keep-alive connection between its proxy and the Worker closing as a request is written to it,
 * workers-sdk #15252, fixed in 4.129), which no shield can stop. Why not a newer wrangler: see README,
 * dependencies.
 */
export interface AbortShield {
  port: number;
  close(): Promise<void>;
}

export async function abortShield(targetPort: number, revival: () => Promise<void> | null): Promise<AbortShield> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => forward(req, res, true));
  const forward = (req: IncomingMessage, res: ServerResponse, mayRetry: boolean): void => {
    const upstream = request({ host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers });
    upstream.on("response", (answer) => {
      if (res.destroyed) {
        answer.destroy(); // headers are in: dropping now cannot hurt the dev server
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      res.on("close", () => {
        if (!answer.complete) answer.destroy();
      });
    });
    upstream.on("error", async (err: NodeJS.ErrnoException) => {
      const safe = mayRetry && (req.method === "GET" || req.method === "HEAD") && err.code === "ECONNREFUSED";
      // the dev server's exit is noticed a moment after its port closes
      for (let i = 0; safe && !revival() && i < 10; i++) await new Promise((r) => setTimeout(r, 50));
      const reviving = safe ? revival() : null;
      if (!reviving || res.destroyed) return void res.destroy();
      await reviving.catch(() => undefined);
      forward(req, res, false);
    });
    if (req.readableEnded) upstream.end();
    else req.pipe(upstream);
  };
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
