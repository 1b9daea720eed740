// The system under test: a private `wrangler dev` (own port, own persisted state) or one given by --url.
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations, freePort, spawnWranglerDev, waitForHealthy } from "../../scripts/wrangler-dev.ts";

export { freePort };

export const BENCH_ADMIN_TOKEN = "bench-admin-token";
export const BENCH_CLICK_KEY = "bench-click-signing-key";

/** Defaults of the vars the bench depends on (wrangler.toml's production defaults). */
export const DEFAULT_VARS: Record<string, string> = {
  FLUSH_INTERVAL_MS: "1000",
  ALLOWED_LATENESS_SECONDS: "86400",
  MAX_CLOCK_SKEW_SECONDS: "300",
  CLICK_SHARDS: "16",
  REGIONS: "na,sa,eu,af,as,oc,an",
};

export interface Server {
  url: string;
  port: number;
  token: string;
  vars: Record<string, string>;
  pgid: number | null;
  persistDir: string | null;
  private: boolean;
  stop: (opts?: { keepState?: boolean }) => Promise<void>;
  exitInfo: { exited: boolean; code?: number | null; signal?: string | null; at?: string | null };
  /** Aborted when a private server exits (never for --url). */
  died: AbortSignal;
  outputTail: () => string[];
}

export type Log = (...args: unknown[]) => void;

/** Where a private server keeps its local state, and whether that is RAM (tmpfs) or this machine's disk. */
export interface StateRoot {
  dir: string;
  ram: boolean;
}

const RAM_DIR = "/dev/shm";

/**
 * The private servers' state directory: `requested` (--state-dir) if given, else /dev/shm when it is a
 * writable directory, else the OS temp dir. Local Durable Objects and D1 are SQLite files that workerd
 * fsyncs on every commit from the Worker's own thread; on this VM's disk that is ext4 journal commits
 * and virtio flushes (≈ 175 fsyncs/s at batch 100) charged to the click routes and not to the floor.
 * Cloudflare's storage does not run on the isolate's thread, so the bench keeps it off the disk by
 * default (docs/bench.md, "State on a RAM filesystem"); `--state-dir /tmp` measures on disk.
 */
export function benchStateRoot(requested?: string): StateRoot {
  if (requested) return { dir: requested, ram: requested === RAM_DIR || requested.startsWith(RAM_DIR + "/") };
  try {
    if (statSync(RAM_DIR).isDirectory()) {
      accessSync(RAM_DIR, constants.W_OK);
      return { dir: RAM_DIR, ram: true };
    }
  } catch {
    /* no RAM filesystem here */
  }
  return { dir: tmpdir(), ram: false };
}


/** Only loopback targets: this tool generates load and must never point at someone else's host. */
export function assertLoopback(url: string): string {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  if (!["127.0.0.1", "localhost", "::1"].includes(host) && !/^127\./.test(host)) {
    throw new Error(`refusing to load-test ${u.host}: only loopback targets (127.0.0.1, localhost, ::1) are allowed`);
  }
  return u.origin;
}

/** Starts a private server. Vars: DEFAULT_VARS < `vars`; secrets and TRUST_REGION_HEADER are fixed. */
export async function startServer(
  vars: Record<string, string> = {},
  { log = () => {}, inspectorPort, stateRoot = benchStateRoot() }: { log?: Log; inspectorPort?: number; stateRoot?: StateRoot } = {},
): Promise<Server> {
  const persistDir = mkdtempSync(join(stateRoot.dir, "edgeplane-bench-"));
  const port = await freePort();
  const allVars = { ...DEFAULT_VARS, ...vars, ADMIN_TOKEN: BENCH_ADMIN_TOKEN, CLICK_SIGNING_KEY: BENCH_CLICK_KEY, TRUST_REGION_HEADER: "true" };
  const url = `http://127.0.0.1:${port}`;
  log(`applying migrations to ${persistDir}`);
  applyMigrations(persistDir);
  log(`starting wrangler dev on ${url}`);
  const child = spawnWranglerDev({ port, inspectorPort: inspectorPort ?? (await freePort()), persistTo: persistDir, vars: allVars, stdio: ["ignore", "pipe", "pipe"],
    // SQLite's temporary files (sorts, temp B-trees) beside the state, not in the disk's /tmp
    env: { TMPDIR: persistDir },
  });
  // Keep the server's last output lines (and echo them with BENCH_VERBOSE=1) for post-mortems.
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      if (process.env.BENCH_VERBOSE) process.stderr.write(d);
      for (const line of d.split("\n")) if (line.trim()) tail.push(line.replace(/\x1b\[[0-9;]*m/g, "").slice(0, 500));
      if (tail.length > 60) tail.splice(0, tail.length - 60);
    });
  }
  const exitInfo: Server["exitInfo"] = { exited: false, code: null, signal: null, at: null };
  const died = new AbortController();
  const exited = new Promise<void>((r) =>
    child.once("exit", (code, signal) => {
      Object.assign(exitInfo, { exited: true, code, signal, at: new Date().toISOString() });
      died.abort(new Error(`the server exited (code ${code}, signal ${signal})`));
      r();
    }),
  );
  const pid = child.pid as number;
  let stopped = false;
  const stop = async ({ keepState = false } = {}) => {
    if (!stopped) {
      stopped = true;
      for (const sig of ["SIGTERM", "SIGKILL"] as const) {
        if (child.exitCode !== null || child.signalCode !== null) break;
        try {
          process.kill(-pid, sig);
        } catch {
          /* already gone */
        }
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      // workerd may outlive wrangler by a moment; make sure nothing of the group is left.
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        /* none left */
      }
    }
    if (!keepState) rmSync(persistDir, { recursive: true, force: true });
  };
  try {
    await waitForHealthy(url, 90_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, port, token: BENCH_ADMIN_TOKEN, vars: allVars, pgid: pid, persistDir, private: true, stop, exitInfo, died: died.signal, outputTail: () => [...tail] };
}

/** Attaches to a running server (`--url`, `--token`). Vars are what the caller says they are. */
export async function attachServer(url: string, token: string, vars: Record<string, string> = {}): Promise<Server> {
  const origin = assertLoopback(url);
  await waitForHealthy(origin, 10_000);
  return { url: origin, port: Number(new URL(origin).port || 80), token, vars: { ...DEFAULT_VARS, ...vars }, pgid: null, persistDir: null, private: false, stop: async () => {}, exitInfo: { exited: false }, died: new AbortController().signal, outputTail: () => [] };
}
