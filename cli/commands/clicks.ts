import { Option, type Command } from "commander";
import type { MetricsParams, MetricsSeries, PipelineState } from "@edgeplane/client";
import { durationArg, intArg, numberArg } from "../lib/args.ts";
import { UsageError } from "../lib/errors.ts";
import { bar, LiveBlock } from "../lib/progress.ts";
import { renderTable } from "../lib/table.ts";
import { run } from "./run.ts";

const MINUTE_MS = 60_000;

/**
 * The metrics query for the last `minutes` one-minute windows up to and including the current one.
 * `now`: epoch ms.
 */
export function tailQuery(now: number, minutes: number, campaign: string | undefined): MetricsParams & { from: string; to: string } {
  const to = Math.floor(now / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const from = to - minutes * MINUTE_MS;
  return {
    granularity: "minute" as const,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    group_by: campaign ? undefined : "campaign",
    campaign_id: campaign,
  };
}

/**
 * Folds a metrics series into per-minute rows: total clicks and the top campaigns of that minute.
 * Every minute of the range is present (zero when nothing arrived), newest last.
 * `from` and `to` (exclusive) are ISO timestamps.
 */
export function perMinute(series: MetricsSeries["series"], from: string, to: string): { window_start: string; clicks: number; by: Map<string, number> }[] {
  const rows = new Map<number, { total: number; by: Map<string, number> }>();
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

function topOf(by: Map<string, number>, n = 3): string {
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([k, v]) => `${k}:${v}`)
    .join(" ");
}

/** The objects of a pipeline answer that hold something on its way to D1: [hop, name, waiting, frozen id]. */
export function pipelineBacklog(p: PipelineState): string[][] {
  const frozen = (id: number | null) => (id === null ? "" : String(id));
  return [
    ...p.buffers.filter((b) => b.pending_clicks > 0 || b.frozen_forward !== null).map((b) => ["buffer", b.name, `${b.pending_clicks} clicks`, frozen(b.frozen_forward)]),
    ...p.shards
      .filter((s) => s.open_entries > 0 || s.open_stats > 0 || s.frozen_handoff !== null)
      .map((s) => ["shard", s.name, `${s.open_entries} cells, ${s.open_stats} stats`, frozen(s.frozen_handoff)]),
    ...p.aggregators
      .filter((a) => a.open_cells > 0 || a.open_stats > 0 || a.frozen_flush !== null)
      .map((a) => ["aggregator", a.name, `${a.open_cells} cells, ${a.open_stats} stats`, frozen(a.frozen_flush)]),
  ];
}

/** `edgeplane clicks link|top|stats|pipeline|tail` */
export function register(program: Command): void {
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
      run(async (ctx, opts: { campaign: string; ad: string; url: string; ttl?: number; clickId?: string }) => {
        const created = await ctx.client.admin.clicks.createLink({
          campaign_id: opts.campaign,
          ad_id: opts.ad,
          url: opts.url,
          ...(opts.ttl !== undefined ? { ttl_seconds: Math.round(opts.ttl) } : {}),
          ...(opts.clickId !== undefined ? { click_id: opts.clickId } : {}),
        });
        if (ctx.json) return ctx.printJson(created);
        ctx.out(created.url.startsWith("/") ? ctx.client.url + created.url : created.url);
        ctx.info(ctx.ce.dim(`click_id ${created.click_id}, expires ${created.expires_at}`));
      }, { serverOption: "server" }),
    );

  clicks
    .command("top")
    .description("top campaigns or ads by clicks")
    .addOption(new Option("--by <dimension>", "rank campaigns or ads").choices(["campaign", "ad"]).default("campaign"))
    .option("--since <duration>", "how far back (e.g. 15m, 1h, 7d)", durationArg, 3600)
    .option("--limit <n>", "how many", intArg({ min: 1, max: 100 }), 10)
    .action(
      run(async (ctx, opts: { by: "campaign" | "ad"; since: number; limit: number }) => {
        const now = Date.now();
        const body = await ctx.client.admin.clicks.top({ by: opts.by, from: new Date(now - opts.since * 1000).toISOString(), to: new Date(now + MINUTE_MS).toISOString(), limit: String(opts.limit) });
        if (ctx.json) return ctx.printJson(body);
        const items = body.items;
        if (items.length === 0) return ctx.out(ctx.c.dim("no clicks in that range"));
        const max = Math.max(...items.map((i) => i.clicks), 1);
        const rows = items.map((i, n) => {
          const key = opts.by === "ad" ? `${i.ad_id ?? "?"}${ctx.c.dim(` (${i.campaign_id})`)}` : i.campaign_id;
          return [n + 1, key, i.clicks, ctx.c.cyan(bar((i.clicks / max) * 100, 24))];
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
      run(async (ctx, opts: { since: number; granularity: "minute" | "hour" | "day" }) => {
        const now = Date.now();
        const body = await ctx.client.admin.clicks.ingestStats({ granularity: opts.granularity, from: new Date(now - opts.since * 1000).toISOString(), to: new Date(now + MINUTE_MS).toISOString() });
        if (ctx.json) return ctx.printJson(body);
        const cols = ["accepted", "duplicates", "too_late", "future", "invalid"] as const;
        const rows: unknown[][] = body.series.map((p) => [p.window_start.replace("T", " ").replace(/:00(\.000)?Z$/, "Z"), ...cols.map((k) => p[k])]);
        rows.push([ctx.c.bold("total"), ...cols.map((k) => ctx.c.bold(String(body.totals[k])))]);
        ctx.out(renderTable(["WINDOW", "ACCEPTED", "DUPLICATES", "TOO LATE", "FUTURE", "INVALID"], rows, { header: ctx.c.bold }));
      }),
    );

  clicks
    .command("pipeline")
    .description("what waits at each hop on its way to D1 (buffers, shards, aggregators) and the shard epochs")
    .action(
      run(async (ctx) => {
        const p = await ctx.client.admin.clicks.pipeline();
        if (ctx.json) return ctx.printJson(p);
        ctx.out(`shard epochs: ${p.epochs.map((e) => `${e.epoch} (${e.shards} shards${e.since ? ` since ${e.since}` : ""})`).join(", ")}`);
        const busy = pipelineBacklog(p);
        if (busy.length === 0) {
          ctx.out(ctx.c.bold("nothing waiting: every acknowledged click is in D1"));
          return;
        }
        ctx.out(renderTable(["HOP", "OBJECT", "WAITING", "FROZEN"], busy, { header: ctx.c.bold }));
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
      run(async (ctx, opts: { campaign?: string; minutes: number; interval: number; once?: boolean }) => {
        if (opts.campaign !== undefined && opts.campaign.trim() === "") throw new UsageError("--campaign must not be empty");
        const live = ctx.tty && !ctx.json && !opts.once ? new LiveBlock(process.stdout) : null;
        const printed = new Map<string, number>();
        for (;;) {
          const q = tailQuery(Date.now(), opts.minutes, opts.campaign);
          const read = () => ctx.client.admin.clicks.metrics(q);
          const body = opts.once ? await read() : await ctx.client.patiently(read);
          if (ctx.json) {
            ctx.out(opts.once ? JSON.stringify(body, null, 2) : JSON.stringify(body));
          } else {
            const minutes = perMinute(body.series, q.from, q.to);
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
