// A small JSON-over-HTTP client for setup and latency trials (the load itself comes from wrk).

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
  ms: number;
}

export interface ApiOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends one request; never throws on an HTTP status. */
export async function api<T = any>(base: string, method: string, path: string, { token, body, headers = {} }: ApiOptions = {}): Promise<ApiResponse<T>> {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    payload = typeof body === "string" ? body : JSON.stringify(body);
    h["content-type"] ??= "application/json";
  }
  const t0 = performance.now();
  const res = await fetch(base + path, { method, headers: h, body: payload, redirect: "manual" });
  const text = await res.text();
  const ms = performance.now() - t0;
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T, headers: res.headers, ms };
}

/** Like api() but throws unless the status is one of `expect`. */
export async function must<T = any>(base: string, method: string, path: string, opts: ApiOptions = {}, expect: number[] = [200, 201, 202]): Promise<ApiResponse<T>> {
  const r = await api<T>(base, method, path, opts);
  if (!expect.includes(r.status)) {
    const detail = typeof r.body === "string" ? r.body.slice(0, 300) : JSON.stringify(r.body)?.slice(0, 600);
    throw new Error(`${method} ${path} → ${r.status} (expected ${expect.join("|")}): ${detail}`);
  }
  return r;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Percentiles {
  n: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** Percentiles of a list of numbers (nearest-rank), rounded to 0.1. */
export function percentiles(values: number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => (s.length ? Math.round(s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] * 10) / 10 : null);
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s.length ? Math.round(s[s.length - 1] * 10) / 10 : null };
}

export const round = (x: number | null | undefined, d = 1): number | null => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);

export const errorMessage = (e: unknown): string => String((e as Error)?.message ?? e);
