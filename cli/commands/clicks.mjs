import { Option } from "commander";
import { durationArg, intArg, numberArg } from "../lib/args.mjs";
import { UsageError } from "../lib/errors.mjs";
import { bar, LiveBlock } from "../lib/progress.mjs";
import { listOf } from "../lib/render.mjs";
import { renderTable } from "../lib/table.mjs";
import { run } from "./run.mjs";

const MINUTE_MS = 60_000;

/**
 * The metrics query for the last `minutes` one-minute windows up to and including the current one.
 * @param {number} now epoch ms
 * @param {number} minutes
 * @param {string | undefined} campaign
 */
export function tailQuery(now, minutes, campaign) {
  const to = Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const from = to - minutes * MINUTE_MS;
  return {
    granularity: "minute",
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    group_by: campaign ? undefined : "campaign",
    campaign_id: campaign,
  };
}

/**
 * Folds a metrics series into per-minute rows: total clicks and the top campaigns of that minute.
 * Every minute of the range is present (zero when nothing arrived), newest last.
 * @param {any[]} series
 * @param {string} from ISO
 * @param {string} to ISO (exclusive)
 */
export function perMinute(series, from, to) {
  /** @type {Map<number, {total: number, by: Map<string, number>}>} */
  const rows = new Map();
  for (let t = Date.parse(from); t < Date.parse(to); t += MINUTE_MS) rows.set(t, { total: 0, by: new Map() });
  for (const s of series) {
    const t = Date.parse(s.window_start);
    const row = rows.get(t) ?? { total: 0, by: new Map() };
    row.total += Number(s.clicks ?? 0);
    if (s.campaign_id !== undefined) row.by.set(s.campaign_id, (row.by.get(s.campaign_id) ?? 0) + Number(s.clicks ?? 0));
    rows.set(t, row);
  }
  return [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([t, r]) => ({ window_start: new Date(t).toISOString(), clicks: r.total, by: r.by }));
}

/** @param {Map<string, number>} by */
function topOf(by, n = 3) {
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([k, v]) => `${k}:${v}`)
    .join(" ");
}

/** `edgeplane clicks link|top|tail` */
export function register(/** @type {import("commander").Command} */ program) {
  const clicks = program.command("clicks").description("signed click links and live click metrics");

  clicks
    .command("link")
    .description("create a signed click-through link (printed alone on stdout)")
    .requiredOption("--campaign <id>", "campaign id")
    .requiredOption("--ad <id>", "ad id")
    .requiredOption("--url <landing>", "landing URL the link redirects to (http/https)")
    .option("--ttl <duration>", "how long the link stays valid (e.g. 3600, 1h, 7d; server default 7d, at most 30d)", durationArg)
    .option("--click-id <id>", "your own impression id (default: a random one)")
    .option("--server <url>", "edgeplane server URL (here --url is the landing URL)")
    .action(
      run(async (ctx, opts) => {
        const res = await ctx.client.request("POST", "/admin/v1/click-links", {
          body: {
            campaign_id: opts.campaign,
            ad_id: opts.ad,
            url: opts.url,
            ...(opts.ttl !== undefined ? { ttl_seconds: Math.round(opts.ttl) } : {}),
            ...(opts.clickId !== undefined ? { click_id: opts.clickId } : {}),
          },
        });
        if (ctx.json) return ctx.printJson(res.body);
        const link = String(res.body?.url ?? "");
        ctx.out(link.startsWith("/") ? ctx.client.url + link : link);
        if (res.body?.click_id) ctx.info(ctx.ce.dim(`click_id ${res.body.click_id}${res.body.expires_at ? `, expires ${res.body.expires_at}` : ""}`));
      }, { serverOption: "server" }),
    );

  clicks
    .command("top")
    .description("top campaigns or ads by clicks")
    .addOption(new Option("--by <dimension>", "rank campaigns or ads").choices(["campaign", "ad"]).default("campaign"))
    .option("--since <duration>", "how far back (e.g. 15m, 1h, 7d)", durationArg, 3600)
    .option("--limit <n>", "how many", intArg({ min: 1, max: 100 }), 10)
    .action(
      run(async (ctx, opts) => {
        const now = Date.now();
        const query = { by: opts.by, from: new Date(now - opts.since * 1000).toISOString(), to: new Date(now + MINUTE_MS).toISOString(), limit: opts.limit };
        const body = await ctx.client.get("/api/v1/clicks/top", query);
        if (ctx.json) return ctx.printJson(body);
        const items = listOf(body, ["top", "rows", "series"]);
        if (items.length === 0) return ctx.out(ctx.c.dim("no clicks in that range"));
        const max = Math.max(...items.map((i) => Number(i.clicks ?? 0)), 1);
        const rows = items.map((i, n) => {
          const key = opts.by === "ad" ? `${i.ad_id ?? i.key ?? "?"}${i.campaign_id ? ctx.c.dim(` (${i.campaign_id})`) : ""}` : i.campaign_id ?? i.key ?? "?";
          return [n + 1, key, i.clicks, ctx.c.cyan(bar((Number(i.clicks) / max) * 100, 24))];
        });
        ctx.out(renderTable(["#", opts.by === "ad" ? "AD" : "CAMPAIGN", "CLICKS", ""], rows, { header: ctx.c.bold }));
      }),
    );

  clicks
    .command("stats")
    .description("ingest health: accepted, duplicates, too late, future and invalid events")
    .option("--since <duration>", "how far back (e.g. 15m, 1h, 7d)", durationArg, 3600)
    .addOption(new Option("--granularity <g>", "row size").choices(["minute", "hour", "day"]).default("minute"))
    .action(
      run(async (ctx, opts) => {
        const now = Date.now();
        const query = { granularity: opts.granularity, from: new Date(now - opts.since * 1000).toISOString(), to: new Date(now + MINUTE_MS).toISOString() };
        const body = await ctx.client.get("/api/v1/clicks/ingest-stats", query);
        if (ctx.json) return ctx.printJson(body);
        const cols = ["accepted", "duplicates", "too_late", "future", "invalid"];
        const rows = listOf(body, ["series"]).map((p) => [String(p.window_start).replace("T", " ").replace(/:00(\.000)?Z$/, "Z"), ...cols.map((k) => p[k] ?? 0)]);
        const t = body?.totals ?? {};
        rows.push([ctx.c.bold("total"), ...cols.map((k) => ctx.c.bold(String(t[k] ?? 0)))]);
        ctx.out(renderTable(["WINDOW", "ACCEPTED", "DUPLICATES", "TOO LATE", "FUTURE", "INVALID"], rows, { header: ctx.c.bold }));
      }),
    );

  clicks
    .command("tail")
    .description("live clicks per minute, refreshing until Ctrl-C")
    .option("--campaign <id>", "only this campaign")
    .option("--minutes <n>", "how many one-minute windows to show", intArg({ min: 1, max: 120 }), 10)
    .option("--interval <seconds>", "refresh every this many seconds", numberArg({ min: 0.5, max: 300 }), 3)
    .option("--once", "print once and exit (for scripts and tests)")
    .action(
      run(async (ctx, opts) => {
        if (opts.campaign !== undefined && opts.campaign.trim() === "") throw new UsageError("--campaign must not be empty");
        const live = ctx.tty && !ctx.json && !opts.once ? new LiveBlock(process.stdout) : null;
        /** @type {Map<string, number>} */
        const printed = new Map();
        for (;;) {
          const q = tailQuery(Date.now(), opts.minutes, opts.campaign);
          const body = opts.once ? await ctx.client.get("/api/v1/clicks/metrics", q) : await ctx.client.poll("/api/v1/clicks/metrics", q);
          if (ctx.json) {
            ctx.out(opts.once ? JSON.stringify(body, null, 2) : JSON.stringify(body));
          } else {
            const minutes = perMinute(listOf(body, ["series"]), q.from, q.to);
            if (live || opts.once) {
              const max = Math.max(1, ...minutes.map((m) => m.clicks));
              const rows = minutes.map((m) => [m.window_start.slice(11, 16) + "Z", m.clicks, ctx.c.cyan(bar((m.clicks / max) * 100, 24)), opts.campaign ? "" : topOf(m.by)]);
              const title = `clicks per minute${opts.campaign ? ` for ${opts.campaign}` : ""} — ${new Date().toISOString().slice(11, 19)}Z`;
              const lines = [ctx.c.bold(title), ...renderTable(["MINUTE", "CLICKS", "", opts.campaign ? "" : "TOP CAMPAIGNS"], rows, { header: ctx.c.bold }).split("\n")];
              if (live) live.render([...lines, ctx.c.dim(`refreshing every ${opts.interval}s — Ctrl-C to stop`)]);
              else for (const l of lines) ctx.out(l);
            } else {
              // Piped: one line per minute whose count is new or changed.
              for (const m of minutes) {
                if (printed.get(m.window_start) === m.clicks || (m.clicks === 0 && !printed.has(m.window_start) && m !== minutes[minutes.length - 1])) continue;
                printed.set(m.window_start, m.clicks);
                ctx.out(`${m.window_start} clicks=${m.clicks}${opts.campaign ? "" : ` ${topOf(m.by)}`}`.trimEnd());
              }
            }
          }
          if (opts.once) return;
          await new Promise((r) => setTimeout(r, opts.interval * 1000));
        }
      }),
    );
}
