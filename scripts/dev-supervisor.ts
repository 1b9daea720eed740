// The keeper of `wrangler dev`'s process group, started by scripts/start.ts. Runs wrangler in a group
// of its own and takes the whole group (wrangler and every workerd) down when:
//   - it receives SIGINT, SIGTERM or SIGHUP (Ctrl-C, `kill`, the terminal closing), or
//   - its stdin ends: stdin is a pipe from its parent, which the kernel closes however the parent
//     ends — including SIGKILL, which no process can catch.
// A second signal, or a group that has not exited 5 s after SIGTERM, gets SIGKILL. Arguments: those
// of `wrangler dev`.
import { spawn } from "node:child_process";
import { baseEnv, ROOT, WRANGLER } from "./wrangler-dev.ts";

const GRACE_MS = 5_000;

const child = spawn(WRANGLER, process.argv.slice(2), { cwd: ROOT, env: baseEnv(), stdio: ["ignore", "inherit", "inherit"], detached: true });
const group = child.pid;

function signalGroup(signal: NodeJS.Signals): void {
  if (group === undefined) return;
  try {
    process.kill(-group, signal);
  } catch {
    /* the group is empty */
  }
}

let stopping = false;
function stop(): void {
  if (stopping) {
    signalGroup("SIGKILL");
    return;
  }
  stopping = true;
  signalGroup("SIGTERM");
  setTimeout(() => signalGroup("SIGKILL"), GRACE_MS).unref();
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();

child.on("error", (err) => {
  console.error(`cannot start wrangler: ${err.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  // wrangler is gone; whatever it left in its group (a workerd) goes with it.
  signalGroup("SIGKILL");
  process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0)));
});
