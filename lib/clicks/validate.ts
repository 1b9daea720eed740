import type { NormalizedClick } from "./types";

export type RejectionCode = "invalid" | "too_late" | "future";

export interface Rejection {
  index: number;
  code: RejectionCode;
  message: string;
}

export interface ValidationContext {
  /** Arrival time, epoch ms. */
  now: number;
  latenessMs: number;
  skewMs: number;
  /** The request's region (already resolved; "unknown" when the edge does not know it). */
  region: string;
  /** True for server-to-server callers (publisher/admin token): a region in the event is honoured. */
  trustEventRegion: boolean;
}

export const UNKNOWN_REGION = "unknown";
export const MAX_EVENTS_PER_REQUEST = 1000;
export const MAX_BODY_BYTES = 1024 * 1024;

const CLICK_ID_RE = /^[A-Za-z0-9_\-:.]{8,128}$/;
const REGION_RE = /^[a-z][a-z0-9-]{0,31}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
/** RFC 3339 date-time (the space separator RFC 3339 §5.6 allows is accepted too). */
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
/** The range of a JavaScript Date. */
const MAX_ABS_TS = 8.64e15;

/** Parses an RFC 3339 timestamp to epoch ms (fraction truncated to ms); null when it is not one. */
export function parseRfc3339(s: string): number | null {
  const m = RFC3339_RE.exec(s);
  if (!m) return null;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  let second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return null;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (day > daysInMonth) return null;
  if (second === 60) second = 59; // a leap second counts into the minute it ends
  const ms = m[7] ? Math.floor(Number("0" + m[7]) * 1000) : 0;
  let offsetMin = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offsetMin = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  return d.getTime() - offsetMin * 60_000;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function invalid(index: number, message: string): Rejection {
  return { index, code: "invalid", message };
}

function dimension(v: unknown, name: string): string | { error: string } {
  if (typeof v !== "string") return { error: `${name} must be a string` };
  if (v.length === 0) return { error: `${name} must not be empty` };
  if (v.length > 64) return { error: `${name} must be at most 64 characters` };
  if (CONTROL_RE.test(v)) return { error: `${name} must not contain control characters` };
  return v;
}

/**
 * Validates one event: a NormalizedClick, or a rejection (`invalid` for a malformed field, `too_late`
 * / `future` for an event time outside [now − lateness, now + skew]). Extra fields are ignored.
 */
export function validateEvent(raw: unknown, index: number, ctx: ValidationContext): NormalizedClick | Rejection {
  if (!isRecord(raw)) return invalid(index, "event must be a JSON object");

  const id = raw.click_id;
  if (typeof id !== "string") return invalid(index, "click_id must be a string");
  if (!CLICK_ID_RE.test(id)) return invalid(index, "click_id must be 8-128 characters of [A-Za-z0-9_-:.]");
  const campaign = dimension(raw.campaign_id, "campaign_id");
  if (typeof campaign !== "string") return invalid(index, campaign.error);
  const ad = dimension(raw.ad_id, "ad_id");
  if (typeof ad !== "string") return invalid(index, ad.error);

  let ts: number;
  const t = raw.ts;
  if (typeof t === "number") {
    if (!Number.isFinite(t) || Math.abs(t) > MAX_ABS_TS) return invalid(index, "ts must be epoch milliseconds or an RFC 3339 string");
    ts = Math.floor(t);
  } else if (typeof t === "string") {
    const parsed = parseRfc3339(t);
    if (parsed === null) return invalid(index, "ts must be epoch milliseconds or an RFC 3339 string (e.g. 2026-01-31T12:00:00Z)");
    ts = parsed;
  } else {
    return invalid(index, t === undefined ? "ts is required" : "ts must be epoch milliseconds or an RFC 3339 string");
  }

  let region = ctx.region;
  if (ctx.trustEventRegion && raw.region !== undefined && raw.region !== null) {
    const r = raw.region;
    if (typeof r !== "string" || !REGION_RE.test(r.toLowerCase())) return invalid(index, "region must be a lowercase code like 'eu' (1-32 of [a-z0-9-])");
    region = r.toLowerCase();
  }

  if (ts < ctx.now - ctx.latenessMs) {
    return { index, code: "too_late", message: `ts is more than ${ctx.latenessMs / 1000} s in the past (allowed lateness)` };
  }
  if (ts > ctx.now + ctx.skewMs) {
    return { index, code: "future", message: `ts is more than ${ctx.skewMs / 1000} s in the future (max clock skew)` };
  }
  return { click_id: id, campaign_id: campaign, ad_id: ad, region, ts };
}

export function isRejection(v: NormalizedClick | Rejection): v is Rejection {
  return "code" in v;
}
