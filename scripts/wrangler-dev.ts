// Starts `wrangler dev` for edgeplane: applies D1 migrations to the local state first, then serves.
// Used by `npm start`, the end-to-end tests and the benchmark, so all three run the same way.
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

export function baseEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // npm puts node_modules/.bin first on PATH in scripts; do the same so wrangler runs on the pinned
  // Node 22 (node_modules/.bin/node) even when this file is started by another Node.
  const path = `${join(ROOT, "node_modules", ".bin")}:${process.env.PATH ?? ""}`;
  return { ...process.env, PATH: path, WRANGLER_SEND_METRICS: "false", NO_UPDATE_NOTIFIER: "1", ...extra };
}

export function ensureDevVars(): void {
  const target = join(ROOT, ".dev.vars");
  if (!existsSync(target)) {
    copyFileSync(join(ROOT, ".dev.vars.example"), target);
    console.log("created .dev.vars from .dev.vars.example");
  }
}

/** Applies migrations/ to the local D1 under `persistTo` (default .wrangler/state). */
export function applyMigrations(persistTo?: string): void {
  const args = ["d1", "migrations", "apply", "DB", "--local"];
  if (persistTo) args.push("--persist-to", persistTo);
  const r = spawnSync(WRANGLER, args, { cwd: ROOT, env: baseEnv({ CI: "true" }), encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`wrangler d1 migrations apply failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
}

export interface WranglerDevOptions {
  port: number;
  /** Isolated local state (default .wrangler/state). */
  persistTo?: string;
  /** `--var KEY:VALUE` overrides. */
  vars?: Record<string, string>;
  /** `--test-scheduled`: GET /__scheduled?cron=… runs the Cron Trigger's `scheduled` handler (tests only). */
  testScheduled?: boolean;
  /** Devtools port (wrangler's default is 9229: private servers started side by side must not share it). */
  inspectorPort?: number;
  stdio?: StdioOptions;
  /** Extra environment of the wrangler process (and its workerd), e.g. TMPDIR. */
  env?: Record<string, string>;
}

/** The arguments of `wrangler dev` for these options. */
export function wranglerDevArgs({ port, persistTo, vars = {}, testScheduled = false, inspectorPort }: WranglerDevOptions): string[] {
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--local", "--show-interactive-dev-session=false", "--log-level", "warn"];
  if (persistTo) args.push("--persist-to", persistTo);
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  if (testScheduled) args.push("--test-scheduled");
  if (inspectorPort !== undefined) args.push("--inspector-port", String(inspectorPort));
  return args;
}

/**
 * Spawns `wrangler dev` in a process group of its own (its pid is the group id), so the caller can
 * signal the whole tree — wrangler and its workerd processes — with `process.kill(-child.pid, sig)`.
 * The caller owns that group's life: `npm start` goes through scripts/dev-supervisor.ts, which
 * guarantees the group dies with it.
 */
export function spawnWranglerDev(opts: WranglerDevOptions): ChildProcess {
  return spawn(WRANGLER, wranglerDevArgs(opts), { cwd: ROOT, env: baseEnv(opts.env), stdio: opts.stdio ?? "inherit", detached: true });
}

export async function waitForHealthy(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
      last = `status ${r.status}`;
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      last = String(cause?.code ?? e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server at ${url} not healthy after ${timeoutMs} ms (${last})`);
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
