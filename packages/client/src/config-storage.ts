/**
 * Last-known-good config: what the client keeps so an app still starts and runs when the edge cannot
 * be reached. A record is only ever replaced by a newer generation or version (never moves back).
 */
export interface ConfigRecord {
  namespace: string;
  version: number;
  generation: number;
  etag: string;
  values: Record<string, unknown>;
  /** epoch ms of the fetch that produced it */
  fetchedAt: number;
}

export interface ConfigStorage {
  load(namespace: string): Promise<ConfigRecord | null>;
  save(record: ConfigRecord): Promise<void>;
}

/** A stored record as untrusted input (a file or localStorage may hold anything). */
export function parseRecord(text: string | null, namespace: string): ConfigRecord | null {
  if (!text) return null;
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return null;
  }
  const x = r as ConfigRecord;
  if (
    typeof r !== "object" || r === null ||
    x.namespace !== namespace ||
    !Number.isSafeInteger(x.version) || x.version < 1 ||
    !Number.isSafeInteger(x.generation) || x.generation < 0 ||
    typeof x.etag !== "string" ||
    typeof x.values !== "object" || x.values === null || Array.isArray(x.values) ||
    !Number.isFinite(x.fetchedAt)
  ) {
    return null;
  }
  return { namespace: x.namespace, version: x.version, generation: x.generation, etag: x.etag, values: x.values, fetchedAt: x.fetchedAt };
}

/** Is `next` at least as new as `cur` (a release generation never goes back)? */
export function isNewer(next: ConfigRecord, cur: ConfigRecord | null): boolean {
  return cur === null || next.generation >= cur.generation;
}

/** In memory only (the default): survives edge outages, not restarts. */
export function memoryStorage(): ConfigStorage {
  const m = new Map<string, string>();
  return {
    load: async (ns) => parseRecord(m.get(ns) ?? null, ns),
    save: async (r) => {
      m.set(r.namespace, JSON.stringify(r));
    },
  };
}

/** Browser `localStorage` (or any Web Storage) under `<prefix><namespace>`; quota errors are ignored. */
export function webStorage(storage: Pick<Storage, "getItem" | "setItem"> = globalThis.localStorage, prefix = "edgeplane:config:"): ConfigStorage {
  return {
    load: async (ns) => {
      try {
        return parseRecord(storage.getItem(prefix + ns), ns);
      } catch {
        return null;
      }
    },
    save: async (r) => {
      try {
        storage.setItem(prefix + r.namespace, JSON.stringify(r));
      } catch {
        /* full or disabled storage: memory still has it */
      }
    },
  };
}
