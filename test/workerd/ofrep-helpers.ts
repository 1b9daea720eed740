import { expect } from "vitest";
import { OFREP_TYPED_VALUES } from "../shared/ofrep-values";
import { api } from "./helpers";
import { publish, startRollout, uniqueNs } from "./config-helpers";

/** Every OFREP value type as a top-level key, plus an array and a null (evaluated as they are). */
export const ALL_TYPES = {
  ...OFREP_TYPED_VALUES,
  list: ["x", "y"],
  nothing: null,
};

/** A namespace with an open schema, v1 released everywhere. */
export async function releasedNs(prefix: string, values: Record<string, unknown> = ALL_TYPES): Promise<string> {
  const ns = uniqueNs(prefix);
  const r = await api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: { type: "object" }, description: "ofrep test" } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  await publish(ns, values);
  expect((await startRollout(ns, 1, "immediate")).body.state).toBe("completed");
  return ns;
}

/** v2 rolled out to `percent` of eu (a long bake keeps it there); other regions stay on v1. */
export async function splitInEu(ns: string, values: Record<string, unknown>, percent = 50): Promise<number> {
  await publish(ns, values);
  const r = await startRollout(ns, 2, {
    stages: [
      { regions: ["eu"], percent, bake_seconds: 3600 },
      { regions: "*", percent: 100, bake_seconds: 0 },
    ],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.release.generation as number;
}

export function ofrepPath(ns: string, key?: string): string {
  return `/v1/configs/${ns}/ofrep/v1/evaluate/flags${key === undefined ? "" : "/" + encodeURIComponent(key)}`;
}

export async function evalFlag(
  ns: string,
  key: string,
  context: unknown = { targetingKey: "client-1" },
  opts: { region?: string; token?: string | null; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.region) headers["x-region"] = opts.region;
  return api("POST", ofrepPath(ns, key), { body: { context }, token: opts.token, headers });
}

export async function evalBulk(
  ns: string,
  context: unknown = { targetingKey: "client-1" },
  opts: { region?: string; token?: string | null; headers?: Record<string, string>; query?: string } = {},
) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.region) headers["x-region"] = opts.region;
  return api("POST", ofrepPath(ns) + (opts.query ?? ""), { body: { context }, token: opts.token, headers });
}
