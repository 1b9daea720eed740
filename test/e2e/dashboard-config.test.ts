import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";
import { launchBrowser, poll, refreshes, rows, signIn, viewerToken } from "./dashboard-browser";

/** The config side of the dashboard: namespaces, the active rollout per namespace, audit entries. */

let server: DevServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  server = await startDevServer({ FLUSH_INTERVAL_MS: "500" }, { browser: true });
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

async function ok(method: string, path: string, body?: unknown, token?: string) {
  const r = await http(server.url, method, path, { body, token });
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function openDashboard(token: string) {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${server.url}/dashboard`);
  await signIn(page, token);
  await poll(() => refreshes(page)).toBeGreaterThan(0);
}

describe("config side", () => {
  it("shows an empty state before any namespace exists", async () => {
    await openDashboard(await viewerToken(server.url));
    await poll(() => page.textContent("[data-testid=namespaces]")).toMatch(/no namespaces/i);
    expect(await page.isVisible("[data-testid=rollouts-empty]")).toBe(true);
    expect(await page.$eval("[data-testid=kpi-rollouts]", (el) => (el as HTMLElement).dataset.value)).toBe("0");
    await page.context().close();
  });

  it("shows namespaces, the active rollout with per-region progress, health, stage timer, and audit entries", async () => {
    for (const ns of ["checkout", "search"]) {
      await ok("PUT", `/admin/v1/namespaces/${ns}`, { schema: { type: "object" }, description: `${ns} settings` });
      await ok("POST", `/admin/v1/namespaces/${ns}/versions`, { values: { v: 1 }, message: "first" });
      await ok("POST", `/admin/v1/namespaces/${ns}/rollouts`, { version: 1, plan: "immediate" });
    }
    await ok("POST", "/admin/v1/namespaces/checkout/versions", { values: { v: 2 }, message: "second" });
    const started = await ok("POST", "/admin/v1/namespaces/checkout/rollouts", {
      version: 2,
      plan: {
        stages: [
          { regions: ["eu"], percent: 100, bake_seconds: 3600 },
          { regions: ["na"], percent: 25, bake_seconds: 3600 },
          { regions: "*", percent: 100, bake_seconds: 0 },
        ],
        auto_rollback: { max_error_rate: 0.5, min_samples: 1000 },
      },
    });
    // Health reports from clients in eu on the candidate: 9 ok, 1 error.
    const reports = Array.from({ length: 10 }, (_, i) => ({ client_id: `client-${i}`, version: 2, status: i === 0 ? "error" : "ok" }));
    const rep = await http(server.url, "POST", "/v1/configs/checkout/reports", { body: { reports }, headers: { "x-region": "eu" } });
    expect(rep.status).toBe(202);

    const token = await viewerToken(server.url);
    await openDashboard(token);
    const current = await ok("GET", "/admin/v1/namespaces/checkout/rollouts/current", undefined, token);
    expect(current.rollout_id).toBe(started.rollout_id);

    // Namespaces, as the API lists them.
    await poll(async () => (await rows(page, "namespace-row", ["namespace"])).map((r) => r.namespace)).toEqual(["checkout", "search"]);

    // One active rollout: checkout v1 → v2, running, stage 1 of 3.
    const card = page.locator("[data-testid=rollout][data-namespace=checkout]");
    await poll(() => card.count()).toBe(1);
    expect(await page.locator("[data-testid=rollout]").count()).toBe(1);
    expect(await card.getAttribute("data-state")).toBe("running");
    expect(await card.getAttribute("data-version")).toBe("2");
    expect(await card.textContent()).toMatch(/v1 → v2/);
    expect(await card.textContent()).toMatch(/stage 1 \/ 3/);
    expect(await page.$eval("[data-testid=kpi-rollouts]", (el) => (el as HTMLElement).dataset.value)).toBe("1");

    // Per-region progress equals the API's release state: eu at 100 %, every other region at 0 %.
    const expected = Object.entries(current.release.regions as Record<string, { candidate: number | null; percent: number }>)
      .map(([region, r]) => ({ region, percent: String(r.candidate === 2 ? r.percent : 0) }))
      .sort((a, b) => a.region.localeCompare(b.region));
    expect(expected.find((r) => r.region === "eu")?.percent).toBe("100");
    await poll(async () => (await rows(page, "rollout-region", ["region", "percent"])).sort((a, b) => a.region.localeCompare(b.region))).toEqual(expected);

    // Health of the current stage: v2 with 9 ok / 1 error, as the API reports.
    const health = (current.stages[0].health as { version: number; ok: number; error: number }[]).find((h) => h.version === 2);
    expect(health).toMatchObject({ ok: 9, error: 1 });
    await poll(async () => rows(page, "rollout-health", ["version", "ok", "error"])).toContainEqual({ version: "2", ok: "9", error: "1" });

    // Stage timer counts down to next_advance_at (≈ 1 h away).
    await poll(() => card.locator("[data-testid=stage-timer]").textContent()).toMatch(/next stage in (59m|1h 00m)/);

    // Audit: the newest entries, newest first, as GET /admin/v1/audit?order=desc returns them.
    const audit = await ok("GET", "/admin/v1/audit?order=desc&limit=14", undefined, token);
    const shown = await rows(page, "audit-row", ["seq", "action"]);
    expect(shown.length).toBeGreaterThan(0);
    expect(shown).toEqual((audit.entries as { seq: number; action: string }[]).slice(0, shown.length).map((e) => ({ seq: String(e.seq), action: e.action })));
    expect(shown.map((r) => r.action)).toContain("rollout.started");
    await page.context().close();
  });

  it("follows the rollout live: pause shows up without a reload, completion clears it", async () => {
    const token = await viewerToken(server.url);
    await openDashboard(token);
    const card = page.locator("[data-testid=rollout][data-namespace=checkout]");
    await poll(() => card.getAttribute("data-state")).toBe("running");
    const current = await ok("GET", "/admin/v1/namespaces/checkout/rollouts/current");

    await ok("POST", `/admin/v1/namespaces/checkout/rollouts/${current.rollout_id}/pause`);
    await poll(() => card.getAttribute("data-state")).toBe("paused");
    await poll(() => card.locator("[data-testid=stage-timer]").textContent()).toMatch(/paused/);

    await ok("POST", `/admin/v1/namespaces/checkout/rollouts/${current.rollout_id}/resume`);
    await poll(() => card.getAttribute("data-state")).toBe("running");
    // Promote twice more: stage 2 (na 25 %), then the last stage completes the rollout.
    await ok("POST", `/admin/v1/namespaces/checkout/rollouts/${current.rollout_id}/promote`);
    await poll(async () => (await rows(page, "rollout-region", ["region", "percent"])).find((r) => r.region === "na")?.percent).toBe("25");
    await ok("POST", `/admin/v1/namespaces/checkout/rollouts/${current.rollout_id}/promote`);
    await poll(() => page.locator("[data-testid=rollout]").count(), { timeout: 30_000 }).toBe(0);
    await poll(async () => (await rows(page, "audit-row", ["action"])).map((r) => r.action)).toContain("rollout.completed");
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });

  it("shows a rollout waiting for approval, and scopes what a namespace-scoped viewer sees", async () => {
    await ok("PUT", "/admin/v1/namespaces/payments", { schema: { type: "object" }, description: "needs a second pair of eyes", approvals_required: 1 });
    await ok("POST", "/admin/v1/namespaces/payments/versions", { values: { v: 1 }, message: "first" });
    await ok("POST", "/admin/v1/namespaces/payments/rollouts", { version: 1, plan: "immediate" });
    const scoped = await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "payments-screen", role: "viewer", namespaces: ["payments"] } });
    expect(scoped.status).toBe(201);
    await openDashboard(scoped.body.token);
    const card = page.locator("[data-testid=rollout][data-namespace=payments]");
    await poll(() => card.getAttribute("data-state")).toBe("pending_approval");
    expect(await card.locator("[data-testid=stage-timer]").textContent()).toBe("awaiting approval");
    // Only its own namespace, and only audit entries about it.
    expect((await rows(page, "namespace-row", ["namespace"])).map((r) => r.namespace)).toEqual(["payments"]);
    const audit = await http(server.url, "GET", "/admin/v1/audit?order=desc&limit=14", { token: scoped.body.token });
    await poll(async () => (await rows(page, "audit-row", ["seq"])).map((r) => Number(r.seq))).toEqual(audit.body.entries.map((e: { seq: number }) => e.seq));
    expect(audit.body.entries.every((e: { namespace: string }) => e.namespace === "payments")).toBe(true);
    expect(await page.locator(".panel.failed").count()).toBe(0);
    await page.context().close();
  });
});
