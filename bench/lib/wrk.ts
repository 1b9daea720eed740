// Runs wrk with a generated Lua script (bench/lua/common.lua + a scenario) and parses the JSON line
// that common.lua's done() prints, plus wrk's own text summary.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "lua");

export function wrkVersion(): string | null {
  const r = spawnSync("wrk", ["-v"], { encoding: "utf8" });
  if (r.error) return null;
  const m = /wrk\s+(\S+)/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : "unknown";
}

export function assertWrk(): void {
  if (wrkVersion() === null) {
    throw new Error("wrk is not installed (the bench's load generator). Install it: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`.");
  }
}

export type LuaValue = string | number | boolean | null | undefined | LuaValue[] | { [k: string]: LuaValue };

/** A JS value as a Lua literal (ASCII strings only: Lua 5.1 has no \u escapes). */
export function toLua(v: LuaValue): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`not a finite number: ${v}`);
    return String(v);
  }
  if (typeof v === "boolean") return String(v);
  if (typeof v === "string") {
    if (/[^\x20-\x7e]/.test(v)) throw new Error(`non-printable-ASCII string cannot go to Lua: ${JSON.stringify(v)}`);
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `{${v.map(toLua).join(",")}}`;
  return `{${Object.entries(v)
    .filter(([, x]) => x !== undefined)
    .map(([k, x]) => `[${JSON.stringify(k)}]=${toLua(x)}`)
    .join(",")}}`;
}

function parseSummary(text: string) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests_per_sec: rps ? Number(rps[1]) : null,
    non_2xx_3xx: non2xx ? Number(non2xx[1]) : 0,
    socket_errors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : null,
  };
}

export interface LatencyMs {
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  "p99.9": number;
  mean: number;
  max: number;
}

/** Per-thread figures of a clean-stop scenario (bench/lua/realistic.lua's EXTRA). */
export type ThreadExtra = Record<string, number>;

export interface WrkResult {
  command: string;
  duration_s: number;
  requests: number;
  requests_per_sec: number;
  ok_requests: number;
  ok_per_sec: number;
  not_ok_requests: number;
  statuses: Record<string, number>;
  socket_errors: Record<string, number>;
  latency_ms: LatencyMs;
  bytes: number;
  acked: number;
  duplicates: number;
  events_sent: number;
  requests_with_rejects: number;
  error_codes: Record<string, number>;
  wrk_summary: ReturnType<typeof parseSummary>;
  /** Clean-stop scenarios: did every thread stop by itself after all its answers arrived? */
  clean_stop?: boolean;
  extra?: ThreadExtra;
  per_thread?: ThreadExtra[];
  /** Ground truth of a clean-stop scenario: fresh events per "minute|pair|region index". */
  cells?: Record<string, number>;
  wrk_stdout?: string;
}

export interface WrkRun {
  url: string;
  path?: string;
  scenario: string;
  data: LuaValue;
  durationS: number;
  threads?: number;
  connections?: number;
  timeoutS?: number;
  /**
   * The scenario stops by itself (bench/lua/realistic.lua): each thread prints BENCH_THREAD_DONE once
   * every request it sent is answered; when all have, wrk is interrupted (SIGINT ends its sleep) and
   * prints its results. wrk's own -d is then only a safety limit: durationS + graceS.
   */
  cleanStop?: { graceS: number };
  /** Ends wrk at once (e.g. when the server under test exits) and fails the run. */
  signal?: AbortSignal;
}

/** Runs one load. */
export async function runWrk({ url, path = "/", scenario, data, durationS, threads = 1, connections = 16, timeoutS = 10, cleanStop, signal }: WrkRun): Promise<WrkResult> {
  signal?.throwIfAborted();
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-wrk-"));
  const script = join(dir, `${scenario}.lua`);
  writeFileSync(script, [`local DATA = ${toLua(data)}`, readFileSync(join(LUA_DIR, "common.lua"), "utf8"), readFileSync(join(LUA_DIR, `${scenario}.lua`), "utf8")].join("\n"));
  const wrkDuration = cleanStop ? Math.ceil(durationS + cleanStop.graceS) : durationS;
  const args = ["-t", String(threads), "-c", String(Math.max(connections, threads)), "-d", `${wrkDuration}s`, "--timeout", `${timeoutS}s`, "--latency", "-s", script, url + path];
  try {
    let done = 0;
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        const before = out.length;
        out += d;
        if (!cleanStop) return;
        // Count completed marker lines in the new text (a line may arrive split over two chunks).
        const from = out.lastIndexOf("\n", before - 1) + 1;
        for (const line of out.slice(from).split("\n").slice(0, -1)) if (line.startsWith("BENCH_THREAD_DONE")) done++;
        if (done >= threads && child.exitCode === null) child.kill("SIGINT");
      });
      child.stderr.on("data", (d) => (err += d));
      const abort = () => {
        child.kill("SIGKILL");
        reject(signal?.reason ?? new Error("aborted"));
      };
      signal?.addEventListener("abort", abort, { once: true });
      child.on("error", reject);
      child.on("exit", (c) => {
        signal?.removeEventListener("abort", abort);
        resolve({ code: c, stdout: out, stderr: err });
      });
    });
    const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${stderr || stdout.slice(0, 2000)}`);
    const j = JSON.parse(line.slice("BENCH_JSON ".length));
    const durationS2 = j.duration_us / 1e6;
    const p = j.latency_us.percentiles;
    const statuses: Record<string, number> = { ...j.tallies.statuses };
    const ok = Object.entries(statuses).reduce((s, [k, n]) => s + (Number(k) < 400 ? n : 0), 0);
    const summary = parseSummary(stdout);
    const result: WrkResult = {
      command: `wrk ${args.join(" ")}`,
      duration_s: durationS2,
      requests: j.requests,
      requests_per_sec: j.requests / durationS2,
      ok_requests: ok,
      ok_per_sec: ok / durationS2,
      not_ok_requests: j.requests - ok,
      statuses,
      socket_errors: j.errors,
      latency_ms: { p50: p["50"] / 1000, p75: p["75"] / 1000, p90: p["90"] / 1000, p99: p["99"] / 1000, "p99.9": p["99.9"] / 1000, mean: j.latency_us.mean / 1000, max: j.latency_us.max / 1000 },
      bytes: j.bytes,
      acked: j.tallies.acked,
      duplicates: j.tallies.duplicates,
      events_sent: j.tallies.events_sent,
      requests_with_rejects: j.tallies.requests_with_rejects,
      error_codes: j.tallies.error_codes ?? {},
      wrk_summary: summary,
      wrk_stdout: stdout.split("\n").filter((l) => !l.startsWith("BENCH_JSON")).join("\n"),
    };
    if (cleanStop) {
      result.clean_stop = done >= threads;
      result.extra = j.tallies.extra ?? {};
      result.per_thread = Object.values(j.tallies.per_thread ?? {});
      result.cells = j.tallies.cells ?? {};
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
