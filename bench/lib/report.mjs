// SPEC targets, the printed table and the JSON file.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));

/** SPEC "Performance" targets evaluated against a result; a missing measurement is "n/a", not a pass. */
export function evaluateTargets(result) {
  const s = result.scenarios;
  const t = [];
  const ratio = (name) => s[name]?.ratio ?? null;
  for (const name of ["config_200", "config_304"]) {
    t.push({ id: `${name}_vs_floor`, target: "req/s ≥ 0.8 × floor req/s", value: ratio(name), threshold: 0.8, pass: ratio(name) === null ? null : ratio(name) >= 0.8 });
  }
  const b100 = ratio("clicks_b100");
  t.push({ id: "clicks_b100_vs_floor", target: "events/s ≥ 40 × floor req/s", value: b100, threshold: 40, pass: b100 === null ? null : b100 >= 40 });
  const d100 = s.clicks_b100?.drain;
  t.push({ id: "clicks_b100_drained", target: "metrics show every acked click after the load stops", value: d100 ? d100.ms : null, threshold: null, pass: d100 ? d100.drained && d100.overcount === 0 : null });
  const tr = result.trials ?? {};
  const p99 = (x) => x?.p99 ?? null;
  const prop = p99(tr.config?.propagation_all_regions_ms);
  const rb = p99(tr.config?.rollback_all_regions_ms);
  const pollErrors = Object.values(tr.config?.poll_errors_by_status ?? {}).reduce((a, b) => a + b, 0);
  t.push({ id: "publish_to_edge_p99_ms", target: "≤ 1000 ms (all regions), no failed reads", value: prop, threshold: 1000, pass: prop === null ? null : prop <= 1000 && tr.config.failures.length === 0 && pollErrors === 0 });
  t.push({ id: "rollback_p99_ms", target: "≤ 1000 ms (every region)", value: rb, threshold: 1000, pass: rb === null ? null : rb <= 1000 && tr.config.failures.length === 0 });
  const flush = Number(result.server.vars.FLUSH_INTERVAL_MS);
  const ack = p99(tr.ack?.ack_to_metrics_ms);
  t.push({ id: "ack_to_metrics_p99_ms", target: `≤ FLUSH_INTERVAL_MS + 1000 = ${flush + 1000} ms`, value: ack, threshold: flush + 1000, pass: ack === null ? null : ack <= flush + 1000 && tr.ack.failures.length === 0 });
  const hz = result.horizon;
  t.push({ id: "shard_dedup_state_bounded", target: "shard dedup rows expire after the horizon", value: hz?.dedup_rows_after ?? null, threshold: null, pass: hz?.bounded ?? null });
  return t;
}

function pad(cells, widths) {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join("  ");
}

/** The human table. */
export function renderTable(result) {
  const lines = [];
  const head = ["scenario", "req/s", "events/s", "p50 ms", "p99 ms", "non-2xx", "×floor", "×median floor", "×floor cpu", "srv cpu ms/req", "drain s"];
  const rows = [head];
  for (const [name, s] of Object.entries(result.scenarios)) {
    if (s.error) {
      rows.push([name, "ERROR", "", "", "", "", "", "", "", "", ""]);
      continue;
    }
    rows.push([
      name,
      fmt(s.requests_per_sec),
      s.events_per_request ? fmt(s.events_per_sec) : "",
      fmt(s.latency_ms.p50, 1),
      fmt(s.latency_ms.p99, 1),
      fmt(s.not_ok_requests),
      name === "floor" ? "1.00" : fmt(s.ratio, 2),
      name === "floor" ? "1.00" : fmt(s.ratio_median_floor, 2),
      name === "floor" ? "1.00" : fmt(s.cpu_ratio, 2),
      fmt(s.server_cpu_ms_per_request, 2),
      s.drain ? (s.drain.drained ? fmt(s.drain.ms / 1000, 2) : `NOT (${s.drain.seen}/${s.drain.expected})`) : "",
    ]);
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  lines.push(pad(rows[0], widths), widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows.slice(1)) lines.push(pad(r, widths));
  const errs = Object.entries(result.scenarios).filter(([, s]) => s.error || Object.keys(s.error_codes ?? {}).length);
  if (errs.length) {
    lines.push("", "errors:");
    for (const [n, s] of errs) lines.push(`  ${n}: ${s.error ?? JSON.stringify(s.error_codes)}`);
  }
  const tr = result.trials ?? {};
  const pl = (x) => (x ? `p50 ${fmt(x.p50)} / p90 ${fmt(x.p90)} / p99 ${fmt(x.p99)} / max ${fmt(x.max)} ms (n=${x.n})` : "–");
  lines.push("");
  if (tr.config) {
    lines.push(`publish → visible at the edge, all regions: ${pl(tr.config.propagation_all_regions_ms)}`);
    lines.push(`publish → visible at the edge, first region: ${pl(tr.config.propagation_first_region_ms)}`);
    lines.push(`emergency rollback → every region:          ${pl(tr.config.rollback_all_regions_ms)}`);
    if (Object.keys(tr.config.poll_errors_by_status ?? {}).length) lines.push(`  edge reads that failed while polling: ${JSON.stringify(tr.config.poll_errors_by_status)}`);
  } else if (tr.config_error) lines.push(`config trials: ERROR ${tr.config_error}`);
  if (tr.ack) lines.push(`ack → visible in metrics:                   ${pl(tr.ack.ack_to_metrics_ms)}`);
  else if (tr.ack_error) lines.push(`ack → metrics trials: ERROR ${tr.ack_error}`);
  const hz = result.horizon;
  if (hz?.error) lines.push(`shard storage after the dedup horizon: ERROR ${hz.error}`);
  else if (hz?.skipped) lines.push(`shard storage after the dedup horizon: skipped (${hz.skipped})`);
  else if (hz) lines.push(`shard storage: ${hz.summary}`);
  const m = result.machine;
  lines.push("", `machine: ${m.cores} cores, load average ${m.loadavg_at_start?.[0]} at start, ${m.loadavg_at_end?.[0] ?? "?"} at end; floor segments ${result.scenarios.floor?.segments_rps?.join(", ") ?? "–"} req/s; local trace store ${result.server?.local_observability ? "on" : "off"}`);
  lines.push("", "SPEC targets (×floor = throughput ratio, as SPEC measures it):");
  for (const t of result.targets) {
    const mark = t.pass === null ? "n/a " : t.pass ? "PASS" : "MISS";
    lines.push(`  ${mark}  ${t.id.padEnd(28)} ${t.target.padEnd(52)} value: ${t.value === null ? "–" : fmt(t.value, 2)}`);
  }
  return lines.join("\n");
}

export function writeJson(path, result) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(result, null, 2) + "\n");
}
