import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_ADMIN_TOKEN, http, startDevServer, type DevServer } from "./server";

/**
 * A flood of invalid and oversized requests against a real `wrangler dev`, while a steady stream of
 * valid config reads and click batches runs. Every bad request must get its status and a JSON error
 * body; every valid one must still succeed; afterwards the metrics equal exactly what the valid stream
 * had acknowledged (ground truth computed here) and nothing carried by a bad request was stored.
 * Bounded: a few hundred bad requests, loopback only.
 */

const NS = "flood";
const MIN = 60_000;
const SCHEMA = {
  type: "object",
  properties: { feature: { type: "boolean" }, name: { type: "string" } },
  required: ["feature"],
  additionalProperties: false,
};
const V1 = { feature: true, name: "stable" };
const BAD_REQUESTS = 360;
const BAD_CONCURRENCY = 12;

let server: DevServer;
const tok = { reader: "", viewer: "", publisher: "", otherReader: "" };
let setupAuditEntries = 0;

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "300" });
  const ok = async (p: Promise<{ status: number; body: any }>, status: number) => {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    return r.body;
  };
  await ok(http(server.url, "PUT", `/admin/v1/namespaces/${NS}`, { body: { schema: SCHEMA } }), 201);
  await ok(http(server.url, "POST", `/admin/v1/namespaces/${NS}/versions`, { body: { values: V1, message: "v1" } }), 201);
  expect((await ok(http(server.url, "POST", `/admin/v1/namespaces/${NS}/rollouts`, { body: { version: 1, plan: "immediate" } }), 201)).state).toBe("completed");
  const mint = async (role: string, namespaces: string[]) =>
    (await ok(http(server.url, "POST", "/admin/v1/tokens", { body: { name: `flood-${role}`, role, namespaces } }), 201)).token as string;
  tok.reader = await mint("reader", [NS]);
  tok.viewer = await mint("viewer", ["*"]);
  tok.publisher = await mint("publisher", [NS]);
  tok.otherReader = await mint("reader", ["elsewhere"]);
  setupAuditEntries = (await http(server.url, "GET", "/admin/v1/audit?limit=1000")).body.entries.length;
});

afterAll(async () => {
  await server?.dispose();
});

// ---------------------------------------------------------------- raw requests

interface Answer {
  status: number;
  contentType: string;
  body: any;
  headers: Headers;
}

async function send(path: string, init: RequestInit & { duplex?: "half" } = {}): Promise<Answer> {
  const res = await fetch(server.url + path, { redirect: "manual", ...init });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* keep the text: the assertion below reports it */
  }
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", body, headers: res.headers };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const JSON_CT = { "content-type": "application/json" };

// ---------------------------------------------------------------- events

interface Ev {
  click_id: string;
  campaign_id: string;
  ad_id: string;
  ts: number;
}

const started = Date.now();
/** Events that a bad request carries: valid in themselves, so storing any of them would show up. */
function badEvents(tag: string, n: number): Ev[] {
  return Array.from({ length: n }, (_, i) => ({ click_id: `bad-${tag}-${i}-${Math.random().toString(36).slice(2, 10)}`, campaign_id: "bad-campaign", ad_id: `bad-${tag}`, ts: started - 1_000 }));
}

function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.subarray(at, at + 64 * 1024));
      at += 64 * 1024;
    },
  });
}

const TWO_MIB = 2 * 1024 * 1024;
const bigClickBody = JSON.stringify({ events: badEvents("big", 200), pad: "x".repeat(TWO_MIB) });
const bigVersionBody = JSON.stringify({ values: { feature: false, name: "y".repeat(TWO_MIB) }, message: "too big" });

// ---------------------------------------------------------------- the catalog of bad requests

interface BadCase {
  name: string;
  status: number;
  code: string;
  run(): Promise<Answer>;
}

const badCases: BadCase[] = [
  // POST /v1/clicks
  { name: "clicks: malformed JSON", status: 400, code: "invalid_json", run: () => send("/v1/clicks", { method: "POST", headers: JSON_CT, body: '{"events": [{"click_id": ' }) },
  { name: "clicks: events not an array", status: 400, code: "invalid_body", run: () => send("/v1/clicks", { method: "POST", headers: JSON_CT, body: '{"events": {"a": 1}}' }) },
  { name: "clicks: 2 MiB body with Content-Length", status: 413, code: "payload_too_large", run: () => send("/v1/clicks", { method: "POST", headers: JSON_CT, body: bigClickBody }) },
  {
    name: "clicks: 2 MiB chunked body",
    status: 413,
    code: "payload_too_large",
    run: () => send("/v1/clicks", { method: "POST", headers: JSON_CT, body: chunked(bigClickBody), duplex: "half" }),
  },
  {
    name: "clicks: 1001 events",
    status: 413,
    code: "too_many_events",
    run: () => send("/v1/clicks", { method: "POST", headers: JSON_CT, body: JSON.stringify({ events: badEvents("many", 1001) }) }),
  },
  {
    name: "clicks: wrong content type",
    status: 415,
    code: "unsupported_media_type",
    run: () => send("/v1/clicks", { method: "POST", headers: { "content-type": "application/xml" }, body: JSON.stringify({ events: badEvents("xml", 20) }) }),
  },
  {
    name: "clicks: no content type",
    status: 415,
    code: "unsupported_media_type",
    run: () => send("/v1/clicks", { method: "POST", body: new TextEncoder().encode(JSON.stringify({ events: badEvents("noct", 20) })) }),
  },
  {
    name: "clicks: bad bearer token",
    status: 401,
    code: "unauthorized",
    run: () => send("/v1/clicks", { method: "POST", headers: { ...JSON_CT, ...auth("not-a-token") }, body: JSON.stringify({ events: badEvents("tok", 20) }) }),
  },
  {
    name: "clicks: 16 KiB bearer token",
    status: 401,
    code: "unauthorized",
    run: () => send("/v1/clicks", { method: "POST", headers: { ...JSON_CT, ...auth("t".repeat(16 * 1024)) }, body: JSON.stringify({ events: badEvents("hugetok", 20) }) }),
  },
  {
    name: "clicks: NDJSON with a broken last line",
    status: 400,
    code: "invalid_json",
    run: () =>
      send("/v1/clicks", {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: badEvents("ndjson", 30).map((e) => JSON.stringify(e)).join("\n") + '\n{"click_id": "broken',
      }),
  },
  {
    name: "clicks: invalid UTF-8",
    status: 400,
    code: "invalid_encoding",
    run: () => {
      const good = new TextEncoder().encode(JSON.stringify({ events: badEvents("utf8", 10) }));
      const body = new Uint8Array([...good.subarray(0, good.length - 2), 0xff, 0xfe, ...good.subarray(good.length - 2)]);
      return send("/v1/clicks", { method: "POST", headers: JSON_CT, body });
    },
  },
  { name: "clicks: GET", status: 405, code: "method_not_allowed", run: () => send("/v1/clicks") },
  { name: "clicks: DELETE", status: 405, code: "method_not_allowed", run: () => send("/v1/clicks", { method: "DELETE" }) },
  // GET /v1/configs/:ns
  { name: "config read: no token", status: 401, code: "unauthorized", run: () => send(`/v1/configs/${NS}`) },
  { name: "config read: bad token", status: 401, code: "unauthorized", run: () => send(`/v1/configs/${NS}`, { headers: auth("nope-" + Math.random()) }) },
  // Request line + headers over 32 KiB: a JSON 431 before any token is looked at (docs/security.md).
  { name: "config read: 64 KiB token", status: 431, code: "headers_too_large", run: () => send(`/v1/configs/${NS}`, { headers: auth("k".repeat(64 * 1024)) }) },
  {
    name: "config read: 64 KiB extra header, bad token",
    status: 431,
    code: "headers_too_large",
    run: () => send(`/v1/configs/${NS}`, { headers: { ...auth("nope"), "x-padding": "p".repeat(64 * 1024) } }),
  },
  { name: "config read: malformed Authorization", status: 401, code: "unauthorized", run: () => send(`/v1/configs/${NS}`, { headers: { authorization: "Basic dXNlcjpwYXNz" } }) },
  { name: "config read: viewer role", status: 403, code: "forbidden", run: () => send(`/v1/configs/${NS}`, { headers: auth(tok.viewer) }) },
  { name: "config read: reader of another namespace", status: 403, code: "forbidden_namespace", run: () => send(`/v1/configs/${NS}`, { headers: auth(tok.otherReader) }) },
  {
    name: "config read: bad generation header",
    status: 400,
    code: "invalid_generation",
    run: () => send(`/v1/configs/${NS}`, { headers: { ...auth(tok.reader), "x-config-generation": "soon" } }),
  },
  { name: "config read: bad pinned version", status: 400, code: "invalid_version", run: () => send(`/v1/configs/${NS}?version=1e3`, { headers: auth(tok.reader) }) },
  { name: "config read: unknown pinned version", status: 404, code: "version_not_found", run: () => send(`/v1/configs/${NS}?version=99`, { headers: auth(tok.reader) }) },
  { name: "config read: bad namespace name", status: 400, code: "invalid_namespace", run: () => send(`/v1/configs/${"N".repeat(300)}`, { headers: auth(tok.reader) }) },
  {
    name: "config reports: invalid body",
    status: 400,
    code: "invalid_request",
    run: () => send(`/v1/configs/${NS}/reports`, { method: "POST", headers: { ...JSON_CT, ...auth(tok.reader) }, body: JSON.stringify({ client_id: "", status: "meh" }) }),
  },
  // Admin: publishing
  {
    name: "publish: malformed JSON",
    status: 400,
    code: "invalid_json",
    run: () => send(`/admin/v1/namespaces/${NS}/versions`, { method: "POST", headers: { ...JSON_CT, ...auth(tok.publisher) }, body: '{"values": {' }),
  },
  {
    name: "publish: 2 MiB body",
    status: 413,
    code: "payload_too_large",
    run: () => send(`/admin/v1/namespaces/${NS}/versions`, { method: "POST", headers: { ...JSON_CT, ...auth(tok.publisher) }, body: bigVersionBody }),
  },
  {
    name: "publish: 2 MiB chunked body",
    status: 413,
    code: "payload_too_large",
    run: () =>
      send(`/admin/v1/namespaces/${NS}/versions`, { method: "POST", headers: { ...JSON_CT, ...auth(tok.publisher) }, body: chunked(bigVersionBody), duplex: "half" }),
  },
  {
    name: "publish: values violate the schema",
    status: 422,
    code: "validation_failed",
    run: () =>
      send(`/admin/v1/namespaces/${NS}/versions`, {
        method: "POST",
        headers: { ...JSON_CT, ...auth(tok.publisher) },
        body: JSON.stringify({ values: { feature: "yes", extra: 1 }, message: "bad" }),
      }),
  },
  {
    name: "publish: reader role",
    status: 403,
    code: "forbidden",
    run: () => send(`/admin/v1/namespaces/${NS}/versions`, { method: "POST", headers: { ...JSON_CT, ...auth(tok.reader) }, body: JSON.stringify({ values: V1 }) }),
  },
  {
    name: "token create: publisher role",
    status: 403,
    code: "forbidden",
    run: () => send("/admin/v1/tokens", { method: "POST", headers: { ...JSON_CT, ...auth(tok.publisher) }, body: JSON.stringify({ name: "x", role: "admin" }) }),
  },
  // Routing
  { name: "unknown route", status: 404, code: "not_found", run: () => send("/v1/nowhere/at/all") },
  { name: "unknown admin route", status: 404, code: "not_found", run: () => send("/admin/v1/nothing", { method: "POST", headers: auth(E2E_ADMIN_TOKEN) }) },
  { name: "healthz: PUT", status: 405, code: "method_not_allowed", run: () => send("/healthz", { method: "PUT" }) },
  // Metrics
  { name: "metrics: no token", status: 401, code: "unauthorized", run: () => send("/api/v1/clicks/metrics") },
  { name: "metrics: bad query", status: 400, code: "invalid_query", run: () => send("/api/v1/clicks/metrics?granularity=week", { headers: auth(tok.viewer) }) },
];

function expectJsonError(c: BadCase, a: Answer): void {
  const where = `${c.name}: ${a.status} ${typeof a.body === "string" ? a.body.slice(0, 200) : JSON.stringify(a.body).slice(0, 300)}`;
  expect(a.status, where).toBe(c.status);
  expect(a.contentType, where).toMatch(/^application\/json/);
  expect(a.body?.error?.code, where).toBe(c.code);
  expect(typeof a.body.error.message, where).toBe("string");
  expect(a.body.error.message.length, where).toBeGreaterThan(0);
  expect("details" in a.body.error, where).toBe(true);
}

// ---------------------------------------------------------------- the valid stream and its ground truth

const REGIONS = ["eu", "na", "as"];
const ADS = ["ad-0", "ad-1", "ad-2"];
const CAMPAIGN = "good-campaign";

interface ClickTruth {
  /** unique click_id → `ad|region` of the first acknowledged copy */
  firstSeen: Map<string, string>;
  eventsAcked: number;
  batchesAcked: number;
}

function validBatch(b: number, region: string, previous: Ev[] | null): Ev[] {
  const ts = Date.now() - 5_000 - (b % 3) * MIN;
  const events = Array.from({ length: 40 }, (_, i) => ({ click_id: `good-${b}-${i}`, campaign_id: CAMPAIGN, ad_id: ADS[(b + i) % ADS.length], ts }));
  // a client retry of part of the previous batch (same region stream, same attributes): counted once
  if (previous) events.push(...previous.slice(0, 4));
  return events;
}

async function clickStream(worker: number, stop: () => boolean, truth: ClickTruth): Promise<void> {
  const region = REGIONS[worker % REGIONS.length];
  let previous: Ev[] | null = null;
  for (let k = 0; !stop(); k++) {
    const b = worker * 100_000 + k;
    const events = validBatch(b, region, previous);
    const format = k % 3;
    const init: RequestInit =
      format === 0
        ? { headers: { ...JSON_CT, "x-region": region }, body: JSON.stringify({ events }) }
        : format === 1
          ? { headers: { "content-type": "application/x-ndjson", "x-region": region }, body: events.map((e) => JSON.stringify(e)).join("\n") }
          : { headers: { "content-type": "text/plain;charset=UTF-8", "x-region": region }, body: JSON.stringify({ events }) };
    const a = await send("/v1/clicks", { method: "POST", ...init });
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body.accepted).toBe(events.length);
    expect(a.body.rejected).toEqual([]);
    truth.eventsAcked += events.length;
    truth.batchesAcked++;
    for (const e of events) if (!truth.firstSeen.has(e.click_id)) truth.firstSeen.set(e.click_id, `${e.ad_id}|${region}`);
    previous = events;
  }
}

async function readStream(worker: number, stop: () => boolean, counts: { ok: number; notModified: number }): Promise<void> {
  let etag: string | null = null;
  for (let k = 0; !stop(); k++) {
    const headers: Record<string, string> = { ...auth(tok.reader), "x-region": REGIONS[k % 3], "x-client-id": `client-${worker}-${k % 50}` };
    if (etag && k % 2 === 1) headers["if-none-match"] = etag;
    const res = await fetch(`${server.url}/v1/configs/${NS}`, { headers });
    const text = await res.text();
    if (headers["if-none-match"]) {
      expect(res.status, text).toBe(304);
      counts.notModified++;
    } else {
      expect(res.status, text).toBe(200);
      const body = JSON.parse(text);
      expect(body).toMatchObject({ namespace: NS, version: 1, values: V1 });
      etag = res.headers.get("etag");
      expect(etag).toBeTruthy();
      counts.ok++;
    }
  }
}

async function metricsByAdRegion(campaign: string): Promise<Map<string, number>> {
  const q = new URLSearchParams({ from: String(started - 10 * MIN), to: String(Date.now() + 10 * MIN), granularity: "hour", group_by: "ad,region", campaign_id: campaign });
  const r = await http(server.url, "GET", `/api/v1/clicks/metrics?${q}`, { token: tok.viewer });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const out = new Map<string, number>();
  for (const s of r.body.series as { ad_id: string; region: string; clicks: number }[]) {
    const k = `${s.ad_id}|${s.region}`;
    out.set(k, (out.get(k) ?? 0) + s.clicks);
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

// ---------------------------------------------------------------- the test

describe("a flood of invalid and oversized requests during valid traffic", () => {
  it("every bad request gets its JSON error, every valid one succeeds, and only the valid clicks are counted, exactly", { timeout: 300_000 }, async () => {
    let stopped = false;
    const stop = () => stopped;
    const truth: ClickTruth = { firstSeen: new Map(), eventsAcked: 0, batchesAcked: 0 };
    const reads = { ok: 0, notModified: 0 };
    const valid = Promise.all([
      clickStream(0, stop, truth),
      clickStream(1, stop, truth),
      clickStream(2, stop, truth),
      readStream(0, stop, reads),
      readStream(1, stop, reads),
    ]);

    // The flood: every case many times, shuffled, BAD_CONCURRENCY in flight.
    const order = Array.from({ length: BAD_REQUESTS }, (_, i) => badCases[i % badCases.length]).sort(() => Math.random() - 0.5);
    const seen = new Map<string, number>();
    let next = 0;
    const flooder = async () => {
      while (next < order.length) {
        const c = order[next++];
        expectJsonError(c, await c.run());
        seen.set(c.name, (seen.get(c.name) ?? 0) + 1);
      }
    };
    try {
      await Promise.all(Array.from({ length: BAD_CONCURRENCY }, flooder));
    } finally {
      stopped = true;
      await valid;
    }
    expect([...seen.keys()].sort()).toEqual(badCases.map((c) => c.name).sort());
    expect(truth.batchesAcked).toBeGreaterThan(0);
    expect(reads.ok).toBeGreaterThan(0);
    expect(reads.notModified).toBeGreaterThan(0);

    // Ground truth: each unique click_id once, in the ad and region of its first acknowledged copy.
    const expected = new Map<string, number>();
    for (const cell of truth.firstSeen.values()) expected.set(cell, (expected.get(cell) ?? 0) + 1);
    let got = new Map<string, number>();
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; ) {
      got = await metricsByAdRegion(CAMPAIGN);
      if (sum(got) >= sum(expected)) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...expected].sort()));

    // Nothing a bad request carried was counted, in any campaign.
    expect(sum(await metricsByAdRegion("bad-campaign"))).toBe(0);
    const top = await http(server.url, "GET", `/api/v1/clicks/top?by=campaign&from=${started - 10 * MIN}&to=${Date.now() + 10 * MIN}&limit=10`, { token: tok.viewer });
    expect(top.status).toBe(200);
    expect(top.body.items).toEqual([{ campaign_id: CAMPAIGN, clicks: truth.firstSeen.size }]);

    // Ingest statistics saw the valid stream only: every acknowledged event, its duplicates, no rejections.
    const stats = await http(server.url, "GET", `/api/v1/clicks/ingest-stats?from=${started - 10 * MIN}&to=${Date.now() + 10 * MIN}`, { token: tok.viewer });
    expect(stats.status).toBe(200);
    expect(stats.body.totals).toEqual({
      accepted: truth.eventsAcked,
      duplicates: truth.eventsAcked - truth.firstSeen.size,
      too_late: 0,
      future: 0,
      invalid: 0,
    });

    // The config side is untouched: one version, stable everywhere, no audit entry from the flood.
    const ns = await http(server.url, "GET", `/admin/v1/namespaces/${NS}`);
    expect(ns.body).toMatchObject({ latest_version: 1, active_rollout_id: null });
    const audit = await http(server.url, "GET", "/admin/v1/audit?limit=1000");
    expect(audit.body.entries.length).toBe(setupAuditEntries);
    expect((await http(server.url, "GET", "/admin/v1/audit/verify")).body.ok).toBe(true);
    expect((await http(server.url, "GET", "/healthz", { token: null })).status).toBe(200);
  });
});
