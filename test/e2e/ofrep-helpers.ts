import { expect } from "vitest";
import { OFREP_TYPED_VALUES } from "../shared/ofrep-values.ts";
import { http } from "./server";

/** Every OFREP value type as a top-level key of a namespace's values. */
export const ALL_TYPES = OFREP_TYPED_VALUES;

/** A namespace with an open schema and `versions` published; v1 released everywhere. Returns a reader token. */
export async function setupNamespace(base: string, ns: string, versions: Record<string, unknown>[]): Promise<string> {
  expect((await http(base, "PUT", `/admin/v1/namespaces/${ns}`, { body: { schema: { type: "object" }, description: "ofrep e2e" } })).status).toBe(201);
  for (const values of versions) expect((await http(base, "POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values } })).status).toBe(201);
  expect((await http(base, "POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: 1, plan: "immediate" } })).body.state).toBe("completed");
  const t = await http(base, "POST", "/admin/v1/tokens", { body: { name: `reader-${ns}`, role: "reader", namespaces: [ns] } });
  expect(t.status).toBe(201);
  return t.body.token as string;
}

/** Starts `version` in eu at `percent` with a long bake (other regions stay on their stable version). */
export async function splitEu(base: string, ns: string, version: number, percent: number): Promise<number> {
  const r = await http(base, "POST", `/admin/v1/namespaces/${ns}/rollouts`, {
    body: { version, plan: { stages: [{ regions: ["eu"], percent, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }] } },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.release.generation as number;
}

/** The version `GET /v1/configs/:ns` gives a client in a region (what OFREP must agree with). */
export async function versionFor(base: string, ns: string, token: string, region: string, client: string): Promise<number> {
  const r = await http(base, "GET", `/v1/configs/${ns}?client_id=${encodeURIComponent(client)}`, { token, headers: { "x-region": region } });
  expect(r.status).toBe(200);
  return r.body.version as number;
}
