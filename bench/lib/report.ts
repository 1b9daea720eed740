// SPEC targets, the printed tables and the JSON file.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { BenchResult, ScenarioEntry } from "./bench.ts";

const fmt = (x: number | null | undefined, d = 0): string =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

export interface Target {
  id: string;
  /** where the target comes from */
  source: string;
  target: string;
  value: number | null;
  unit: string;
  threshold: number | null;
  goal: number | null;
  /** null: not measured in this run (or skipped), with `note` saying why */
  pass: boolean | null;
  goal_met?: boolean | null;
  note?: string;
}

const atMost = (v: number | null, limit: number) => (v === null ? null : v <= limit);
const atLeast = (v: number | null, limit: number) => (v === null ? null : v >= limit);

/** Every performance target of SPEC (and its second-round additions / issues 10–12) against a result. */
export function evaluateTargets(result: BenchResult): Target[] {
  const s = result.scenarios;
  const t: Target[] = [];
  const ratio = (name: string) => (s[name] && !s[name].error ? (s[name].ratio ?? null) : null);
  for (const name of ["config_200", "config_304"]) {
    const v = ratio(name);
    t.push({ id: `${name}_vs_floor`, source: "SPEC Performance; issue 11 goal", target: "req/s ≥ 0.8 × floor req/s (goal 0.95)", value: v, unit: "×", threshold: 0.8, goal: 0.95, pass: atLeast(v, 0.8), goal_met: atLeast(v, 0.95) });
  }
  const b100 = s.clicks_b100;
  const realistic = b100?.workload === "realistic";
  const v100 = ratio("clicks_b100");
  t.push({
    id: "clicks_b100_vs_floor",
    source: "SPEC Performance + Additions; issue 10 §7",
    target: "realistic workload: events/s ≥ 40 × floor req/s (goal 60)",
    value: v100,
    unit: "×",
    threshold: 40,
    goal: 60,
    pass: realistic ? atLeast(v100, 40) : null,
    goal_met: realistic ? atLeast(v100, 60) : null,
    note: b100 && !realistic ? "clicks_b100 did not run the realistic workload" : undefined,
  });
  const shape = b100?.realistic;
  t.push({
    id: "clicks_workload_realistic",
    source: "SPEC Additions (click bench default workload)",
    target: "b100 load: ≥ 1,000 cells, ≈ 10 % duplicates (5–15 %), event times over the last hour",
    value: shape ? shape.cells_in_run : null,
    unit: "cells",
    threshold: 1000,
    goal: null,
    pass: shape ? shape.cells_in_run >= 1000 && shape.dup_share >= 0.05 && shape.dup_share <= 0.15 && shape.event_time_span_min >= 50 : null,
    note: shape ? `${(shape.dup_share * 100).toFixed(1)} % re-sent, event times over ${shape.event_time_span_min} min, dedup state ${shape.dedup_keys_at_start === null ? "?" : fmt(shape.dedup_keys_at_start)} keys at start` : undefined,
  });
  const d100 = b100?.drain;
  t.push({ id: "clicks_b100_drained", source: "SPEC Performance", target: "metrics show every acked click after the load stops (value: s)", value: d100?.ms != null ? d100.ms / 1000 : null, unit: "s", threshold: null, goal: null, pass: d100 ? d100.drained && d100.overcount === 0 : null });
  const checks = Object.entries(s).filter(([, x]) => x.cells_check);
  const bad = checks.filter(([, x]) => x.cells_check?.pass === false).map(([n]) => n);
  const inexact = checks.filter(([, x]) => x.cells_check && !x.cells_check.exact).map(([n]) => n);
  t.push({
    id: "clicks_cells_exact",
    source: "SPEC (exactly once); issue 10",
    target: "every (minute, campaign, ad, region) cell = the bench's ground truth, every realistic load",
    value: checks.length ? checks.reduce((a, [, x]) => a + (x.cells_check?.cells_expected ?? 0), 0) : null,
    unit: "cells",
    threshold: null,
    goal: null,
    pass: checks.length ? bad.length === 0 : null,
    note: [bad.length ? `mismatch in ${bad.join(", ")}` : "", inexact.length ? `only "never above what was sent" checked for ${inexact.join(", ")} (unanswered requests)` : ""].filter(Boolean).join("; ") || undefined,
  });
  const tr = result.trials;
  const p99 = (x: { p99: number | null } | undefined) => x?.p99 ?? null;
  const prop = p99(tr.config?.propagation_all_regions_ms);
  const rb = p99(tr.config?.rollback_all_regions_ms);
  const pollErrors = Object.values(tr.config?.poll_errors_by_status ?? {}).reduce((a, b) => a + b, 0);
  const cfgOk = !!tr.config && tr.config.failures.length === 0 && pollErrors === 0;
  t.push({ id: "publish_to_edge_p99_ms", source: "SPEC Performance; issue 11 §1 goal", target: "new reader, every region: ≤ 1000 ms, no failed reads (goal 250)", value: prop, unit: "ms", threshold: 1000, goal: 250, pass: prop === null ? null : prop <= 1000 && cfgOk, goal_met: atMost(prop, 250) });
  t.push({ id: "rollback_p99_ms", source: "SPEC Performance; issue 11 §1 goal", target: "new reader, every region: ≤ 1000 ms (goal 250)", value: rb, unit: "ms", threshold: 1000, goal: 250, pass: rb === null ? null : rb <= 1000 && cfgOk, goal_met: atMost(rb, 250) });
  const push = tr.push;
  const pp = p99(push?.change_to_client_ms);
  t.push({
    id: "push_change_to_client_p99_ms",
    source: "issue 12 §2",
    target: "release change → refetchEvaluation on every SSE client ≤ 1000 ms",
    value: pp,
    unit: "ms",
    threshold: 1000,
    goal: null,
    pass: pp === null ? null : pp <= 1000 && push?.missed === 0,
    note: push?.skipped ? `skipped: ${push.skipped}` : tr.push_error ? `error: ${tr.push_error}` : push?.missed ? `${push.missed} client-changes got no event` : undefined,
  });
  const flush = Number(result.server.vars.FLUSH_INTERVAL_MS);
  const ack = p99(tr.ack?.ack_to_metrics_ms);
  t.push({ id: "ack_to_metrics_p99_ms", source: "SPEC Performance", target: `≤ FLUSH_INTERVAL_MS + 1000 = ${flush + 1000} ms`, value: ack, unit: "ms", threshold: flush + 1000, goal: null, pass: ack === null ? null : ack <= flush + 1000 && (tr.ack?.failures.length ?? 0) === 0 });
  const hz = result.horizon;
  t.push({ id: "shard_dedup_state_bounded", source: "SPEC Performance", target: "shard dedup rows expire after the horizon (value: rows left)", value: hz && "dedup_rows_after" in hz ? hz.dedup_rows_after : null, unit: "rows", threshold: null, goal: null, pass: hz && "bounded" in hz ? hz.bounded : null, note: hz && "skipped" in hz ? `skipped: ${hz.skipped}` : undefined });
  return t;
}

/** Columns in `left` are left-aligned, the others right-aligned. */
function pad(cells: string[], widths: number[], left: number[]): string {
  return cells.map((c, i) => (left.includes(i) ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ").trimEnd();
}

function table(rows: string[][], left: number[] = [0]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return [pad(rows[0], widths, left), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map((r) => pad(r, widths, left))];
}

const drainCell = (s: ScenarioEntry): string => (s.drain ? (s.drain.drained ? fmt((s.drain.ms ?? 0) / 1000, 2) : `NOT (${s.drain.seen}/${s.drain.expected})`) : "");
const cellsCell = (s: ScenarioEntry): string => (s.cells_check ? `${s.cells_check.pass ? "ok" : "BAD"}${s.cells_check.exact ? "" : "~"} ${fmt(s.cells_check.cells_expected)}` : "");

/** The human report: loads, latencies, then every target with PASS/MISS. */
export function renderTable(result: BenchResult): string {
  const lines: string[] = [];
  const head = ["scenario", "req/s", "events/s", "p50 ms", "p99 ms", "non-2xx", "×floor", "×median floor", "×floor cpu", "srv cpu ms/req", "drain s", "cells"];
  const rows: string[][] = [head];
  for (const [name, s] of Object.entries(result.scenarios)) {
    if (s.error) {
      rows.push([name, "ERROR", ...head.slice(2).map(() => "")]);
      continue;
    }
    const floor = name === "floor";
    rows.push([
      name,
      fmt(s.requests_per_sec),
      s.events_per_request ? fmt(s.events_per_sec) : "",
      fmt(s.latency_ms?.p50, 1),
      fmt(s.latency_ms?.p99, 1),
      fmt(s.not_ok_requests),
      floor ? "1.00" : fmt(s.ratio, 2),
      floor ? "1.00" : fmt(s.ratio_median_floor, 2),
      floor ? "1.00" : fmt(s.cpu_ratio, 2),
      fmt(s.server_cpu_ms_per_request, 2),
      drainCell(s),
      cellsCell(s),
    ]);
  }
  lines.push(...table(rows));
  const realistic = Object.entries(result.scenarios).filter(([, s]) => s.realistic);
  if (realistic.length) {
    lines.push("", "realistic click loads (the measured run of each):");
    for (const [n, s] of realistic) {
      const r = s.realistic!;
      lines.push(
        `  ${n}: ${fmt(r.cells_in_run)} cells, ${fmt(r.fresh)} fresh + ${fmt(r.resent)} re-sent (${(r.dup_share * 100).toFixed(1)} %: ${fmt(r.resent_in_batch)} in-batch, ${fmt(r.resent_recent)} recent, ${fmt(r.resent_old)} from earlier runs); ` +
          `server reported ${fmt(r.duplicates_reported)} duplicates; event times over ${r.event_time_span_min} min${r.exact ? "" : "; NOT exact (unanswered or non-200 requests)"}`,
      );
    }
    if (result.preload) {
      const p = result.preload;
      lines.push(`  dedup state before the loads: ${p.error ? `ERROR ${p.error}` : `${fmt(p.keys)} keys preloaded in ${fmt(p.seconds, 1)} s (${fmt(p.events_per_sec)} events/s); shards hold ${p.dedup_rows === null ? "?" : fmt(p.dedup_rows)} dedup keys ${p.dedup_tables ? JSON.stringify(p.dedup_tables) : ""}`}`);
    }
  }
  const errs = Object.entries(result.scenarios).filter(([, s]) => s.error || Object.keys(s.error_codes ?? {}).length || (s.cells_check && !s.cells_check.pass));
  if (errs.length) {
    lines.push("", "errors:");
    for (const [n, s] of errs) lines.push(`  ${n}: ${s.error ?? ""}${Object.keys(s.error_codes ?? {}).length ? JSON.stringify(s.error_codes) : ""}${s.cells_check && !s.cells_check.pass ? ` cells: ${JSON.stringify(s.cells_check)}` : ""}`);
  }
  const tr = result.trials;
  const pl = (x: { n: number; p50: number | null; p90: number | null; p99: number | null; max: number | null } | undefined) => (x ? `p50 ${fmt(x.p50)} / p90 ${fmt(x.p90)} / p99 ${fmt(x.p99)} / max ${fmt(x.max)} ms (n=${x.n})` : "–");
  lines.push("");
  if (tr.config) {
    lines.push(`publish → visible to a new reader, all regions:  ${pl(tr.config.propagation_all_regions_ms)}`);
    lines.push(`publish → visible to a new reader, first region: ${pl(tr.config.propagation_first_region_ms)}`);
    lines.push(`emergency rollback → every region (new reader):  ${pl(tr.config.rollback_all_regions_ms)}`);
    if (Object.keys(tr.config.poll_errors_by_status ?? {}).length) lines.push(`  edge reads that failed while polling: ${JSON.stringify(tr.config.poll_errors_by_status)}`);
  } else if (tr.config_error) lines.push(`config trials: ERROR ${tr.config_error}`);
  if (tr.push?.skipped) lines.push(`change → OFREP stream client: skipped (${tr.push.skipped})`);
  else if (tr.push) {
    lines.push(`change → OFREP stream client (${tr.push.clients} clients, ${tr.push.changes} changes): ${pl(tr.push.change_to_client_ms)}`);
    lines.push(`change → every stream client:                    ${pl(tr.push.change_to_all_clients_ms)}${tr.push.missed ? `; ${tr.push.missed} missed` : ""}`);
  } else if (tr.push_error) lines.push(`push trials: ERROR ${tr.push_error}`);
  if (tr.ack) lines.push(`ack → visible in metrics:                        ${pl(tr.ack.ack_to_metrics_ms)}`);
  else if (tr.ack_error) lines.push(`ack → metrics trials: ERROR ${tr.ack_error}`);
  const hz = result.horizon;
  if (hz && "error" in hz) lines.push(`shard storage after the dedup horizon: ERROR ${hz.error}`);
  else if (hz && "skipped" in hz) lines.push(`shard storage after the dedup horizon: skipped (${hz.skipped})`);
  else if (hz) lines.push(`shard storage: ${hz.summary}`);
  const m = result.machine;
  lines.push("", `machine: ${m.cores} cores, load average ${m.loadavg_at_start?.[0]} at start, ${m.loadavg_at_end?.[0] ?? "?"} at end; floor segments ${result.scenarios.floor?.segments_rps?.join(", ") ?? "–"} req/s; local trace store ${result.server?.local_observability ? "on" : "off"}${result.server?.state_dir ? `; state in ${result.server.state_dir} (${result.server.state_on_ram ? "RAM" : "disk"})` : ""}`);
  lines.push("(ratios are noisy on a shared machine: compare ×floor, ×median floor and ×floor cpu, and repeat on a quiet one — docs/bench.md)");
  lines.push("", "SPEC targets:");
  const trows = [["", "target", "value", "limit", "goal", "what"]];
  for (const x of result.targets) {
    const mark = x.pass === null ? "n/a" : x.pass ? "PASS" : "MISS";
    const goal = x.goal === null ? "" : `${fmt(x.goal, x.unit === "×" ? 2 : 0)}${x.goal_met === true ? " ✓" : x.goal_met === false ? " ✗" : ""}`;
    trows.push([mark, x.id, x.value === null ? "–" : `${fmt(x.value, x.unit === "×" || x.unit === "s" ? 2 : 0)} ${x.unit}`, x.threshold === null ? "" : fmt(x.threshold, x.unit === "×" ? 2 : 0), goal, x.target + (x.note ? ` [${x.note}]` : "")]);
  }
  lines.push(...table(trows, [0, 1, 5]).map((l) => `  ${l}`));
  const info = Object.entries(result.scenarios).filter(([n, s]) => n !== "clicks_b100" && s.kind === "clicks" && !s.error);
  if (info.length) lines.push("", `other click loads (no SPEC target): ${info.map(([n, s]) => `${n} ${fmt(s.ratio, 2)}×`).join(", ")}`);
  const missed = result.targets.filter((x) => x.pass === false).length;
  const na = result.targets.filter((x) => x.pass === null).length;
  lines.push("", `verdict: ${result.targets.length - missed - na} PASS, ${missed} MISS, ${na} not measured${result.failed ? "; a measurement FAILED (see errors above)" : ""}`);
  return lines.join("\n");
}

export function writeJson(path: string, result: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(result, null, 2) + "\n");
}
