import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, http, E2E_ADMIN_TOKEN, type DevServer } from "./server";
import { CLI, cliFor, scratchDir } from "./cli-run";

// The click half of the CLI: signed links, top and tail, against a real `wrangler dev` and pipeline.
let server: DevServer;
let cli: ReturnType<typeof cliFor>;
const RUN = `r${Date.now().toString(36)}`;

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "200" });
  cli = cliFor(server.url, E2E_ADMIN_TOKEN);
});
afterAll(async () => {
  await server?.dispose();
});

/** Ground truth: clicks per campaign and ad, sent once each; returns what the metrics must show. */
async function ingest(): Promise<Map<string, number>> {
  const plan: [string, string, number][] = [
    [`${RUN}-big`, "ad-1", 7],
    [`${RUN}-big`, "ad-2", 2],
    [`${RUN}-small`, "ad-3", 3],
  ];
  const events = [];
  const now = Date.now();
  let n = 0;
  for (const [campaign, ad, count] of plan) for (let i = 0; i < count; i++) events.push({ click_id: `${RUN}-click-${n++}`, campaign_id: campaign, ad_id: ad, ts: now });
  const r = await http(server.url, "POST", "/v1/clicks", { token: null, body: { events } });
  expect(r.status).toBe(200);
  expect(r.body.accepted).toBe(events.length);
  const perCampaign = new Map<string, number>();
  for (const [campaign, , count] of plan) perCampaign.set(campaign, (perCampaign.get(campaign) ?? 0) + count);
  return perCampaign;
}

/** Polls (bounded) until `probe` holds: metrics show acknowledged clicks after the flush interval. */
async function eventually<T>(probe: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < 100; i++) {
    const v = await probe();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("condition never held");
}

describe("clicks", () => {
  it("mints a signed link that redirects to the landing URL", async () => {
    const r = await cli(["clicks", "link", "--campaign", `${RUN}-link`, "--ad", "ad-9", "--url", "https://example.com/landing?x=1", "--ttl", "1h"]);
    expect(r.code, r.stderr).toBe(0);
    const url = r.stdout.trim();
    expect(url).toMatch(new RegExp(`^${server.url}/c/\\S+$`));
    expect(r.stderr).toMatch(/click_id \S+, expires \d{4}-/);
    const follow = await fetch(url, { redirect: "manual" });
    expect(follow.status).toBe(302);
    expect(follow.headers.get("location")).toBe("https://example.com/landing?x=1");

    const j = JSON.parse((await cli(["clicks", "link", "--campaign", "c", "--ad", "a", "--url", "https://example.com/", "--click-id", `${RUN}-own-id`, "--json"])).stdout);
    expect(j).toMatchObject({ click_id: `${RUN}-own-id`, campaign_id: "c", ad_id: "a" });

    const bad = await cli(["clicks", "link", "--campaign", "c", "--ad", "a", "--url", "javascript:alert(1)"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 400/);
    expect(bad.stderr).toMatch(/^ {2}\/?url: .*http/m);
    expect((await cli(["clicks", "link", "--campaign", "c", "--ad", "a", "--url", "https://e.com/", "--ttl", "later"])).code).toBe(2);
    // Here --url is the landing URL; the server comes from --server (or EDGEPLANE_URL).
    const viaServer = await cliFor("http://127.0.0.1:9", E2E_ADMIN_TOKEN)(["clicks", "link", "--server", server.url, "--campaign", "c", "--ad", "a", "--url", "https://example.com/"]);
    expect(viaServer.code, viaServer.stderr).toBe(0);
  });

  it("shows top campaigns and ads and per-minute counts that match what was sent", async () => {
    const truth = await ingest();
    const top = await eventually(async () => {
      const r = await cli(["clicks", "top", "--since", "1h", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const body = JSON.parse(r.stdout);
      const mine = body.items.filter((i: { campaign_id: string }) => truth.has(i.campaign_id));
      const done = [...truth].every(([k, v]) => mine.some((i: { campaign_id: string; clicks: number }) => i.campaign_id === k && i.clicks === v));
      return done ? mine : null;
    });
    expect(top.map((i: { campaign_id: string }) => i.campaign_id)).toEqual([`${RUN}-big`, `${RUN}-small`]);

    const table = await cli(["clicks", "top", "--since", "1h"]);
    expect(table.stdout).toMatch(new RegExp(`1\\s+${RUN}-big\\s+9\\s`));
    expect(table.stdout).toMatch(new RegExp(`2\\s+${RUN}-small\\s+3\\s`));
    const ads = await cli(["clicks", "top", "--by", "ad", "--since", "1h"]);
    expect(ads.stdout).toMatch(/^#\s+AD\s+CLICKS/m);
    expect(ads.stdout).toMatch(new RegExp(`ad-1 \\(${RUN}-big\\)\\s+7\\s`));
    expect((await cli(["clicks", "top", "--by", "region"])).code).toBe(2);

    const tail = await eventually(async () => {
      const r = await cli(["clicks", "tail", "--once", "--minutes", "3", "--campaign", `${RUN}-big`]);
      expect(r.code, r.stderr).toBe(0);
      const counts = [...r.stdout.matchAll(/^\d\d:\d\dZ\s+(\d+)/gm)].map((m) => Number(m[1]));
      return counts.reduce((a, b) => a + b, 0) === 9 ? { ...r, counts } : null;
    });
    expect(tail.stdout).toMatch(/^MINUTE\s+CLICKS/m);
    expect(tail.counts).toHaveLength(3);
    const all = await cli(["clicks", "tail", "--once", "--minutes", "2"]);
    expect(all.stdout).toContain(`${RUN}-big:9`);
    // Ingest health: the 12 events above plus the one click through the signed link in the first test.
    const stats = await eventually(async () => {
      const body = JSON.parse((await cli(["clicks", "stats", "--since", "1h", "--json"])).stdout);
      return body.totals.accepted === 13 ? body : null;
    });
    expect(stats.totals).toMatchObject({ duplicates: 0, too_late: 0, future: 0, invalid: 0 });
    const statsTable = await cli(["clicks", "stats", "--since", "1h"]);
    expect(statsTable.stdout).toMatch(/^WINDOW\s+ACCEPTED\s+DUPLICATES\s+TOO LATE\s+FUTURE\s+INVALID$/m);
    expect(statsTable.stdout).toMatch(/^total\s+13\s+0\s+0\s+0\s+0$/m);
    // What waits at each hop: the JSON answer, then (once the clicks above are all in D1) nothing.
    const pipeline = JSON.parse((await cli(["clicks", "pipeline", "--json"])).stdout);
    expect(pipeline.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1]);
    for (const hop of ["buffers", "shards", "aggregators"]) expect(pipeline[hop].length, hop).toBeGreaterThan(0);
    const quiet = await eventually(async () => {
      const r = await cli(["clicks", "pipeline"]);
      return r.stdout.includes("nothing waiting: every acknowledged click is in D1") ? r : null;
    });
    expect(quiet.stdout).toMatch(/^shard epochs: 1 \(\d+ shards\)$/m);
    const tailJson = JSON.parse((await cli(["clicks", "tail", "--once", "--json", "--campaign", `${RUN}-small`])).stdout);
    expect(tailJson.series.reduce((a: number, s: { clicks: number }) => a + s.clicks, 0)).toBe(3);
  });

  it("tail keeps refreshing until interrupted, one line per new or changed minute when piped", async () => {
    const child = spawn(process.execPath, [CLI, "clicks", "tail", "--interval", "0.5", "--campaign", `${RUN}-small`], {
      env: { PATH: process.env.PATH ?? "", HOME: scratchDir(), EDGEPLANE_URL: server.url, EDGEPLANE_TOKEN: E2E_ADMIN_TOKEN },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
    await new Promise<void>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`tail never printed clicks=3; output so far:\n${out}`)), 60_000);
      child.stdout.on("data", (d) => {
        out += String(d);
        if (/clicks=3$/m.test(out)) {
          clearTimeout(guard);
          resolve();
        }
      });
      child.on("exit", () => reject(new Error(`tail exited early: ${out}`)));
    });
    // Still running after printing: it only stops when told to.
    expect(child.exitCode).toBeNull();
    child.kill("SIGINT");
    const end = await exited;
    expect(end.signal === "SIGINT" || end.code === 130).toBe(true);
    expect(out).not.toContain("\x1b[");
    expect(out.trim().split("\n").every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000Z clicks=\d+$/.test(l))).toBe(true);
  });
});
