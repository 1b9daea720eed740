// Runs wrk with a generated Lua script (bench/lua/common.lua + a scenario) and parses the JSON line
// that common.lua's done() prints, plus wrk's own text summary.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "lua");

export function wrkVersion() {
  const r = spawnSync("wrk", ["-v"], { encoding: "utf8" });
  if (r.error) return null;
  const m = /wrk\s+(\S+)/.exec(`${r.stdout}${r.stderr}`);
  return m ? m[1] : "unknown";
}

export function assertWrk() {
  if (wrkVersion() === null) {
    throw new Error("wrk is not installed (the bench's load generator). Install it: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk`.");
  }
}

/** A JS value as a Lua literal (ASCII strings only: Lua 5.1 has no \u escapes). */
export function toLua(v) {
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

function parseSummary(text) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests_per_sec: rps ? Number(rps[1]) : null,
    non_2xx_3xx: non2xx ? Number(non2xx[1]) : 0,
    socket_errors: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : null,
  };
}

/**
 * Runs one load: `scenario` is a file in bench/lua ("replay" or "clicks"), `data` becomes the Lua
 * table DATA. Returns {requests_per_sec, requests, duration_s, latency_ms: {p50, p99, ...}, statuses,
 * acked, duplicates, events_sent, errors, raw}.
 */
export async function runWrk({ url, path = "/", scenario, data, durationS, threads = 1, connections = 16, timeoutS = 10 }) {
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-wrk-"));
  const script = join(dir, `${scenario}.lua`);
  writeFileSync(
    script,
    [`local DATA = ${toLua(data)}`, readFileSync(join(LUA_DIR, "common.lua"), "utf8"), readFileSync(join(LUA_DIR, `${scenario}.lua`), "utf8")].join("\n"),
  );
  const args = ["-t", String(threads), "-c", String(Math.max(connections, threads)), "-d", `${durationS}s`, "--timeout", `${timeoutS}s`, "--latency", "-s", script, url + path];
  try {
    const { code, stdout, stderr } = await new Promise((resolve, reject) => {
      const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (err += d));
      child.on("error", reject);
      child.on("exit", (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    const line = stdout.split("\n").find((l) => l.startsWith("BENCH_JSON "));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}): ${stderr || stdout}`);
    const j = JSON.parse(line.slice("BENCH_JSON ".length));
    const durationS2 = j.duration_us / 1e6;
    const p = j.latency_us.percentiles;
    const statuses = Object.fromEntries(Object.entries(j.tallies.statuses).map(([k, n]) => [k, n]));
    const ok = Object.entries(statuses).reduce((s, [k, n]) => s + (Number(k) < 400 ? n : 0), 0);
    const summary = parseSummary(stdout);
    return {
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
      error_codes: j.tallies.error_codes,
      wrk_summary: summary,
      wrk_stdout: stdout,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
