import { ApiError } from "../../lib/errors";
import { toReportBatch, type ReportBatch, type ReportInput } from "../../lib/config/types";
import { withTimeout } from "../../lib/timeout";
import { coordinator } from "./config-coordinator";

/**
 * Health reports, aggregated per isolate and (namespace, region) before they reach the namespace's
 * single coordinator (docs/production.md §7, "Health reports at scale"). Per key, calls to the
 * coordinator are at least FLUSH_INTERVAL_MS apart: the first report batch after a quiet second goes
 * at once (so a lone client's report counts immediately); later ones within the second are folded
 * into one batch that the request which opened it flushes after the interval (waitUntil).
 * The coordinator counts exactly what it would have counted report by report.
 */
export const FLUSH_INTERVAL_MS = 1000;
const COORDINATOR_TIMEOUT_MS = 5000;
/** Clients named per flush (the "clients seen" figures); counts are never capped. */
const MAX_CLIENTS_PER_FLUSH = 5000;
const MAX_KEYS = 10_000;
const FLUSH_ATTEMPTS = 3;

interface Pending {
  counts: Map<number, { ok: number; error: number }>;
  clients: Map<string, number>;
}

interface KeyState {
  ns: string;
  region: string;
  /** When this isolate last sent this key's reports to the coordinator. */
  lastSentAt: number;
  pending: Pending | null;
}

const keys = new Map<string, KeyState>();
/** The newest version each namespace's coordinator has confirmed to exist (for `ignored`). */
const latestVersion = new Map<string, number>();

export function clearReportBuffers(): void {
  keys.clear();
  latestVersion.clear();
}

function stateFor(ns: string, region: string): KeyState {
  const k = `${ns}\u0000${region}`;
  let s = keys.get(k);
  if (!s) {
    if (keys.size >= MAX_KEYS) {
      // Evict the oldest key without pending reports (keys with pending reports flush on their own).
      for (const [old, st] of keys) {
        if (!st.pending) {
          keys.delete(old);
          break;
        }
      }
    }
    s = { ns, region, lastSentAt: 0, pending: null };
    keys.set(k, s);
  }
  return s;
}

function merge(into: Pending, batch: ReportBatch): void {
  for (const g of batch.counts) {
    const c = into.counts.get(g.version) ?? { ok: 0, error: 0 };
    c.ok += g.ok;
    c.error += g.error;
    into.counts.set(g.version, c);
  }
  for (const c of batch.clients) {
    if (into.clients.size < MAX_CLIENTS_PER_FLUSH || into.clients.has(c.client_id)) into.clients.set(c.client_id, c.version);
  }
}

function toBatch(p: Pending): ReportBatch {
  return {
    counts: [...p.counts].map(([version, c]) => ({ version, ok: c.ok, error: c.error })),
    clients: [...p.clients].map(([client_id, version]) => ({ client_id, version })),
  };
}

async function send(env: Env, s: KeyState, batch: ReportBatch): Promise<{ accepted: number; ignored: number }> {
  s.lastSentAt = Date.now();
  const r = await withTimeout(coordinator(env, s.ns).report(s.ns, s.region, batch), COORDINATOR_TIMEOUT_MS, "RolloutCoordinator.report");
  latestVersion.set(s.ns, Math.max(latestVersion.get(s.ns) ?? 0, r.latest_version));
  return r;
}

/** Sends the key's pending batch once the interval since the last call is over; retries a failed one. */
async function flushLater(env: Env, s: KeyState): Promise<void> {
  for (let attempt = 0; attempt < FLUSH_ATTEMPTS; attempt++) {
    const wait = s.lastSentAt + FLUSH_INTERVAL_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const p = s.pending;
    if (!p) return;
    s.pending = null;
    const batch = toBatch(p);
    try {
      await send(env, s, batch);
      return;
    } catch (e) {
      console.error("health report flush failed; retrying", s.ns, String((e as Error)?.message ?? e));
      // Put the reports back (newer ones that arrived meanwhile are merged with them) and retry.
      if (s.pending) merge(s.pending, batch);
      else s.pending = p;
    }
  }
  console.error("health report flush gave up; reports dropped", s.ns, s.region);
  s.pending = null;
}

/**
 * Counts `reports` for (ns, region): sent now when the key is quiet or a report names a version this
 * isolate has not seen confirmed (so `ignored` stays exact), else folded into the pending batch.
 */
export async function submitReports(
  env: Env,
  waitUntil: (p: Promise<unknown>) => void,
  ns: string,
  region: string,
  reports: readonly ReportInput[],
): Promise<{ accepted: number; ignored: number }> {
  const s = stateFor(ns, region);
  const batch = toReportBatch(reports);
  const known = latestVersion.get(ns) ?? 0;
  const now = Date.now();
  if (now - s.lastSentAt < FLUSH_INTERVAL_MS && reports.every((r) => r.version <= known)) {
    if (s.pending) {
      merge(s.pending, batch);
    } else {
      s.pending = { counts: new Map(), clients: new Map() };
      merge(s.pending, batch);
      waitUntil(flushLater(env, s));
    }
    return { accepted: reports.length, ignored: 0 };
  }
  try {
    const r = await send(env, s, batch);
    return { accepted: r.accepted, ignored: r.ignored };
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(503, "reports_unavailable", "Health reports cannot be counted right now; retry shortly", {
      cause: String((e as Error)?.message ?? e).slice(0, 200),
    });
  }
}
