import type { RolloutDetail } from "@edgeplane/client";
import type { Colors } from "./colors.ts";
import { bar } from "./progress.ts";
import { formatSeconds } from "./duration.ts";
import { renderTable } from "./table.ts";

export const TERMINAL_STATES: readonly string[] = ["completed", "aborted", "rolled_back"];

type RegionRelease = RolloutDetail["release"]["regions"][string];

export const rolloutId = (r: Pick<RolloutDetail, "rollout_id"> | null | undefined): string | null => r?.rollout_id ?? null;

/**
 * Share of a region's clients on the rollout's target version: 100 once it is the region's stable
 * version, the candidate percent while it is the candidate, 0 otherwise (not reached, or reverted).
 */
export function targetPercent(r: Pick<RolloutDetail, "version">, rr: RegionRelease | undefined): number {
  if (rr?.candidate != null && rr.candidate === r.version) return Number(rr.percent ?? 0);
  if (rr?.stable != null && rr.stable === r.version) return 100;
  return 0;
}

export function isTerminal(r: Pick<RolloutDetail, "state"> | null | undefined): boolean {
  return r ? TERMINAL_STATES.includes(r.state) : false;
}

export function colorState(state: string, c: Colors): string {
  switch (state) {
    case "running":
      return c.cyan(state);
    case "completed":
      return c.green(state);
    case "paused":
    case "pending_approval":
      return c.yellow(state);
    case "aborted":
    case "rolled_back":
      return c.red(state);
    default:
      return String(state);
  }
}

function stageRegions(s: RolloutDetail["stages"][number] | undefined): string {
  return s?.regions === "*" ? "all regions" : Array.isArray(s?.regions) ? s.regions.join(",") : "?";
}

/**
 * The stage timer: elapsed bake / bake time and the countdown to the next advance.
 * `now`: epoch ms.
 */
export function stageTimer(r: RolloutDetail, now: number): string {
  const stage = r.stages?.[r.stage_index];
  const bake = stage?.bake_seconds;
  if (r.state === "pending_approval") return "waiting for approval (edgeplane rollout approve)";
  if (r.state === "paused") return r.paused_remaining_seconds != null ? `paused, ${formatSeconds(r.paused_remaining_seconds)} of bake left` : "paused";
  if (isTerminal(r)) return r.end_reason ? `ended: ${r.end_reason}` : `ended ${r.ended_at ?? ""}`.trim();
  const started = r.stage_started_at ? Date.parse(r.stage_started_at) : NaN;
  const next = r.next_advance_at ? Date.parse(r.next_advance_at) : NaN;
  const parts: string[] = [];
  if (Number.isFinite(started) && typeof bake === "number") parts.push(`baked ${formatSeconds((now - started) / 1000)} / ${formatSeconds(bake)}`);
  if (Number.isFinite(next)) {
    const left = (next - now) / 1000;
    parts.push(left > 0 ? `next advance in ${formatSeconds(left)}` : "advancing (health gate check)");
  } else if (r.stage_index >= (r.stage_count ?? r.stages?.length ?? 0) - 1) {
    parts.push("last stage");
  }
  return parts.join(", ") || "-";
}

/**
 * Health of the current stage per version: `v2 ok 10 error 1 (9.1%)`.
 */
export function healthLine(r: RolloutDetail, c: Colors): string {
  const stage = r.stages?.[r.stage_index];
  const health = Array.isArray(stage?.health) ? stage.health : [];
  if (health.length === 0) return c.dim("no health reports in this stage yet");
  return health
    .map((h) => {
      const total = (h.ok ?? 0) + (h.error ?? 0);
      const rate = total ? (h.error / total) * 100 : 0;
      const err = h.error > 0 ? c.red(`error ${h.error}`) : `error ${h.error ?? 0}`;
      const tag = h.version === r.version ? " (candidate)" : "";
      return `v${h.version}${tag}: ${c.green(`ok ${h.ok ?? 0}`)} ${err} ${c.dim(`(${rate.toFixed(1)}%)`)}`;
    })
    .join("   ");
}

/**
 * The full status block of a rollout: header, stage + timer, per-region bars, health, clients.
 */
export function renderRollout(r: RolloutDetail, c: Colors, opts: { now?: number; unicode?: boolean } = {}): string[] {
  const now = opts.now ?? Date.now();
  const stageCount = r.stage_count ?? r.stages?.length ?? 0;
  const from = r.from_version != null ? `v${r.from_version}` : "(none)";
  const lines = [
    `${c.bold(`rollout ${rolloutId(r)}`)}  ${r.namespace ?? ""} ${from} → ${c.bold(`v${r.version}`)}  ${colorState(r.state, c)}` +
      (r.preset ? c.dim(`  plan ${r.preset}`) : ""),
  ];
  const stage = r.stages?.[r.stage_index];
  if (stage) {
    lines.push(`stage ${r.stage_index + 1}/${stageCount}: ${stageRegions(stage)} at ${stage.percent}%, bake ${formatSeconds(stage.bake_seconds)} — ${stageTimer(r, now)}`);
  } else {
    lines.push(`stage ${(r.stage_index ?? 0) + 1}/${stageCount} — ${stageTimer(r, now)}`);
  }
  const regions = r.release?.regions ?? {};
  const clients = r.clients ?? {};
  const rows = Object.entries(regions).map(([name, rr]) => {
    const pct = targetPercent(r, rr);
    const seen = clients[name] ? Object.entries(clients[name]!).map(([v, n]) => `v${v}:${n}`).join(" ") : "-";
    const barText = bar(pct, 20, opts.unicode !== false);
    return [
      name,
      rr.stable != null ? `v${rr.stable}` : "-",
      rr.candidate != null ? `v${rr.candidate}` : "-",
      `${pct.toFixed(2)}%`,
      pct >= 100 ? c.green(barText) : pct > 0 ? c.cyan(barText) : c.dim(barText),
      seen,
    ];
  });
  if (rows.length > 0) lines.push(...renderTable(["REGION", "STABLE", "CANDIDATE", `ON v${r.version}`, "PROGRESS", "CLIENTS SEEN"], rows, { header: c.bold }).split("\n"));
  lines.push(`health: ${healthLine(r, c)}`);
  if (r.auto_rollback) lines.push(c.dim(`auto-rollback when error rate > ${r.auto_rollback.max_error_rate * 100}% over ≥ ${r.auto_rollback.min_samples} reports`));
  return lines;
}

/**
 * One line summarising a rollout, for non-TTY watch output (printed only when it changes).
 */
export function rolloutLine(r: RolloutDetail): string {
  const stageCount = r.stage_count ?? r.stages?.length ?? 0;
  const regions = Object.entries(r.release?.regions ?? {})
    .map(([n, rr]) => `${n}=${targetPercent(r, rr).toFixed(2)}%`)
    .join(" ");
  const stage = r.stages?.[r.stage_index];
  const health = (Array.isArray(stage?.health) ? stage.health : []).map((h) => `v${h.version} ok=${h.ok} error=${h.error}`).join(" ");
  return `state=${r.state} stage=${(r.stage_index ?? 0) + 1}/${stageCount} ${regions}${health ? ` | ${health}` : ""}${isTerminal(r) && r.end_reason ? ` | ${r.end_reason}` : ""}`;
}
