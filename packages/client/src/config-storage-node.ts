import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseRecord, type ConfigStorage } from "./config-storage.ts";

/**
 * Node: one JSON file per namespace in `dir`, written atomically (temp file + rename), so a crash
 * mid-write leaves the previous good copy.
 */
export function fileStorage(dir: string): ConfigStorage {
  const file = (ns: string) => join(dir, `${ns}.json`);
  return {
    load: async (ns) => {
      try {
        return parseRecord(await readFile(file(ns), "utf8"), ns);
      } catch {
        return null;
      }
    },
    save: async (r) => {
      await mkdir(dir, { recursive: true });
      const tmp = `${file(r.namespace)}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(tmp, JSON.stringify(r));
      await rename(tmp, file(r.namespace));
    },
  };
}
