// Server-side resource figures from /proc (Linux): RSS and CPU time of the wrangler/workerd tree.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

const CLK_TCK = 100; // Linux USER_HZ; stable across the kernels this runs on

interface Stat {
  pid: number;
  comm: string;
  pgid: number;
  cpuTicks: number;
}

function readStat(pid: number): Stat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const f = s.slice(close + 2).split(" ");
    // fields after comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
    return { pid, comm, pgid: Number(f[2]), cpuTicks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

const pids = (): number[] => readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);

/** The process group of whatever listens on 127.0.0.1:`port` (for --url mode), or null. */
export function pgidListeningOn(port: number): number | null {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      for (const line of readFileSync(f, "utf8").split("\n").slice(1)) {
        const c = line.trim().split(/\s+/);
        if (c.length > 9 && c[1].endsWith(`:${hex}`) && c[3] === "0A") inodes.add(c[9]);
      }
    } catch {
      /* no such table */
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of pids()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return readStat(pid)?.pgid ?? null;
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return null;
}

export interface ProcSample {
  pid: number;
  role: string;
  rss_kb: number;
  cpu_s: number;
}

/**
 * Every process of group `pgid` with RSS (KiB) and CPU seconds. workerd processes are labelled
 * "workerd:proxy" (wrangler's entry proxy, listening on the public port) or "workerd:worker" (runs the
 * Worker and its Durable Objects).
 */
export function sampleGroup(pgid: number | null): ProcSample[] {
  if (!pgid) return [];
  const out: ProcSample[] = [];
  for (const pid of pids()) {
    const st = readStat(pid);
    if (!st || st.pgid !== pgid) continue;
    let role = st.comm;
    if (st.comm === "workerd") role = /entry=127\.0\.0\.1:0\b/.test(cmdline(pid)) ? "workerd:worker" : "workerd:proxy";
    out.push({ pid, role, rss_kb: rssKb(pid), cpu_s: st.cpuTicks / CLK_TCK });
  }
  return out;
}

/** CPU seconds used per role between two samples. */
export function cpuDelta(before: ProcSample[], after: ProcSample[]): Record<string, number> {
  const prev = new Map(before.map((p) => [p.pid, p.cpu_s]));
  const out: Record<string, number> = {};
  for (const p of after) out[p.role] = (out[p.role] ?? 0) + p.cpu_s - (prev.get(p.pid) ?? 0);
  for (const k of Object.keys(out)) out[k] = Math.round(out[k] * 100) / 100;
  return out;
}

/** RSS (MiB) per role. */
export function rssByRole(sample: ProcSample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of sample) out[p.role] = Math.round(((out[p.role] ?? 0) + p.rss_kb / 1024) * 10) / 10;
  return out;
}
