import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { http } from "./server";

/** Debian's chromium (CI installs it with apt); never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
}

export interface ClickSpec {
  campaign_id: string;
  ad_id: string;
  region: string;
  /** Event time, epoch ms. */
  ts: number;
  click_id?: string;
}

/** Posts clicks as a beacon would (no token; the region comes from X-Region), grouped by region. */
export async function sendClicks(base: string, clicks: ClickSpec[]): Promise<{ accepted: number; rejected: unknown[] }> {
  const byRegion = new Map<string, ClickSpec[]>();
  for (const c of clicks) byRegion.set(c.region, [...(byRegion.get(c.region) ?? []), c]);
  let accepted = 0;
  const rejected: unknown[] = [];
  for (const [region, list] of byRegion) {
    for (let i = 0; i < list.length; i += 1000) {
      const events = list.slice(i, i + 1000).map((c) => ({ click_id: c.click_id ?? `clk-${randomUUID()}`, campaign_id: c.campaign_id, ad_id: c.ad_id, ts: c.ts }));
      const r = await http(base, "POST", "/v1/clicks", { token: null, body: { events }, headers: { "x-region": region } });
      if (r.status !== 200) throw new Error(`POST /v1/clicks → ${r.status} ${JSON.stringify(r.body)}`);
      accepted += r.body.accepted;
      rejected.push(...r.body.rejected);
    }
  }
  return { accepted, rejected };
}

/** Sum of `clicks` over a metrics answer's series. */
export function sumClicks(body: { series: { clicks: number }[] }): number {
  return body.series.reduce((a, r) => a + r.clicks, 0);
}

/** The query window the page last used (data-from / data-to on the range element). */
export async function pageWindow(page: Page): Promise<{ from: string; to: string }> {
  return page.$eval("[data-testid=range-window]", (el) => ({ from: (el as HTMLElement).dataset.from ?? "", to: (el as HTMLElement).dataset.to ?? "" }));
}

/** The total KPI and the window it was computed for, read together (a refresh can land between two reads). */
export async function shownTotal(page: Page): Promise<{ total: number; window: { from: string; to: string } } | null> {
  return page.evaluate(() => {
    const total = document.querySelector<HTMLElement>("[data-testid=kpi-total]")?.dataset.value;
    const range = document.querySelector<HTMLElement>("[data-testid=range-window]")?.dataset;
    if (total === undefined || !range?.from || !range.to) return null;
    return { total: Number(total), window: { from: range.from, to: range.to } };
  });
}

export async function kpi(page: Page, name: string): Promise<number | null> {
  const v = await page.$eval(`[data-testid=kpi-${name}]`, (el) => (el as HTMLElement).dataset.value ?? null);
  return v === null ? null : Number(v);
}

/** How many refreshes the page has completed (data-refreshes on <body>). */
export async function refreshes(page: Page): Promise<number> {
  return Number((await page.evaluate(() => document.body.dataset.refreshes)) ?? 0);
}

/** Rows of a table as {attr → value} maps, e.g. rows(page, "region-row", ["region", "clicks"]). */
export async function rows(page: Page, testid: string, attrs: string[]): Promise<Record<string, string>[]> {
  return page.$$eval(
    `[data-testid=${testid}]`,
    (els, names) => els.map((el) => Object.fromEntries(names.map((n) => [n, (el as HTMLElement).dataset[n] ?? ""]))),
    attrs,
  );
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.fill("[data-testid=token-input]", token);
  await page.click("[data-testid=token-submit]");
}

export async function viewerToken(base: string, name = "wall-screen"): Promise<string> {
  const r = await http(base, "POST", "/admin/v1/tokens", { body: { name, role: "viewer", namespaces: ["*"] } });
  if (r.status !== 201) throw new Error(`token → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}

export const MINUTE = 60_000;
export const minuteOf = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

/** expect.poll with a timeout that spans several dashboard refreshes (the page refreshes every 3 s). */
export function poll<T>(fn: () => T | Promise<T>, opts: { timeout?: number } = {}) {
  return expect.poll(fn, { interval: 100, timeout: 20_000, ...opts });
}
