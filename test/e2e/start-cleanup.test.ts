// `npm start` leaves no process behind however it ends: Ctrl-C (SIGINT to the terminal's process
// group), the terminal closing (SIGHUP to the group), SIGTERM or SIGKILL of npm, SIGKILL of the node
// launcher under it. Each case starts `npm start` on a free port with private state, waits until it
// serves, records every process under npm (wrangler, workerd, …) and their process groups, ends it,
// then waits until the port is free and none of those processes or groups is left.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { waitForHealthy } from "../../scripts/wrangler-dev.ts";
import { freePort } from "./server.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  state: string;
  args: string;
}

/** Every process on the machine, from /proc (Linux). */
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const args = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").join(" ").trim();
      out.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid), state: state!, args });
    } catch {
      /* exited while we looked */
    }
  }
  return out;
}

function descendants(root: number): Proc[] {
  const all = processes();
  const found: Proc[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const p of all) {
      if (p.ppid === pid) {
        found.push(p);
        queue.push(p.pid);
      }
    }
  }
  return found;
}

/** Processes (not zombies) that are one of `pids` or in one of `groups`. */
function survivors(pids: Set<number>, groups: Set<number>): Proc[] {
  return processes().filter((p) => p.state !== "Z" && (pids.has(p.pid) || groups.has(p.pgid)));
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Started {
  npm: ChildProcess;
  port: number;
  tree: Proc[];
  state: string;
}

const started: Started[] = [];

/** `npm start` as a terminal would run it: npm leads a process group of its own (the foreground job). */
async function npmStart(): Promise<Started> {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), "edgeplane-start-"));
  const npm = spawn("npm", ["start"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), EDGEPLANE_PERSIST_TO: state, WRANGLER_SEND_METRICS: "false" },
    stdio: process.env.E2E_VERBOSE ? "inherit" : "ignore",
    detached: true,
  });
  const s: Started = { npm, port, tree: [], state };
  started.push(s);
  await waitForHealthy(`http://127.0.0.1:${port}`, 120_000);
  s.tree = descendants(npm.pid!);
  // The case is only meaningful when the server processes exist: wrangler and at least one workerd.
  expect(s.tree.some((p) => p.args.includes("wrangler"))).toBe(true);
  expect(s.tree.some((p) => p.args.includes("workerd"))).toBe(true);
  return s;
}

async function expectNothingLeft(s: Started): Promise<void> {
  const pids = new Set(s.tree.map((p) => p.pid));
  const groups = new Set(s.tree.map((p) => p.pgid));
  await until("the port is free", () => portFree(s.port));
  await until("no process of npm start is left", () => survivors(pids, groups).length === 0);
  expect(survivors(pids, groups)).toEqual([]);
  expect(await portFree(s.port)).toBe(true);
}

afterEach(() => {
  // A failed case must not leave its server behind for the next one.
  for (const s of started.splice(0)) {
    for (const p of survivors(new Set(s.tree.map((t) => t.pid)), new Set(s.tree.map((t) => t.pgid)))) {
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    try {
      process.kill(-s.npm.pid!, "SIGKILL");
    } catch {
      /* gone */
    }
    rmSync(s.state, { recursive: true, force: true });
  }
});

describe.skipIf(process.platform !== "linux")("npm start leaves nothing behind", () => {
  it("Ctrl-C: SIGINT to the terminal's process group", async () => {
    const s = await npmStart();
    process.kill(-s.npm.pid!, "SIGINT");
    await expectNothingLeft(s);
  });

  it("the terminal closes: SIGHUP to the process group", async () => {
    const s = await npmStart();
    process.kill(-s.npm.pid!, "SIGHUP");
    await expectNothingLeft(s);
  });

  it("SIGTERM to npm alone", async () => {
    const s = await npmStart();
    s.npm.kill("SIGTERM");
    await expectNothingLeft(s);
  });

  it("SIGKILL to npm alone (it cannot clean up; the launcher notices it is orphaned)", async () => {
    const s = await npmStart();
    s.npm.kill("SIGKILL");
    await expectNothingLeft(s);
  });

  it("SIGKILL to the node launcher under npm (the supervisor's stdin pipe closes)", async () => {
    const s = await npmStart();
    const launcher = s.tree.find((p) => p.args.includes("scripts/start.ts"));
    expect(launcher).toBeDefined();
    process.kill(launcher!.pid, "SIGKILL");
    await expectNothingLeft(s);
  });
});
