import { env } from "cloudflare:test";
import { afterEach } from "vitest";

/**
 * Test doubles of the Worker's bindings. The Worker under test (SELF) shares this `env` object, so a
 * wrapped method changes what production code sees without any hook inside it. Every wrapper is
 * undone after each test.
 */
const restores: (() => void)[] = [];

/** Undoes every wrapper (also run after each test). */
export function restoreBindings(): void {
  while (restores.length > 0) restores.pop()!();
}

afterEach(restoreBindings);

function replace<T extends object, K extends keyof T>(target: T, key: K, value: T[K]): void {
  const original = target[key];
  target[key] = value;
  restores.push(() => {
    target[key] = original;
  });
}

type KvGet = (key: string, opts?: unknown) => Promise<unknown>;

/** KV answers `key` with `value` (as its edge cache would with a copy 60 s old); other keys as usual. */
export function kvServesOldCopy(key: string, value: string): void {
  const kv = env.CONFIG_KV as unknown as { get: KvGet };
  const real = kv.get.bind(kv);
  replace(kv, "get", (async (k: string, opts?: unknown) => {
    if (k !== key) return real(k, opts);
    const type = typeof opts === "string" ? opts : (opts as { type?: string } | undefined)?.type;
    return type === "json" ? JSON.parse(value) : value;
  }) as KvGet);
}

/** Every KV read fails. */
export function kvReadsFail(): void {
  const kv = env.CONFIG_KV as unknown as { get: KvGet };
  replace(kv, "get", (async () => {
    throw new Error("KV GET failed: 503 Service Unavailable (injected)");
  }) as KvGet);
}

/** Counts KV writes per key (they still happen). */
export function kvPutLog(): { key: string; at: number; value: string }[] {
  const log: { key: string; at: number; value: string }[] = [];
  const kv = env.CONFIG_KV as unknown as { put: (k: string, v: string, o?: unknown) => Promise<void> };
  const real = kv.put.bind(kv);
  replace(kv, "put", async (k: string, v: string, o?: unknown) => {
    log.push({ key: k, at: Date.now(), value: v });
    return real(k, v, o);
  });
  return log;
}

export type CoordinatorMode = "error" | "overloaded" | "hang";

/** Every RPC to a RolloutCoordinator fails the way `mode` says (the objects themselves are untouched). */
export function coordinatorDown(mode: CoordinatorMode): void {
  const ns = env.ROLLOUT_COORDINATOR as unknown as { get: (id: DurableObjectId) => unknown };
  replace(ns, "get", () =>
    new Proxy(
      {},
      {
        get: (_t, method) => {
          if (method === "then") return undefined;
          return () => {
            if (mode === "hang") return new Promise(() => {});
            const e = new Error(mode === "overloaded" ? "Durable Object is overloaded. Too many requests queued." : "Network connection lost. (injected)");
            return Promise.reject(e);
          };
        },
      },
    ),
  );
}

/** Counts RPC calls per method to the RolloutCoordinators (calls still go through). */
export function coordinatorCalls(): Map<string, number> {
  const counts = new Map<string, number>();
  const ns = env.ROLLOUT_COORDINATOR as unknown as { get: (id: DurableObjectId) => Record<string | symbol, unknown> };
  const real = ns.get.bind(ns);
  replace(ns, "get", (id: DurableObjectId) => {
    const stub = real(id);
    return new Proxy(stub, {
      get: (t, method) => {
        const v = t[method];
        if (typeof method !== "string" || typeof v !== "function") return v;
        return (...args: unknown[]) => {
          counts.set(method, (counts.get(method) ?? 0) + 1);
          return (t[method] as (...a: unknown[]) => unknown)(...args);
        };
      },
    });
  });
  return counts;
}

/** Every D1 call fails (prepare, batch and exec), as in a D1 outage. */
export function d1Down(): void {
  const db = env.DB as unknown as Record<"prepare" | "batch" | "exec", unknown>;
  const fail = () => {
    throw new Error("D1_ERROR: Network connection lost. (injected)");
  };
  replace(db, "prepare", fail);
  replace(db, "batch", async () => fail());
  replace(db, "exec", async () => fail());
}

/**
 * Every ClickAggregator.apply() reaches the aggregator and is applied, but while `lost()` is true its
 * answer never comes back (as if the calling shard crashed right after). Records each call's `applied`.
 */
export function aggregatorAnswersLost(lost: () => boolean): boolean[] {
  const answers: boolean[] = [];
  const ns = env.CLICK_AGGREGATOR;
  const realGet = ns.get.bind(ns);
  replace(ns, "get", ((id: DurableObjectId) => {
    const stub = realGet(id);
    return {
      apply: async (...args: Parameters<typeof stub.apply>) => {
        const res = await stub.apply(...args);
        answers.push(res.applied);
        if (lost()) throw new Error("Network connection lost. (injected)");
        return res;
      },
    };
  }) as unknown as typeof ns.get);
  return answers;
}

/** Every ClickAggregator.apply() fails before reaching the aggregator (an aggregator outage, as seen by the shards). */
export function aggregatorsDown(): void {
  const ns = env.CLICK_AGGREGATOR;
  replace(ns, "get", (() => ({
    apply: async () => {
      throw new Error("Durable Object is overloaded. Too many requests queued. (injected)");
    },
  })) as unknown as typeof ns.get);
}
