// Where the numbers were measured: cores, memory, versions.
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/wrangler-dev.ts";
import { wrkVersion } from "./wrk.ts";

function pkgVersion(name: string): string | null {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

export interface MachineInfo {
  cores: number;
  cpu_model: string | null;
  memory_gib: number;
  loadavg_at_start: number[];
  loadavg_at_end?: number[];
  node: string;
  wrangler: string | null;
  workerd: string | null;
  miniflare: string | null;
  wrk: string | null;
  platform: string;
}

export const loadAverage = (): number[] => loadavg().map((x) => Math.round(x * 100) / 100);

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cores: c.length,
    cpu_model: c[0]?.model ?? null,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavg_at_start: loadAverage(),
    node: process.version,
    wrangler: pkgVersion("wrangler"),
    workerd: pkgVersion("workerd"),
    miniflare: pkgVersion("miniflare"),
    wrk: wrkVersion(),
    platform: `${process.platform}-${process.arch}`,
  };
}
