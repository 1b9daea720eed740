import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { api } from "./helpers";

let counter = 0;
/** A namespace name no other test in the file uses. */
export function uniqueNs(prefix = "ns"): string {
  counter++;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export const LIMITS_SCHEMA = {
  type: "object",
  properties: {
    feature: { type: "boolean" },
    limits: { type: "object", properties: { max: { type: "integer", maximum: 1000 } }, additionalProperties: false },
    name: { type: "string", minLength: 1 },
  },
  required: ["feature"],
};

export async function createNamespace(ns: string, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: LIMITS_SCHEMA, description: "test", ...extra } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

export async function publish(ns: string, values: Record<string, unknown>, token?: string): Promise<number> {
  const r = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values, message: "test" }, token });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.version as number;
}

export async function startRollout(ns: string, version: number, plan: unknown, token?: string): Promise<{ status: number; body: any }> {
  return api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version, plan }, token });
}

export function stubFor(ns: string): DurableObjectStub {
  return env.ROLLOUT_COORDINATOR.get(env.ROLLOUT_COORDINATOR.idFromName(ns));
}

/** Edge read; `gen` asks for a release state at least that new (as a real client would). */
export async function read(
  ns: string,
  opts: { region?: string; client?: string; gen?: number; version?: number; token?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const q = new URLSearchParams();
  if (opts.client) q.set("client_id", opts.client);
  if (opts.version !== undefined) q.set("version", String(opts.version));
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.region) headers["x-region"] = opts.region;
  if (opts.gen !== undefined) headers["x-config-generation"] = String(opts.gen);
  return api("GET", `/v1/configs/${ns}${q.size ? "?" + q : ""}`, { headers, token: opts.token });
}

export async function release(ns: string): Promise<any> {
  const r = await api("GET", `/admin/v1/namespaces/${ns}/release`);
  expect(r.status).toBe(200);
  return r.body;
}

export async function rollout(ns: string, id = "current"): Promise<any> {
  return (await api("GET", `/admin/v1/namespaces/${ns}/rollouts/${id}`)).body;
}

/** Runs the coordinator's alarm (as the runtime would) until `done` holds or `max` alarms ran. */
export async function runAlarmsUntil(ns: string, done: () => Promise<boolean>, max = 50): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await done()) return;
    await runDurableObjectAlarm(stubFor(ns));
    // Outbox retries honour their backoff: an alarm run early delivers nothing, so let time pass.
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(await done()).toBe(true);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * KV's copy of the release state once it has reached `generation` (default: the coordinator's
 * current one). The outbox spaces release writes ≥ 1 s apart, so after quick changes the last one
 * arrives with the coordinator's alarm.
 */
export async function kvRelease(ns: string, generation?: number): Promise<string> {
  const want = generation ?? ((await release(ns)).generation as number);
  for (let i = 0; i < 40; i++) {
    const raw = await env.CONFIG_KV.get(`cfg:r:${ns}`);
    if (raw && (JSON.parse(raw) as { generation: number }).generation >= want) return raw;
    await runDurableObjectAlarm(stubFor(ns));
    await sleep(100);
  }
  throw new Error(`KV never reached generation ${want} of ${ns}`);
}

/** Polls `check` until it holds (health reports reach the coordinator in batches, ≤ 1 s later). */
export async function eventually(check: () => Promise<boolean>, tries = 40): Promise<void> {
  for (let i = 0; i < tries && !(await check()); i++) await sleep(150);
  expect(await check()).toBe(true);
}

/**
 * Makes the coordinator's next `kv` KV writes and `d1` audit appends (D1 batches) fail, by swapping
 * the live instance's bindings for wrapped ones (nothing in production code). Eviction drops the
 * instance and with it the wrappers, as a real transient outage would end.
 */
export async function injectCoordinatorFaults(ns: string, faults: { kv?: number; d1?: number }): Promise<void> {
  let kv = faults.kv ?? 0;
  let d1 = faults.d1 ?? 0;
  const run = runInDurableObject as unknown as (stub: DurableObjectStub, fn: (instance: { env: Env }) => void) => Promise<void>;
  await run(stubFor(ns), (instance) => {
    const real = instance.env;
    const wrap = <T extends object>(target: T, method: string, fail: () => boolean, what: string): T =>
      new Proxy(target, {
        get: (t, p) => {
          const v = Reflect.get(t, p) as unknown;
          if (typeof v !== "function") return v;
          if (p !== method) return (v as (...a: unknown[]) => unknown).bind(t);
          return async (...args: unknown[]) => {
            if (fail()) throw new Error(`injected ${what} failure`);
            return (v as (...a: unknown[]) => unknown).apply(t, args);
          };
        },
      });
    instance.env = {
      ...real,
      CONFIG_KV: wrap(real.CONFIG_KV, "put", () => kv-- > 0, "KV"),
      DB: wrap(real.DB, "batch", () => d1-- > 0, "D1"),
    };
  });
}
