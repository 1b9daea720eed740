// Where the numbers were measured: cores, memory, versions.
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../scripts/wrangler-dev.mjs";
import { wrkVersion } from "./wrk.mjs";

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

export function machineInfo() {
  const c = cpus();
  return {
    cores: c.length,
    cpu_model: c[0]?.model ?? null,
    memory_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    wrangler: pkgVersion("wrangler"),
    workerd: pkgVersion("workerd"),
    miniflare: pkgVersion("miniflare"),
    wrk: wrkVersion(),
    platform: `${process.platform}-${process.arch}`,
  };
}
