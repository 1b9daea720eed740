// The config side: namespaces, active rollouts (per-region progress, health, stage timer), audit log.
import type { AuditEntry, AuditList, NamespaceList, RolloutDetail } from "@edgeplane/client";
import { apiGet, settle, type ApiFailure, type Settled } from "./api.ts";
import { panelState } from "./clicks-panel.ts";
import { $, fill, fmtDuration, fmtInt, fmtTime, h, setKpi } from "./dom.ts";
import { stageRemainingMs, toMs } from "./model.ts";

const ADMIN = "/admin/v1";
/** At most this many active rollouts are fetched per refresh (one request each). */
const MAX_ROLLOUTS = 12;
const AUDIT_LIMIT = 14;

type Stage = RolloutDetail["stages"][number];
type RegionRelease = RolloutDetail["release"]["regions"][string];
type NamespaceSummary = NamespaceList["namespaces"][number];

export class ConfigPanel {
  rollouts: RolloutDetail[] = [];

  async refresh(token: string): Promise<{ attempted: number; failures: ApiFailure[] }> {
    const [nsList, audit] = await Promise.all([
      settle(apiGet<NamespaceList>(token, `${ADMIN}/namespaces`, { limit: 100 })),
      settle(apiGet<AuditList>(token, `${ADMIN}/audit`, { order: "desc", limit: AUDIT_LIMIT })),
    ]);
    const failures: ApiFailure[] = [];
    panelState($("#panel-namespaces"), nsList);
    panelState($("#panel-audit"), audit);
    if (audit.ok) renderAudit(audit.value.entries);
    else failures.push(audit.error);

    let attempted = 2;
    let rolloutResult: Settled<RolloutDetail[]> = { ok: true, value: [] };
    if (nsList.ok) {
      const namespaces = nsList.value.namespaces;
      const active = namespaces.filter((n) => n.active_rollout_id).slice(0, MAX_ROLLOUTS);
      attempted += active.length;
      const results = await Promise.all(active.map((n) => settle(apiGet<RolloutDetail>(token, `${ADMIN}/namespaces/${encodeURIComponent(n.name)}/rollouts/current`))));
      // 404 = the rollout finished between the listing and this read: not an error.
      const hard = results.find((r) => !r.ok && r.error.status !== 404);
      if (hard && !hard.ok) rolloutResult = hard;
      else rolloutResult = { ok: true, value: results.flatMap((r) => (r.ok ? [r.value] : [])) };
      if (rolloutResult.ok) this.rollouts = rolloutResult.value;
      renderNamespaces(namespaces, this.rollouts);
    } else {
      failures.push(nsList.error);
    }
    if (nsList.ok) {
      panelState($("#panel-rollouts"), rolloutResult);
      if (rolloutResult.ok) this.renderRollouts(Date.now());
      else failures.push(rolloutResult.error);
    }
    return { attempted, failures };
  }

  renderRollouts(now: number): void {
    setKpi($("#kpi-rollouts"), this.rollouts.length);
    fill($("#rollout-list"), this.rollouts.length ? this.rollouts.map((r) => rolloutCard(r, now)) : h("p", { class: "empty", "data-testid": "rollouts-empty" }, "No active rollouts"));
  }

  /** Called every second: moves the stage timers without refetching. */
  tick(now: number): void {
    for (const el of document.querySelectorAll<HTMLElement>("[data-testid=stage-timer]")) {
      const r = this.rollouts.find((x) => x.rollout_id === el.dataset.rollout);
      if (r) el.textContent = timerText(r, now);
    }
  }
}

function rolloutCard(r: RolloutDetail, now: number): HTMLElement {
  const stage = r.stages?.[r.stage_index];
  const stageRegions = new Set<string>(stage ? (stage.regions === "*" ? Object.keys(r.release?.regions ?? {}) : stage.regions) : []);
  const regions = Object.entries(r.release?.regions ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return h(
    "article",
    { class: `rollout state-${r.state}`, "data-testid": "rollout", "data-namespace": r.namespace, "data-state": r.state, "data-version": r.version },
    h(
      "header",
      {},
      h("h3", {}, r.namespace),
      h("span", { class: "versions" }, `v${r.from_version ?? "–"} → v${r.version}`),
      h("span", { class: `badge ${r.state}` }, r.state.replace("_", " ")),
      h("span", { class: "stage" }, `stage ${r.stage_index + 1} / ${r.stage_count}${stage ? ` · ${stage.percent}%${stage.bake_seconds ? ` · bake ${fmtDuration(stage.bake_seconds * 1000)}` : ""}` : ""}`),
      h("span", { class: "timer", "data-testid": "stage-timer", "data-rollout": r.rollout_id }, timerText(r, now)),
    ),
    h(
      "div",
      { class: "regions" },
      regions.map(([region, rel]) => regionBar(r, region, rel, stageRegions.has(region))),
    ),
    healthLine(r, stage),
  );
}

/** How far `region` is toward the rollout's target version, 0–100. */
function regionPercent(r: RolloutDetail, rel: RegionRelease): number {
  if (rel.candidate === r.version) return Number(rel.percent) || 0;
  if (rel.stable === r.version) return 100;
  return 0;
}

function regionBar(r: RolloutDetail, region: string, rel: RegionRelease, inStage: boolean): HTMLElement {
  const pct = regionPercent(r, rel);
  const clients = r.clients?.[region]?.[String(r.version)] ?? 0;
  const title = `${region}: ${pct}% on v${r.version}${clients ? ` · ${clients} clients reported v${r.version}` : ""}`;
  const fillEl = h("span", { class: "fill" });
  fillEl.style.width = `${Math.min(100, pct)}%`;
  return h(
    "div",
    { class: `region${inStage ? " in-stage" : ""}`, "data-testid": "rollout-region", "data-region": region, "data-percent": pct, "data-clients": clients, title },
    h("span", { class: "code" }, region),
    h("span", { class: "track", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": `${region} ${pct}%` }, fillEl),
    h("span", { class: "pct" }, `${pct}%`),
  );
}

function healthLine(r: RolloutDetail, stage: Stage | undefined): HTMLElement {
  const health = stage?.health ?? [];
  const rule = r.auto_rollback;
  const items = health.length
    ? [...health]
        .sort((a, b) => b.version - a.version)
        .map((v) => {
          const total = v.ok + v.error;
          const rate = total ? v.error / total : 0;
          const bad = rule ? rate > rule.max_error_rate && total >= rule.min_samples : v.error > 0 && rate > 0.05;
          return h(
            "span",
            { class: `health-item ${bad ? "bad" : v.error ? "warn" : "good"}`, "data-testid": "rollout-health", "data-version": v.version, "data-ok": v.ok, "data-error": v.error },
            h("b", {}, `v${v.version}`),
            ` ${fmtInt(v.ok)} ok · ${fmtInt(v.error)} error`,
            total ? ` (${(rate * 100).toFixed(1)}%)` : "",
          );
        })
    : [h("span", { class: "health-item muted" }, "no health reports in this stage yet")];
  const onTarget = Object.values(r.clients ?? {}).reduce((a, perVersion) => a + (Number(perVersion?.[String(r.version)]) || 0), 0);
  return h(
    "div",
    { class: "health" },
    h("span", { class: "label" }, "health"),
    items,
    onTarget ? h("span", { class: "clients" }, `${fmtInt(onTarget)} clients on v${r.version}`) : null,
    rule ? h("span", { class: "rule" }, `auto-rollback > ${(rule.max_error_rate * 100).toFixed(1)}% errors after ${fmtInt(rule.min_samples)} reports`) : null,
  );
}

export function timerText(r: RolloutDetail, now: number): string {
  if (r.state === "pending_approval") return "awaiting approval";
  if (r.state === "paused") return r.paused_remaining_seconds !== null && r.paused_remaining_seconds !== undefined ? `paused · ${fmtDuration(r.paused_remaining_seconds * 1000)} bake left` : "paused";
  const left = stageRemainingMs(r, now);
  if (left === null) return "";
  const last = r.stage_index + 1 >= r.stage_count;
  if (left > 0) return `${last ? "completes" : "next stage"} in ${fmtDuration(left)}`;
  return last ? "completing…" : "advancing (health gate)…";
}

function renderNamespaces(namespaces: NamespaceSummary[], rollouts: RolloutDetail[]): void {
  const active = new Map(rollouts.map((r) => [r.namespace, r]));
  fill(
    $("#namespace-rows"),
    namespaces.length
      ? namespaces.map((n) => {
          const r = active.get(n.name);
          return h(
            "tr",
            { "data-testid": "namespace-row", "data-namespace": n.name },
            h("td", { class: "name" }, h("div", {}, n.name), n.description ? h("div", { class: "sub" }, n.description) : null),
            h("td", { class: "num" }, n.latest_version ? `v${n.latest_version}` : "–"),
            h("td", {}, r ? h("span", { class: `badge ${r.state}` }, `${r.state.replace("_", " ")} → v${r.version}`) : n.active_rollout_id ? h("span", { class: "badge running" }, "rollout") : h("span", { class: "muted" }, "idle")),
            h("td", { class: "num muted" }, n.approvals_required ? "approval" : ""),
          );
        })
      : h("tr", { class: "empty" }, h("td", { colspan: 4 }, "No namespaces yet")),
  );
}

function renderAudit(entries: AuditEntry[]): void {
  fill(
    $("#audit-rows"),
    entries.length
      ? entries.map((e) =>
          h(
            "li",
            { "data-testid": "audit-row", "data-seq": e.seq, "data-action": e.action },
            h("span", { class: "when", title: String(e.ts) }, fmtTime(toMs(e.ts), true)),
            h("span", { class: `action a-${String(e.action).split(".")[0]}` }, String(e.action)),
            h("span", { class: "what" }, [e.namespace, e.version ? `v${e.version}` : null].filter(Boolean).join(" ") || "—"),
            h("span", { class: "actor sub" }, String(e.actor)),
          ),
        )
      : h("li", { class: "empty" }, "No audit entries yet"),
  );
}
