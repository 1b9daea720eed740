import type { ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { ROOT, applyMigrations, freePort, spawnWranglerDev, waitForHealthy } from "../../scripts/wrangler-dev.ts";
import { abortShield, type AbortShield } from "./abort-shield.ts";
import { jsonRequestInit, readAnswer, type JsonAnswer, type JsonRequestOptions } from "../shared/json-http.ts";

export { freePort };

export const E2E_ADMIN_TOKEN = "e2e-admin-token";
export const E2E_CLICK_KEY = "e2e-click-signing-key";


export interface DevServer {
  url: string;
  port: number;
  persistDir: string;
  /** SIGKILL the whole wrangler/workerd process tree (a crash, not a shutdown). */
  kill(): Promise<void>;
  /** Start again on the same port and persisted state (`vars` override the ones it started with: a new deployment). */
  restart(vars?: Record<string, string>): Promise<void>;
  /** Stop and delete the state. */
  dispose(): Promise<void>;
}

/**
 * Starts a private `wrangler dev` (own port, own persisted state) with test secrets and vars. Every
 * test file that needs a server starts its own, so no test depends on another's leftovers. `browser`:
 * `url` goes through the abort shield (abort-shield.ts), `port` stays wrangler's own.
 */
export async function startDevServer(vars: Record<string, string> = {}, opts: { testScheduled?: boolean; browser?: boolean } = {}): Promise<DevServer> {
  const persistDir = mkdtempSync(join(tmpdir(), "edgeplane-e2e-"));
  const port = await freePort();
  // A test that shortens FLUSH_INTERVAL_MS waits for counts to reach D1 (the pipeline view, direct reads):
  // its aggregators write D1 at that interval too, unless it sets D1_FLUSH_INTERVAL_MS itself.
  const d1: Record<string, string> = vars.FLUSH_INTERVAL_MS !== undefined && vars.D1_FLUSH_INTERVAL_MS === undefined ? { D1_FLUSH_INTERVAL_MS: vars.FLUSH_INTERVAL_MS } : {};
  let allVars: Record<string, string> = { ADMIN_TOKEN: E2E_ADMIN_TOKEN, CLICK_SIGNING_KEY: E2E_CLICK_KEY, TRUST_REGION_HEADER: "true", ...d1, ...vars };
  applyMigrations(persistDir);
  let child: ChildProcess | null = null;
  const direct = `http://127.0.0.1:${port}`;
  // a browser drops requests when a page closes: browser tests talk through the shield (abort-shield.ts)
  let revival: Promise<void> | null = null;
  const shield: AbortShield | null = opts.browser ? await abortShield(port, () => revival) : null;
  const url = shield ? `http://127.0.0.1:${shield.port}` : direct;
  // The server's output goes to a log file that outlives the test (test-results/ is kept by CI), and
  // a server that dies on its own says so, with the log's tail: a test's "fetch failed" alone says nothing.
  const logDir = join(ROOT, "test-results", "e2e-servers");
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, `${basename(persistDir)}.log`);
  let stopping = false;
  const boot = async () => {
    stopping = false;
    const log = openSync(logPath, "a");
    const c = spawnWranglerDev({ port, inspectorPort: await freePort(), persistTo: persistDir, vars: allVars, testScheduled: opts.testScheduled, stdio: process.env.E2E_VERBOSE ? "inherit" : ["ignore", log, log] });
    closeSync(log);
    c.once("exit", (code, signal) => {
      if (stopping) return;
      const tail = readFileSync(logPath, "utf8").split("\n").slice(-40).join("\n");
      console.error(`wrangler dev on port ${port} exited on its own (code ${code}, signal ${signal}); reviving it; the end of ${logPath}:\n${tail}`);
      // same port and state, as a supervisor would (requests in flight at the exit failed; see abort-shield.ts)
      revival = boot().finally(() => (revival = null));
    });
    child = c;
    await waitForHealthy(direct, 90_000);
  };
  const killTree = async (signal: NodeJS.Signals) => {
    const c = child;
    stopping = true;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    try {
      process.kill(-c.pid!, signal);
    } catch {
      /* already gone */
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    child = null;
  };
  await boot();
  return {
    url,
    port,
    persistDir,
    kill: () => killTree("SIGKILL"),
    restart: (vars = {}) => {
      allVars = { ...allVars, ...vars };
      return boot();
    },
    dispose: async () => {
      await killTree("SIGTERM");
      await killTree("SIGKILL");
      await shield?.close();
      rmSync(persistDir, { recursive: true, force: true });
    },
  };
}

/** JSON over HTTP against a dev server. */
export async function http(base: string, method: string, path: string, opts: JsonRequestOptions = {}): Promise<JsonAnswer> {
  const { headers, body } = jsonRequestInit(opts, E2E_ADMIN_TOKEN);
  return readAnswer(await fetch(base + path, { method, headers, body, redirect: "manual" }));
}
