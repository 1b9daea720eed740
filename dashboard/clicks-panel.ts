// The clicks side: KPIs, clicks per minute (with late corrections), breakdowns, top ads, ingest health.
import type { IngestStats, MetricsSeries, TopClicks } from "@edgeplane/client";
import { apiGet, settle, type ApiFailure, type Settled } from "./api.ts";
import { Chart, PALETTE, alpha, noPath } from "./charts.ts";
import { $, fill, fmtCompact, fmtInt, fmtRate, fmtTime, h, setKpi, show } from "./dom.ts";
import * as M from "./model.ts";

const METRICS = "/api/v1/clicks/metrics";
const TOP = "/api/v1/clicks/top";
const INGEST = "/api/v1/clicks/ingest-stats";
/** Campaigns charted individually (the rest is one "other" band) and listed in the table. */
const TOP_CAMPAIGN_SERIES = 6;
const TOP_CAMPAIGN_ROWS = 8;
type Series = MetricsSeries["series"];
type TopItem = TopClicks["items"][number];
type IngestRow = IngestStats["series"][number];

const iso = (ms: number) => new Date(ms).toISOString();

export class ClicksPanel {
  readonly totalChart: Chart;
  readonly campaignChart: Chart;
  readonly ingestChart: Chart;
  /** Clicks per window from the last successful refresh. */
  prevTotals: Map<number, number> | null;
  prevFetchedAt: number;
  prevKey: string;
  revisions: (M.Revision & { detectedAt: number })[];

  constructor() {
    this.totalChart = new Chart($("#chart-total"), { yLabel: "clicks / min" });
    this.campaignChart = new Chart($("#chart-campaigns"), { yLabel: "clicks", height: 130, legend: false });
    this.ingestChart = new Chart($("#chart-ingest"), { yLabel: "events", height: 120 });
    this.prevTotals = null;
    this.prevFetchedAt = NaN;
    this.prevKey = "";
    this.revisions = [];
  }

  /** Fetches everything for `range` in parallel; renders what arrived. Returns the failures. */
  async refresh(token: string, range: M.Range, now: number): Promise<{ attempted: number; failures: ApiFailure[] }> {
    const span = range.to - range.from;
    const gTotal = M.granularityFor(span, M.DAY);
    const gBreakdown = M.granularityFor(span, 6 * M.HOUR);
    const q = { from: iso(range.from), to: iso(range.to) };
    // Campaigns can be many: chart only the top ones (filtered query), so the answer stays small.
    const campaignsChart = async () => {
      const top = await settle(apiGet<TopClicks>(token, TOP, { by: "campaign", ...q, limit: TOP_CAMPAIGN_ROWS }));
      if (!top.ok) return { top, series: top };
      const keys = top.value.items.slice(0, TOP_CAMPAIGN_SERIES).map((i) => String(i.campaign_id));
      const series: Settled<Pick<MetricsSeries, "series">> = keys.length
        ? await settle(apiGet<MetricsSeries>(token, METRICS, { ...q, granularity: gBreakdown, group_by: "campaign", campaign_id: keys }))
        : { ok: true, value: { series: [] } };
      return { top, series };
    };
    // events/s always comes from the last two arrival minutes, whatever the range's granularity.
    const recent = { from: iso(Math.floor(now / M.MINUTE) * M.MINUTE - M.MINUTE), to: iso(Math.floor(now / M.MINUTE) * M.MINUTE + M.MINUTE), granularity: "minute" };
    const [total, campaigns, regions, topAds, ingest, ingestRecent] = await Promise.all([
      settle(apiGet<MetricsSeries>(token, METRICS, { ...q, granularity: gTotal })),
      campaignsChart(),
      settle(apiGet<MetricsSeries>(token, METRICS, { ...q, granularity: gBreakdown, group_by: "region" })),
      settle(apiGet<TopClicks>(token, TOP, { by: "ad", ...q, limit: 10 })),
      settle(apiGet<IngestStats>(token, INGEST, { ...q, granularity: gTotal })),
      settle(apiGet<IngestStats>(token, INGEST, recent)),
    ]);
    const rangeEl = $("#range-window");
    rangeEl.dataset.from = q.from;
    rangeEl.dataset.to = q.to;
    rangeEl.dataset.granularity = gTotal;
    rangeEl.textContent = `${fmtTime(range.from)} – ${fmtTime(range.to)} · per ${gTotal}`;

    panelState($("#panel-total"), total);
    if (total.ok) this.renderTotal(total.value.series, range, gTotal, now);
    const campaignResult = !campaigns.top.ok ? campaigns.top : campaigns.series;
    panelState($("#panel-campaigns"), campaignResult);
    if (campaigns.top.ok && campaigns.series.ok) {
      const totalSeries = total.ok ? total.value.series : null;
      this.renderCampaigns(campaigns.top.value.items, campaigns.series.value.series, totalSeries, range, gBreakdown);
    }
    panelState($("#panel-regions"), regions);
    if (regions.ok) renderRegions(regions.value.series);
    panelState($("#panel-top-ads"), topAds);
    if (topAds.ok) renderTopAds(topAds.value.items);
    panelState($("#panel-ingest"), ingest);
    if (ingest.ok) this.renderIngest(ingest.value.series, range, gTotal);
    if (ingestRecent.ok) {
      const eps = M.eventsPerSecond(ingestRecent.value.series, now);
      setKpi($("#kpi-eps"), Math.round(eps * 10) / 10, fmtRate(eps));
    }
    const all: Settled<unknown>[] = [total, campaignResult, regions, topAds, ingest, ingestRecent];
    return { attempted: all.length, failures: all.flatMap((r) => (r.ok ? [] : [r.error])) };
  }

  renderTotal(series: Series, range: M.Range, granularity: M.Granularity, now: number): void {
    const step = M.STEP_MS[granularity];
    const xs = M.windowStarts(range.from, range.to, granularity);
    const byWindow = M.sumByWindow(series);
    const ys = xs.map((x) => byWindow.get(x) ?? 0);
    const total = [...byWindow.values()].reduce((a, b) => a + b, 0);

    // Late corrections are only comparable within one granularity.
    const key = granularity;
    if (this.prevKey === key) {
      const found = M.detectRevisions(this.prevTotals, this.prevFetchedAt, byWindow, step);
      if (found.length) this.revisions = M.mergeRevisions(this.revisions, found, now);
    }
    this.prevKey = key;
    this.prevTotals = byWindow;
    this.prevFetchedAt = now;
    const revised = new Set(this.revisions.map((r) => r.window));
    const marks = xs.map((x, i) => (revised.has(x) ? ys[i] : null));
    // The minute in progress is still filling up: show it as a point, not as a drop of the line.
    const open = Math.floor(now / step) * step;
    const closed = xs.map((x, i) => (x >= open ? null : ys[i]));
    const partial = xs.map((x, i) => (x === open ? ys[i] : null));

    setKpi($("#kpi-total"), total, fmtCompact(total));
    const lastFull = Math.floor(now / step) * step - step;
    setKpi($("#kpi-last-minute"), byWindow.get(lastFull) ?? 0);
    $("#kpi-last-minute-label").textContent = `clicks in ${fmtTime(lastFull)}${granularity === "minute" ? "" : ` (${granularity})`}`;
    $("#chart-total-title").textContent = `Clicks per ${granularity}`;
    show($("#clicks-empty"), total === 0);
    this.totalChart.update(xs, [
      { label: `clicks per ${granularity}`, color: PALETTE[0], fill: alpha(PALETTE[0], 0.15), width: 3 },
      { label: `this ${granularity} so far`, color: PALETTE[0], paths: noPath, points: { show: true, size: 9, fill: "#0b0e14", width: 2 } },
      { label: "revised (late clicks)", color: "#ffb703", paths: noPath, points: { show: true, size: 10, fill: "#ffb703" } },
    ], [closed, partial, marks]);
    // What the chart plots, for tests and for people inspecting the page.
    $("#chart-total").dataset.sum = String(ys.reduce((a, b) => a + b, 0));
    renderRevisions(this.revisions, granularity);
  }

  /**
   * `top`: the biggest campaigns over the range (exact totals); `series`: the top ones per window;
   * `totalSeries`: all clicks per window (for the "other" band), or null when unavailable.
   */
  renderCampaigns(top: TopItem[], series: Series, totalSeries: Series | null, range: M.Range, granularity: M.Granularity): void {
    const xs = M.windowStarts(range.from, range.to, granularity);
    const keys = top.slice(0, TOP_CAMPAIGN_SERIES).map((t) => String(t.campaign_id));
    const values = M.valuesFor(series, "campaign_id", keys, xs);
    const labels = [...keys];
    if (totalSeries && top.length > 0) {
      const all = M.rollup(M.sumByWindow(totalSeries), M.STEP_MS[granularity]);
      const other = xs.map((x, i) => Math.max(0, (all.get(x) ?? 0) - values.reduce((a, v) => a + v[i]!, 0)));
      if (other.some((v) => v > 0)) {
        values.push(other);
        labels.push("other");
      }
    }
    const stacked = M.stack(values);
    // Draw the tallest (cumulative) series first so each lower band paints over it.
    const order = labels.map((_, i) => i).reverse();
    this.campaignChart.update(
      xs,
      order.map((i) => ({ label: labels[i]!, color: PALETTE[i % PALETTE.length], fill: alpha(PALETTE[i % PALETTE.length], 0.55), width: 1 })),
      order.map((i) => stacked[i]!),
      order.map((i) => values[i]!),
    );
    const grand = totalSeries ? [...M.sumByWindow(totalSeries).values()].reduce((a, b) => a + b, 0) : top.reduce((a, t) => a + (Number(t.clicks) || 0), 0);
    const shown = top.reduce((a, t) => a + (Number(t.clicks) || 0), 0);
    const max = top.length ? Number(top[0]!.clicks) || 0 : 0;
    const rest = grand - shown;
    fill(
      $("#campaign-rows"),
      top.length
        ? [
            ...top.map((t, i) =>
              shareRow("campaign-row", { "data-campaign": t.campaign_id }, String(t.campaign_id), Number(t.clicks) || 0, grand, max, PALETTE[Math.min(i, TOP_CAMPAIGN_SERIES) % PALETTE.length]!, true),
            ),
            rest > 0 ? shareRow("campaign-other", {}, "all other campaigns", rest, grand, max, PALETTE[TOP_CAMPAIGN_SERIES]!, true) : null,
          ]
        : emptyRow("No campaigns yet", 3),
    );
  }

  renderIngest(rows: IngestRow[], range: M.Range, granularity: M.Granularity): void {
    const t = M.ingestTotals(rows);
    $("#ingest-hint").textContent = `per arrival ${granularity}`;
    setKpi($("#kpi-accepted"), t.accepted, fmtCompact(t.accepted));
    setKpi($("#kpi-duplicates"), t.duplicates, fmtCompact(t.duplicates));
    setKpi($("#kpi-late"), t.too_late, fmtCompact(t.too_late));
    setKpi($("#kpi-rejected"), t.rejected, fmtCompact(t.rejected));
    $("#kpi-rejected-detail").textContent = `${fmtInt(t.invalid)} invalid · ${fmtInt(t.future)} future`;
    const xs = M.windowStarts(range.from, range.to, granularity);
    const pick = (f: string) => {
      const m = M.sumByWindow(rows, f);
      return xs.map((x) => m.get(x) ?? 0);
    };
    const future = pick("future");
    const invalid = pick("invalid");
    this.ingestChart.update(
      xs,
      [
        { label: "accepted", color: PALETTE[0] },
        { label: "duplicates", color: PALETTE[4] },
        { label: "too late", color: PALETTE[3] },
        { label: "rejected", color: PALETTE[1] },
      ],
      [pick("accepted"), pick("duplicates"), pick("too_late"), future.map((v, i) => v + invalid[i]!)],
    );
  }
}

function renderRegions(series: Series): void {
  const totals = M.totalsBy(series, "region");
  const sum = totals.reduce((a, b) => a + b.clicks, 0);
  fill(
    $("#region-rows"),
    totals.length ? totals.map((t) => shareRow("region-row", { "data-region": t.key }, t.key, t.clicks, sum, totals[0]!.clicks, PALETTE[2]!)) : emptyRow("No regions yet", 3),
  );
}

function renderTopAds(items: TopItem[]): void {
  const max = items.reduce((a, b) => Math.max(a, Number(b.clicks) || 0), 0);
  fill(
    $("#top-ad-rows"),
    items.length
      ? items.map((it, i) =>
          h(
            "tr",
            { "data-testid": "top-ad-row", "data-ad": it.ad_id ?? "", "data-campaign": it.campaign_id ?? "", "data-clicks": Number(it.clicks) || 0 },
            h("td", { class: "rank" }, String(i + 1)),
            h("td", { class: "name" }, h("div", { class: "ad" }, String(it.ad_id ?? "–")), it.campaign_id ? h("div", { class: "sub" }, String(it.campaign_id)) : null),
            h("td", { class: "num bar-cell" }, bar(Number(it.clicks) || 0, max, PALETTE[1]!), h("span", {}, fmtInt(Number(it.clicks) || 0))),
          ),
        )
      : emptyRow("No ads yet", 3),
  );
}

function renderRevisions(list: (M.Revision & { detectedAt: number })[], granularity: M.Granularity): void {
  $("#revision-count").textContent = list.length ? `${list.length}` : "";
  fill(
    $("#revision-rows"),
    list.length
      ? list.slice(0, 8).map((r) =>
          h(
            "li",
            { "data-testid": "revision-row", "data-window": new Date(r.window).toISOString(), "data-before": r.before, "data-after": r.after },
            h("span", { class: "when" }, `${fmtTime(r.window)}`),
            h("span", { class: "delta" }, `${fmtInt(r.before)} → ${fmtInt(r.after)}`),
            h("span", { class: "sub" }, `revised at ${fmtTime(r.detectedAt, true)}`),
          ),
        )
      : h("li", { class: "empty" }, `No late corrections seen yet (older ${granularity}s whose counts change show up here)`),
  );
}

/** A row: name, clicks with a bar scaled to the largest row, share of the total. */
function shareRow(testid: string, attrs: Record<string, unknown>, label: string, clicks: number, sum: number, max: number, color: string, swatch = false): HTMLTableRowElement {
  const pct = sum > 0 ? (clicks / sum) * 100 : 0;
  const sw = swatch ? h("span", { class: "swatch" }) : null;
  if (sw) sw.style.background = color;
  return h(
    "tr",
    { "data-testid": testid, "data-clicks": clicks, ...attrs },
    h("td", { class: "name" }, sw, label),
    h("td", { class: "num bar-cell" }, bar(clicks, max, color), h("span", {}, fmtInt(clicks))),
    h("td", { class: "num pct" }, `${pct.toFixed(pct < 10 ? 1 : 0)}%`),
  );
}

function bar(value: number, max: number, color: string): HTMLSpanElement {
  const b = h("span", { class: "bar" });
  b.style.width = `${max > 0 ? Math.max(1, (value / max) * 100) : 0}%`;
  b.style.background = alpha(color, 0.28);
  return b;
}

function emptyRow(text: string, cols: number): HTMLTableRowElement {
  return h("tr", { class: "empty" }, h("td", { colspan: cols }, text));
}

/** Marks a panel as failing (with the server's message) or clears it. */
export function panelState(panel: HTMLElement, result: Settled<unknown>): void {
  const el = $(".panel-error", panel);
  if (result.ok || result.error.kind === "network" || result.error.kind === "auth") {
    el.hidden = true;
    panel.classList.remove("failed");
    return;
  }
  panel.classList.add("failed");
  el.hidden = false;
  el.textContent = `${result.error.status || ""} ${result.error.code}: ${result.error.message}`.trim();
}
