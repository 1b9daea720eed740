// The loads, as wrk DATA tables. Every scenario goes through the same Lua request/response hooks, so
// the load generator's own cost is the same for the floor and the routes compared with it.
import type { ConfigClient } from "./fixture.ts";
import type { LuaValue } from "./wrk.ts";

export type ScenarioKind = "floor" | "config" | "reports" | "clicks";

export interface Scenario {
  name: string;
  kind: ScenarioKind;
  path: string;
  /** bench/lua/<scenario>.lua */
  scenario: string;
  data: { [k: string]: LuaValue };
  expectStatus?: number;
  eventsPerRequest?: number;
  /** Click scenarios: the campaigns whose counts they check. */
  campaigns?: string[];
  /** Click scenarios: "realistic" (the default workload) or "best-case" (the first round's). */
  workload?: "realistic" | "best-case";
}

export function floorScenario(): Scenario {
  return { name: "floor", kind: "floor", path: "/noop", scenario: "replay", data: { requests: [{ method: "GET", path: "/noop", headers: {} }] } };
}

/** GET /v1/configs/:ns as many clients in every region (200, or 304 with the client's current ETag). */
export function configScenario(name: string, ns: string, readerToken: string, clients: ConfigClient[], { conditional }: { conditional: boolean }): Scenario {
  const requests = clients.map((c) => ({
    method: "GET",
    path: `/v1/configs/${ns}?client_id=${encodeURIComponent(c.clientId)}`,
    headers: { Authorization: `Bearer ${readerToken}`, "X-Region": c.region, ...(conditional ? { "If-None-Match": c.etag } : {}) },
  }));
  return { name, kind: "config", path: requests[0].path, scenario: "replay", data: { requests }, expectStatus: conditional ? 304 : 200 };
}

/** POST /v1/configs/:ns/reports, one report per request, 1 in 50 an error. */
export function reportsScenario(ns: string, readerToken: string, clients: ConfigClient[]): Scenario {
  const requests: LuaValue[] = [];
  for (let i = 0; i < 50; i++) {
    const c = clients[i % clients.length];
    const body = JSON.stringify(i === 49 ? { client_id: c.clientId, version: c.version, status: "error", error: "bench: simulated failure" } : { client_id: c.clientId, version: c.version, status: "ok" });
    requests.push({ method: "POST", path: `/v1/configs/${ns}/reports`, headers: { Authorization: `Bearer ${readerToken}`, "X-Region": c.region, "Content-Type": "application/json" }, body });
  }
  return { name: "reports", kind: "reports", path: `/v1/configs/${ns}/reports`, scenario: "replay", data: { requests, events_per_request: 1 }, eventsPerRequest: 1, expectStatus: 202 };
}

/**
 * The first round's best case (`--workload best-case`): POST /v1/clicks with `batch` fresh events per
 * request, one campaign, 20 ads, no duplicates, ts = now.
 */
export function bestCaseClicksScenario(batch: number, runId: string, campaign: string, regions: string[], token: string): Scenario {
  return {
    name: `clicks_b${batch}_best`,
    kind: "clicks",
    workload: "best-case",
    campaigns: [campaign],
    path: "/v1/clicks",
    scenario: "clicks",
    data: { path: "/v1/clicks", batch, run_id: runId, campaign, ads: 20, regions, token },
    eventsPerRequest: batch,
    expectStatus: 200,
  };
}
