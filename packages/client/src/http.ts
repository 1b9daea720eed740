import { ConnectionError, EdgeplaneError } from "./errors.ts";

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined | null;
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  headers?: Record<string, string>;
  /** Statuses besides 2xx that are answers, not errors (e.g. 304, 422 from validate). */
  allowStatus?: number[];
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface TransportOptions {
  /** Origin of the edgeplane Worker, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** Bearer token; never logged or echoed. */
  token?: string | null;
  timeoutMs?: number;
  userAgent?: string;
  fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** JSON over HTTP with edgeplane's error envelope turned into EdgeplaneError. */
export class Transport {
  readonly url: string;
  readonly timeoutMs: number;
  readonly #token: string | null;
  readonly #userAgent: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(opts: TransportOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.#token = opts.token ?? null;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#userAgent = opts.userAgent;
    this.#fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  get hasToken(): boolean {
    return this.#token !== null && this.#token !== "";
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<HttpResult<T>> {
    const target = new URL(this.url + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v === undefined || v === null || v === "") continue;
      if (Array.isArray(v)) for (const item of v) target.searchParams.append(k, String(item));
      else target.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: "application/json", ...(opts.headers ?? {}) };
    if (this.#userAgent) headers["user-agent"] = this.#userAgent;
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }
    let res: Response;
    try {
      res = await this.#fetch(target, { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new ConnectionError(this.url, describeFetchFailure(e, this.timeoutMs));
    }
    const text = await res.text().catch(() => "");
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (res.ok || (opts.allowStatus ?? []).includes(res.status)) return { status: res.status, body: parsed as T, headers: res.headers };
    const request = { method, path };
    const err = parsed && typeof parsed === "object" ? (parsed as { error?: unknown }).error : null;
    if (err && typeof err === "object") {
      const e = err as { code?: unknown; message?: unknown; details?: unknown };
      throw new EdgeplaneError(res.status, String(e.code ?? "error"), String(e.message ?? res.statusText), e.details ?? null, request);
    }
    // Not our JSON error envelope (a proxy's HTML page, say): still an API error, with the status.
    const snippet = typeof parsed === "string" ? parsed.slice(0, 200) : "";
    throw new EdgeplaneError(res.status, "http_error", `${method} ${path} failed: ${res.status} ${res.statusText}${snippet ? ` — ${snippet}` : ""}`, null, request);
  }

  async get<T>(path: string, query?: Query): Promise<T> {
    return (await this.request<T>("GET", path, { query })).body;
  }

  async send<T>(method: "POST" | "PUT" | "DELETE", path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return (await this.request<T>(method, path, { body, headers })).body;
  }
}

function describeFetchFailure(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string; errors?: { code?: string }[] } } | null;
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return `no answer within ${timeoutMs / 1000}s`;
  const cause = err?.cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused (is the server running? start it with `npm start`)";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connection timed out";
    default:
      return code ? String(code) : String(cause?.message ?? err?.message ?? e);
  }
}

/** Percent-encodes one path segment. */
export const seg = (s: string | number): string => encodeURIComponent(String(s));
