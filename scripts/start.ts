// `npm start`: the whole system on this machine, no Cloudflare account needed. Leaves no process
// behind however it ends: wrangler runs under scripts/dev-supervisor.ts, which kills wrangler's whole
// process group when this process stops, is killed (even with SIGKILL: its stdin pipe closes), or
// when npm above it dies (watched below, since an orphan is not told).
// Env: PORT (default 8787), EDGEPLANE_PERSIST_TO (local state, default .wrangler/state).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { applyMigrations, ensureDevVars, wranglerDevArgs } from "./wrangler-dev.ts";

const port = Number(process.env.PORT ?? 8787);
const persistTo = process.env.EDGEPLANE_PERSIST_TO || undefined;
ensureDevVars();
console.log(`applying D1 migrations to local state (${persistTo ?? ".wrangler/state"})…`);
applyMigrations(persistTo);
console.log(`starting wrangler dev on http://127.0.0.1:${port}`);

const supervisor = spawn(process.execPath, [fileURLToPath(new URL("./dev-supervisor.ts", import.meta.url)), ...wranglerDevArgs({ port, persistTo })], {
  stdio: ["pipe", "inherit", "inherit"],
});

let stopping = false;
function stop(): void {
  if (stopping) {
    supervisor.kill("SIGINT"); // a second Ctrl-C: the supervisor escalates to SIGKILL
    return;
  }
  stopping = true;
  supervisor.stdin?.end();
  supervisor.kill("SIGTERM");
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, stop);
supervisor.on("exit", (code, signal) => process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0))));

/** Our parent, and its parent when the parent is only the `sh -c` wrapper npm runs scripts in. */
function watchedAncestors(): number[] {
  const pids = [process.ppid];
  const parent = linuxProcess(process.ppid);
  if (parent && /(^|\/)(sh|dash|bash)$/.test(parent.argv[0] ?? "") && parent.argv[1] === "-c") pids.push(parent.ppid);
  return pids.filter((p) => p > 1);
}

function linuxProcess(pid: number): { ppid: number; argv: string[] } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    return { ppid, argv };
  } catch {
    return null; // not Linux, or already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

// An orphan is reparented, not signalled: when npm is SIGKILLed, notice it and stop.
const initialParent = process.ppid;
const ancestors = watchedAncestors();
setInterval(() => {
  if (process.ppid !== initialParent || !ancestors.every(alive)) stop();
}, 500).unref();
