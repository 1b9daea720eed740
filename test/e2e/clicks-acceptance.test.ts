import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_ADMIN_TOKEN, http, startDevServer, type DevServer } from "./server";

/**
 * Ground-truth acceptance test of the click product against a real `wrangler dev`: a shuffled stream
 * with duplicates (inside and across batches, whole-batch resends, concurrent resends), out-of-order
 * and late events, too-late / future / invalid events, in all three body formats, from beacons and
 * from server-to-server callers. The truth is computed here, independently of the server, and every
 * minute × campaign × ad × region cell of the metrics API must equal it.
 */

const LATENESS_S = 7200;
const SKEW_S = 300;
const FLUSH_MS = 500;
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const SEED = Number(process.env.E2E_SEED ?? Date.now() % 2 ** 31);
const N_UNIQUE = 3000;
const N_DUP_COPIES = 500;

const CAMPAIGNS = ["spring-sale", "camp-α", "c,comma", "winter"];
const ADS = ["ad-1", "ad-2", "ad 3"];
const REGIONS = ["eu", "na", "as", "oc"];
const DIMS = ["campaign", "ad", "region"] as const;
type Dim = (typeof DIMS)[number];
type Kind = "valid" | "invalid" | "too_late" | "future";
type Format = "json" | "ndjson" | "text";

interface Item {
  kind: Kind;
  /** What goes on the wire (any JSON value for invalid events). */
  wire: unknown;
  /** For valid events: the cell it counts into. */
  cell?: { minute: number; c: string; a: string; r: string };
  clickId?: string;
}

interface Batch {
  id: number;
  region: string;
  mode: "beacon" | "server";
  format: Format;
  items: Item[];
}

interface Ledger {
  accepted: number;
  invalid: number;
  too_late: number;
  future: number;
}

// ---------------------------------------------------------------- deterministic randomness

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo));
function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** RFC 3339 with a given UTC offset in minutes (the instant is unchanged). */
function rfc3339(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * MIN).toISOString().slice(0, -1);
  if (offsetMin === 0) return local + "Z";
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

const floorTo = (ms: number, size: number) => Math.floor(ms / size) * size;

// ---------------------------------------------------------------- the stream

const tsOnWire = (ts: number): number | string => (rand() < 0.5 ? ts : rfc3339(ts, pick([0, 0, 120, -300, 330])));

let uniqueSeq = 0;
/** A genuine click, never sent before. */
function newUnique(ts: number, r: string, c = pick(CAMPAIGNS), a = pick(ADS)): Item {
  const clickId = `e2e-${SEED}-${uniqueSeq++}-${Math.floor(rand() * 1e9).toString(36)}`;
  return { kind: "valid", wire: { click_id: clickId, campaign_id: c, ad_id: a, ts: tsOnWire(ts) }, cell: { minute: floorTo(ts, MIN), c, a, r }, clickId };
}

function buildStream(now: number): { batches: Batch[]; uniques: Item[] } {
  const byRegion = new Map<string, Item[]>(REGIONS.map((r) => [r, []]));
  const uniques: Item[] = [];

  for (let i = 0; i < N_UNIQUE; i++) {
    const r = pick(REGIONS);
    const c = pick(CAMPAIGNS);
    const a = pick(ADS);
    const roll = rand();
    // Mostly recent, a quarter late (old minutes, within the allowed lateness), a few slightly ahead (within the skew).
    const ts = roll < 0.7 ? now - between(0, 10 * MIN) : roll < 0.95 ? now - between(12 * MIN, 60 * MIN) : now + between(10_000, 2 * MIN);
    const item = newUnique(ts, r, c, a);
    uniques.push(item);
    byRegion.get(r)!.push(item);
  }

  // Identical copies of genuine events (retries, double clicks), in the same region's batches.
  for (let i = 0; i < N_DUP_COPIES; i++) {
    const u = pick(uniques);
    byRegion.get(u.cell!.r)!.push({ ...u });
  }

  // Rejected events. Some reuse a genuine click_id: a rejected copy must not stop the genuine one from counting.
  const someId = () => (rand() < 0.5 ? pick(uniques).clickId! : `rej-${SEED}-${Math.floor(rand() * 1e12).toString(36)}`);
  const base = () => ({ click_id: someId(), campaign_id: pick(CAMPAIGNS), ad_id: pick(ADS) });
  const invalids: unknown[] = [
    { ...base(), click_id: "short", ts: now },
    { ...base(), click_id: "has spaces in it", ts: now },
    { ...base(), click_id: "x".repeat(129), ts: now },
    { campaign_id: "spring-sale", ad_id: "ad-1", ts: now },
    { ...base(), campaign_id: "", ts: now },
    { ...base(), campaign_id: "c".repeat(65), ts: now },
    { ...base(), ad_id: 42, ts: now },
    { ...base(), ad_id: "bell\u0007", ts: now },
    { ...base(), ts: "yesterday" },
    { ...base(), ts: "2026-02-30T00:00:00Z" },
    { ...base() },
    { ...base(), ts: null },
    42,
    "a string",
    null,
    [1, 2],
  ];
  for (let i = 0; i < 160; i++) byRegion.get(pick(REGIONS))!.push({ kind: "invalid", wire: structuredClone(invalids[i % invalids.length]) });
  for (let i = 0; i < 90; i++) {
    const ts = now - between(LATENESS_S * 1000 + 10 * MIN, LATENESS_S * 1000 + 3 * HOUR);
    byRegion.get(pick(REGIONS))!.push({ kind: "too_late", wire: { ...base(), ts: tsOnWire(ts) } });
  }
  for (let i = 0; i < 90; i++) {
    const ts = now + between(SKEW_S * 1000 + 10 * MIN, 3 * HOUR);
    byRegion.get(pick(REGIONS))!.push({ kind: "future", wire: { ...base(), ts: tsOnWire(ts) } });
  }

  // Cut each region's shuffled events into batches of 1..150.
  const batches: Batch[] = [];
  const formats: Format[] = ["json", "ndjson", "text"];
  for (const [region, items] of byRegion) {
    shuffle(items);
    for (let at = 0; at < items.length; ) {
      const size = between(1, 151);
      const slice = items.slice(at, at + size);
      at += size;
      // A duplicate inside the batch now and then.
      if (rand() < 0.25) {
        const own = slice.filter((x) => x.kind === "valid");
        if (own.length > 0) slice.splice(between(0, slice.length + 1), 0, { ...pick(own) });
      }
      batches.push({ id: batches.length, region, mode: rand() < 0.5 ? "beacon" : "server", format: formats[batches.length % 3], items: slice });
    }
  }
  // A batch with nothing valid in it still feeds the ingest statistics.
  batches.push({
    id: batches.length,
    region: "eu",
    mode: "beacon",
    format: "json",
    items: invalids.slice(0, 6).map((w) => ({ kind: "invalid" as const, wire: structuredClone(w) })),
  });
  return { batches: shuffle(batches), uniques };
}

/** The request for a batch. Beacons: region from X-Region, a region in the event is ignored. Servers: the event's region wins. */
function requestOf(b: Batch): { headers: Record<string, string>; body: string; token: string | null } {
  const events = b.items.map((it) => {
    if (it.kind !== "valid" || typeof it.wire !== "object" || it.wire === null) return it.wire;
    const ev = it.wire as Record<string, unknown>;
    if (b.mode === "server") return { ...ev, region: b.region };
    // A beacon cannot choose its region: this decoy must be ignored.
    return (ev.click_id as string).endsWith("7") ? { ...ev, region: "an" } : ev;
  });
  if (b.mode === "server") {
    // The header says "af"; every event names its own region, which a publisher/admin caller may set.
    return { token: E2E_ADMIN_TOKEN, headers: { "x-region": "af", ...contentType(b.format) }, body: serialize(b.format, events) };
  }
  return { token: null, headers: { "x-region": b.region, ...contentType(b.format) }, body: serialize(b.format, events) };
}

function contentType(f: Format): Record<string, string> {
  return { "content-type": f === "json" ? "application/json" : f === "ndjson" ? "application/x-ndjson" : "text/plain;charset=UTF-8" };
}

function serialize(f: Format, events: unknown[]): string {
  return f === "ndjson" ? events.map((e) => JSON.stringify(e)).join("\n") + "\n" : JSON.stringify({ events });
}

function expectedAnswer(b: Batch): { accepted: number; rejected: { index: number; code: string }[] } {
  const rejected = b.items.flatMap((it, index) => (it.kind === "valid" ? [] : [{ index, code: it.kind }]));
  return { accepted: b.items.length - rejected.length, rejected };
}

// ---------------------------------------------------------------- truth

interface TruthRow {
  window_start: string;
  campaign_id?: string;
  ad_id?: string;
  region?: string;
  clicks: number;
}

/** First valid occurrence of each click_id, summed per window and per named dimension. */
function truthSeries(uniques: Item[], size: number, groupBy: readonly Dim[], keep: (cell: Item["cell"] & object) => boolean = () => true): TruthRow[] {
  const seen = new Set<string>();
  const sums = new Map<string, TruthRow & { w: number }>();
  for (const u of uniques) {
    if (seen.has(u.clickId!)) continue;
    seen.add(u.clickId!);
    const cell = u.cell!;
    if (!keep(cell)) continue;
    const w = floorTo(cell.minute, size);
    const row: TruthRow & { w: number } = { w, window_start: new Date(w).toISOString(), clicks: 0 };
    if (groupBy.includes("campaign")) row.campaign_id = cell.c;
    if (groupBy.includes("ad")) row.ad_id = cell.a;
    if (groupBy.includes("region")) row.region = cell.r;
    const key = JSON.stringify([w, row.campaign_id, row.ad_id, row.region]);
    const prev = sums.get(key) ?? (sums.set(key, row), row);
    prev.clicks += 1;
  }
  const cmp = (x?: string, y?: string) => (x === y ? 0 : (x ?? "") < (y ?? "") ? -1 : 1);
  return [...sums.values()]
    .sort((x, y) => x.w - y.w || cmp(x.campaign_id, y.campaign_id) || cmp(x.ad_id, y.ad_id) || cmp(x.region, y.region))
    .map(({ w: _w, ...rest }) => rest);
}

function subsets<T>(xs: readonly T[]): T[][] {
  return xs.reduce<T[][]>((acc, x) => acc.concat(acc.map((s) => [...s, x])), [[]]);
}

// ---------------------------------------------------------------- test run

let server: DevServer;
let stream: { batches: Batch[]; uniques: Item[] };
const ledger: Ledger = { accepted: 0, invalid: 0, too_late: 0, future: 0 };
let statsFrom: number;
let generatedAt: number;
let rangeFrom: number;
let rangeTo: number;

async function send(b: Batch): Promise<void> {
  const req = requestOf(b);
  const want = expectedAnswer(b);
  for (let attempt = 0; ; attempt++) {
    const r = await http(server.url, "POST", "/v1/clicks", { token: req.token, headers: req.headers, body: req.body });
    if ((r.status === 429 || r.status === 503) && attempt < 10) {
      await new Promise((res) => setTimeout(res, 200 * (attempt + 1)));
      continue;
    }
    expect(r.status, `batch ${b.id}: ${JSON.stringify(r.body).slice(0, 300)}`).toBe(200);
    expect(r.body.accepted, `batch ${b.id} accepted`).toBe(want.accepted);
    expect(
      r.body.rejected.map((x: { index: number; code: string }) => ({ index: x.index, code: x.code })),
      `batch ${b.id} rejected`,
    ).toEqual(want.rejected);
    ledger.accepted += want.accepted;
    for (const x of want.rejected) ledger[x.code as keyof Ledger]++;
    return;
  }
}

async function pool<T>(items: T[], concurrency: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function metrics(qs: string): Promise<any> {
  const r = await http(server.url, "GET", `/api/v1/clicks/metrics?${qs}`);
  expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
  return r.body;
}

const rangeQs = () => `from=${rangeFrom}&to=${rangeTo}`;

async function ingestTotals(): Promise<Ledger & { duplicates: number }> {
  const r = await http(server.url, "GET", `/api/v1/clicks/ingest-stats?from=${statsFrom}&to=${Date.now() + 2 * MIN}`);
  expect(r.status).toBe(200);
  return r.body.totals;
}

function expectedTotals() {
  return { ...ledger, duplicates: ledger.accepted - stream.uniques.length };
}

/** Polls until every acknowledged event has been flushed and the cells equal the truth, then checks it stays so. */
async function expectSettledOnTruth(): Promise<void> {
  const truth = truthSeries(stream.uniques, MIN, DIMS);
  const check = async () => {
    expect(await ingestTotals()).toEqual(expectedTotals());
    expect((await metrics(`${rangeQs()}&granularity=minute&group_by=campaign,ad,region`)).series).toEqual(truth);
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await check();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  // Several more flush intervals: nothing may be added late (a double count would show up here).
  await new Promise((r) => setTimeout(r, 4 * FLUSH_MS));
  await check();
}

beforeAll(async () => {
  server = await startDevServer({
    ALLOWED_LATENESS_SECONDS: String(LATENESS_S),
    MAX_CLOCK_SKEW_SECONDS: String(SKEW_S),
    FLUSH_INTERVAL_MS: String(FLUSH_MS),
    CLICK_RATE_LIMIT_PER_MINUTE: "0",
  });
  const now = Date.now();
  generatedAt = now;
  console.log(`clicks acceptance: seed ${SEED} (E2E_SEED=${SEED} reproduces the stream)`);
  statsFrom = now - MIN;
  rangeFrom = floorTo(now - 70 * MIN, MIN);
  rangeTo = now + 10 * MIN;
  stream = buildStream(now);
  const { batches } = stream;

  // Everything once, four requests in flight; some batches sent three times at the same moment.
  await pool(batches, 4, async (b) => {
    if (b.id % 7 === 3) await Promise.all([send(b), send(b), send(b)]);
    else await send(b);
  });
  // Whole batches resent later, as a client retrying after a lost answer would.
  for (const b of batches.filter((x) => x.id % 5 === 1)) await send(b);
}, 600_000);

afterAll(async () => {
  await server?.dispose();
});

describe("click pipeline acceptance (ground truth)", () => {
  it("the stream exercises every case", () => {
    const kinds = stream.batches.flatMap((b) => b.items.map((i) => i.kind));
    for (const k of ["valid", "invalid", "too_late", "future"] as const) expect(kinds.filter((x) => x === k).length).toBeGreaterThan(10);
    expect(new Set(stream.batches.map((b) => b.format))).toEqual(new Set(["json", "ndjson", "text"]));
    expect(new Set(stream.batches.map((b) => b.mode))).toEqual(new Set(["beacon", "server"]));
    expect(ledger.accepted).toBeGreaterThan(N_UNIQUE + N_DUP_COPIES);
    const truth = truthSeries(stream.uniques, MIN, DIMS);
    const lateCells = truth.filter((r) => Date.parse(r.window_start) < rangeFrom + 30 * MIN);
    expect(lateCells.length).toBeGreaterThan(0);
  });

  it("every minute × campaign × ad × region cell equals the truth", { timeout: 300_000 }, async () => {
    await expectSettledOnTruth();
    const total = (await metrics(`${rangeQs()}&granularity=day`)).series.reduce((s: number, r: { clicks: number }) => s + r.clicks, 0);
    expect(total).toBe(stream.uniques.length);
  });

  it("hour and day rollups and every group_by subset agree with the truth summed", { timeout: 300_000 }, async () => {
    await expectSettledOnTruth();
    for (const [gran, size] of [["minute", MIN], ["hour", HOUR], ["day", DAY]] as const) {
      for (const groupBy of subsets(DIMS)) {
        const body = await metrics(`${rangeQs()}&granularity=${gran}&group_by=${groupBy.join(",")}`);
        expect(body.series, `${gran} by ${groupBy.join(",")}`).toEqual(truthSeries(stream.uniques, size, groupBy));
        expect(body.from).toBe(new Date(floorTo(rangeFrom, size)).toISOString());
      }
    }
  });

  it("filters agree with the truth, ids with commas and non-ASCII included", { timeout: 300_000 }, async () => {
    await expectSettledOnTruth();
    const comma = await metrics(`${rangeQs()}&granularity=hour&group_by=ad&campaign_id=${encodeURIComponent("c,comma")}`);
    expect(comma.series).toEqual(truthSeries(stream.uniques, HOUR, ["ad"], (c) => c.c === "c,comma"));
    const multi = await metrics(`${rangeQs()}&group_by=campaign,region&campaign_id=${encodeURIComponent("camp-α")}&region=eu&region=na&ad_id=${encodeURIComponent("ad 3")}`);
    expect(multi.series).toEqual(truthSeries(stream.uniques, MIN, ["campaign", "region"], (c) => c.c === "camp-α" && (c.r === "eu" || c.r === "na") && c.a === "ad 3"));
    // Regions named by beacon decoys or the server callers' header never appear.
    const regions = await metrics(`${rangeQs()}&granularity=day&group_by=region`);
    expect(regions.series.map((r: { region: string }) => r.region).sort()).toEqual([...REGIONS].sort());
  });

  it("top campaigns and ads agree with the truth", { timeout: 300_000 }, async () => {
    await expectSettledOnTruth();
    const sum = (key: (c: NonNullable<Item["cell"]>) => string) => {
      const m = new Map<string, number>();
      for (const u of stream.uniques) m.set(key(u.cell!), (m.get(key(u.cell!)) ?? 0) + 1);
      return [...m.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    };
    const byCampaign = await http(server.url, "GET", `/api/v1/clicks/top?by=campaign&${rangeQs()}`);
    expect(byCampaign.body.items).toEqual(sum((c) => c.c).map(([campaign_id, clicks]) => ({ campaign_id, clicks })));
    const byAd = await http(server.url, "GET", `/api/v1/clicks/top?by=ad&limit=5&${rangeQs()}`);
    const adTruth = sum((c) => JSON.stringify([c.c, c.a]))
      .map(([k, clicks]) => {
        const [campaign_id, ad_id] = JSON.parse(k) as [string, string];
        return { campaign_id, ad_id, clicks };
      })
      .sort((x, y) => y.clicks - x.clicks || (x.campaign_id < y.campaign_id ? -1 : x.campaign_id > y.campaign_id ? 1 : x.ad_id < y.ad_id ? -1 : x.ad_id > y.ad_id ? 1 : 0))
      .slice(0, 5);
    expect(byAd.body.items).toEqual(adTruth);
  });

  it("ingest statistics account for every event sent: accepted, duplicates, too_late, future, invalid", { timeout: 300_000 }, async () => {
    await expectSettledOnTruth();
    const totals = await ingestTotals();
    expect(totals).toEqual(expectedTotals());
    expect(totals.accepted - totals.duplicates).toBe(stream.uniques.length);
    const r = await http(server.url, "GET", `/api/v1/clicks/ingest-stats?from=${statsFrom}&to=${Date.now() + 2 * MIN}`);
    const summed = r.body.series.reduce((s: number, p: { accepted: number }) => s + p.accepted, 0);
    expect(summed).toBe(totals.accepted);
  });

  it("replaying every acknowledged batch changes no count", { timeout: 600_000 }, async () => {
    await expectSettledOnTruth();
    await pool(stream.batches, 4, send);
    await expectSettledOnTruth();
  });

  it("a SIGKILL loses nothing acknowledged, and replays after the restart still count once", { timeout: 600_000 }, async () => {
    await expectSettledOnTruth();
    // Fresh clicks, acknowledged but perhaps not yet flushed when the process dies.
    const fresh: Batch[] = REGIONS.map((region, i) => {
      const items = Array.from({ length: 50 }, () => newUnique(generatedAt - between(MIN, 20 * MIN), region));
      stream.uniques.push(...items);
      return { id: 10_000 + i, region, mode: i % 2 ? "server" : "beacon", format: (["json", "ndjson", "text"] as const)[i % 3], items };
    });
    stream.batches.push(...fresh);
    await Promise.all(fresh.map(send));
    await server.kill();
    await server.restart();
    await expectSettledOnTruth();
    await pool(stream.batches, 4, send);
    await expectSettledOnTruth();
  });
});
