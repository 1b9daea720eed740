import { z } from "zod";
import { ApiError } from "../errors";
import { DAY_MS, GRANULARITIES, GRANULARITY_MS, HOUR_MS, alignRange, windowCount, type Granularity } from "./metrics-window";

/**
 * Query-string parsing for the metrics API (pure). Every problem becomes one 400 `invalid_query` whose
 * details name each offending parameter: `[{param, path, message}]`.
 */

/** The query string as Hono's `c.req.queries()` gives it: every value of every parameter. */
export type QueryParams = Record<string, string[]>;

export interface QueryIssue {
  param: string;
  path: string;
  message: string;
}

export const DIMENSIONS = ["campaign", "ad", "region"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** Most windows one query may span (7 days of minutes, ~13 months of hours, ~27 years of days). */
export const MAX_WINDOWS = 10_080;
/** Most series rows one metrics answer may carry. */
export const MAX_SERIES_ROWS = 10_000;
/** Longest range `top` may sum over. */
export const MAX_TOP_RANGE_MS = 400 * DAY_MS;
/** Most values one filter parameter may list (D1 binds at most 100 parameters per statement). */
export const MAX_FILTER_VALUES = 20;
export const MAX_ID_LENGTH = 64;
export const TOP_LIMIT_DEFAULT = 10;
export const TOP_LIMIT_MAX = 100;

/** Range when `from` is omitted: `to` minus this. */
export const DEFAULT_SPAN_MS: Record<Granularity, number> = { minute: HOUR_MS, hour: DAY_MS, day: 7 * DAY_MS };

/** Instants up to the start of year 9999, so a range aligned outward still prints as RFC 3339. */
const MAX_ACCEPTED_MS = Date.UTC(9999, 0, 1);

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(?:([Zz])|([+\- ])(\d{2}):(\d{2}))$/;

/**
 * Epoch milliseconds from an RFC 3339 timestamp or a non-negative integer of epoch ms; null when the
 * text is neither or names an impossible date (Feb 30, hour 24). A space where the offset sign
 * belongs is read as `+`, because an unencoded `+` in a query string arrives as a space.
 */
export function parseInstant(text: string): number | null {
  if (/^\d{1,16}$/.test(text)) {
    const ms = Number(text);
    return ms <= MAX_ACCEPTED_MS ? ms : null;
  }
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return null;
  const millis = m[7] ? Math.floor(Number("0" + m[7]) * 1000) : 0;
  // Years before 1970 come out negative (Date.UTC even maps 0-99 to 19xx) and are refused below.
  let ms = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (!m[8]) {
    const offHours = Number(m[10]);
    const offMinutes = Number(m[11]);
    if (offHours > 23 || offMinutes > 59) return null;
    const sign = m[9] === "-" ? -1 : 1;
    ms -= sign * (offHours * 60 + offMinutes) * 60_000;
  }
  return ms >= 0 && ms <= MAX_ACCEPTED_MS ? ms : null;
}

export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}

// ---- zod building blocks: every parameter arrives as an array of strings ----

/** A parameter that may appear at most once, validated by `inner`. */
function once<T extends z.ZodType<unknown, string>>(inner: T) {
  return z
    .array(z.string())
    .max(1, "must be given at most once")
    .transform((values) => values[0])
    .pipe(inner);
}

const instant = z.string().transform((text, ctx) => {
  const ms = parseInstant(text);
  if (ms === null) {
    ctx.addIssue({ code: "custom", message: `'${clip(text)}' is not an RFC 3339 timestamp or epoch milliseconds` });
    return z.NEVER;
  }
  return ms;
});

const granularity = z.enum(GRANULARITIES, { error: `must be one of ${GRANULARITIES.join(", ")}` });

const DIMENSION_ALIASES: Record<string, Dimension> = {
  campaign: "campaign",
  campaign_id: "campaign",
  ad: "ad",
  ad_id: "ad",
  region: "region",
};

/** `campaign,ad,region` (any subset, any order, empty = totals) → dimensions in canonical order. */
const groupBy = z.string().transform((text, ctx) => {
  const names = text.split(",").map((s) => s.trim());
  if (text.trim() === "") return [] as Dimension[];
  const chosen = new Set<Dimension>();
  for (const name of names) {
    const dim = DIMENSION_ALIASES[name];
    if (!dim) {
      ctx.addIssue({ code: "custom", message: `unknown dimension '${clip(name)}'; allowed: ${DIMENSIONS.join(", ")}` });
      return z.NEVER;
    }
    chosen.add(dim);
  }
  return DIMENSIONS.filter((d) => chosen.has(d));
});

/** A filter: the parameter repeated once per accepted value (`?ad_id=a&ad_id=b`). */
function idFilter(lowercase = false) {
  return z
    .array(
      z
        .string()
        .min(1, "must not be empty")
        .max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`)
        .transform((s) => (lowercase ? s.toLowerCase() : s)),
    )
    .max(MAX_FILTER_VALUES, `at most ${MAX_FILTER_VALUES} values`)
    .transform((values) => [...new Set(values)]);
}

const topBy = z
  .string()
  .transform((s) => (s === "campaign_id" ? "campaign" : s === "ad_id" ? "ad" : s))
  .pipe(z.enum(["campaign", "ad"], { error: "must be campaign or ad" }));

const limit = z
  .string()
  .regex(/^\d{1,4}$/, `must be an integer from 1 to ${TOP_LIMIT_MAX}`)
  .transform(Number)
  .pipe(z.number().min(1, `must be at least 1`).max(TOP_LIMIT_MAX, `must be at most ${TOP_LIMIT_MAX}`));

const rangeFields = { from: once(instant).optional(), to: once(instant).optional() };
const filterFields = { campaign_id: idFilter().optional(), ad_id: idFilter().optional(), region: idFilter(true).optional() };

export const MetricsQuery = z.object({
  ...rangeFields,
  granularity: once(granularity).optional(),
  group_by: once(groupBy).optional(),
  ...filterFields,
});
export type MetricsQuery = z.infer<typeof MetricsQuery>;

export const TopQuery = z.object({ ...rangeFields, by: once(topBy).optional(), limit: once(limit).optional(), ...filterFields });
export type TopQuery = z.infer<typeof TopQuery>;

export const IngestStatsQuery = z.object({ ...rangeFields, granularity: once(granularity).optional() });
export type IngestStatsQuery = z.infer<typeof IngestStatsQuery>;

/** Validates a whole query string: unknown parameters and every bad value in one 400 `invalid_query`. */
export function parseQuery<S extends z.ZodObject>(schema: S, params: QueryParams): z.infer<S> {
  const issues: QueryIssue[] = [];
  const known = new Set(Object.keys(schema.shape));
  for (const key of Object.keys(params)) {
    if (!known.has(key)) issues.push(issue(key, `unknown query parameter; allowed: ${[...known].join(", ")}`));
  }
  const r = schema.safeParse(params);
  if (!r.success) {
    for (const i of r.error.issues) {
      const param = String(i.path[0] ?? "");
      issues.push({ param, path: "/" + i.path.map(String).join("/"), message: i.message });
    }
  }
  if (issues.length > 0) throw invalidQuery(issues);
  return (r as { data: z.infer<S> }).data;
}

export interface ResolvedRange {
  from: number;
  to: number;
}

/**
 * The range a query covers: defaults (`to` = now, `from` = `to` minus the granularity's default span),
 * `from` < `to` required, then aligned outward to whole windows and bounded to `maxWindows`.
 */
export function resolveRange(
  q: { from?: number; to?: number },
  granularity: Granularity,
  now: number,
  maxWindows = MAX_WINDOWS,
): ResolvedRange {
  const to = q.to ?? Math.min(now, MAX_ACCEPTED_MS);
  const from = q.from ?? Math.max(0, to - DEFAULT_SPAN_MS[granularity]);
  if (from >= to) {
    throw invalidQuery([issue(q.from === undefined ? "to" : "from", `from (${toRfc3339(from)}) must be before to (${toRfc3339(to)}); to is exclusive`)]);
  }
  const aligned = alignRange(from, to, granularity);
  const windows = windowCount(aligned.from, aligned.to, granularity);
  if (windows > maxWindows) {
    throw new ApiError(400, "range_too_large", `The range spans ${windows} ${granularity} windows; at most ${maxWindows} are allowed`, {
      param: "from",
      granularity,
      windows,
      max_windows: maxWindows,
      max_range_ms: maxWindows * GRANULARITY_MS[granularity],
    });
  }
  return aligned;
}

export function invalidQuery(issues: QueryIssue[]): ApiError {
  return new ApiError(400, "invalid_query", "Invalid query parameters", issues);
}

function issue(param: string, message: string): QueryIssue {
  return { param, path: "/" + param, message };
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + "…" : s;
}
