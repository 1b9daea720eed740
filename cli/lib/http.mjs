import { ApiError, ConnectionError } from "./errors.mjs";

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * A small JSON client for the edgeplane HTTP API. Never logs or echoes the token.
 */
export class Client {
  /**
   * @param {{url: string, token: string | null, timeoutMs?: number, userAgent?: string}} opts
   */
  constructor(opts) {
    this.url = opts.url;
    /** @type {string | null} kept off enumerable fields so it never ends up in a JSON dump */
    Object.defineProperty(this, "token", { value: opts.token, enumerable: false });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.userAgent = opts.userAgent ?? "edgeplane-cli";
  }

  /**
   * @param {string} method
   * @param {string} path e.g. `/admin/v1/namespaces`
   * @param {{body?: unknown, query?: Record<string, string|number|boolean|undefined|null>, headers?: Record<string,string>, allowStatus?: number[]}} [opts]
   * @returns {Promise<{status: number, body: any, headers: Headers}>}
   */
  async request(method, path, opts = {}) {
    const target = new URL(this.url + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined && v !== null && v !== "") target.searchParams.set(k, String(v));
    }
    /** @type {Record<string,string>} */
    const headers = { accept: "application/json", "user-agent": this.userAgent, ...(opts.headers ?? {}) };
    // @ts-ignore non-enumerable field set in the constructor
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }
    let res;
    try {
      res = await fetch(target, { method, headers, body, redirect: "manual", signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new ConnectionError(this.url, describeFetchFailure(e, this.timeoutMs));
    }
    const text = await res.text().catch(() => "");
    let parsed = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (res.ok || (opts.allowStatus ?? []).includes(res.status)) return { status: res.status, body: parsed, headers: res.headers };
    const request = { method, path };
    const err = parsed && typeof parsed === "object" ? parsed.error : null;
    if (err && typeof err === "object") {
      throw new ApiError(res.status, String(err.code ?? "error"), String(err.message ?? res.statusText), err.details ?? null, request);
    }
    // Not our JSON error envelope (a proxy's HTML page, say): still an API error, with the status.
    const snippet = typeof parsed === "string" ? parsed.slice(0, 200) : "";
    throw new ApiError(res.status, "http_error", `${method} ${path} failed: ${res.status} ${res.statusText}${snippet ? ` — ${snippet}` : ""}`, null, request);
  }

  /** @param {string} path @param {Record<string, any>} [query] */
  get(path, query) {
    return this.request("GET", path, { query }).then((r) => r.body);
  }

  /**
   * GET for live views that poll: rides out a server restart or a network blip (connection errors
   * only, never API errors) for up to `patienceMs` before giving up.
   * @param {string} path @param {Record<string, any>} [query] @param {number} [patienceMs]
   */
  async poll(path, query, patienceMs = 15_000) {
    const deadline = Date.now() + patienceMs;
    for (;;) {
      try {
        return await this.get(path, query);
      } catch (e) {
        if (!(e instanceof ConnectionError) || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

/** @param {unknown} e @param {number} timeoutMs */
function describeFetchFailure(e, timeoutMs) {
  const err = /** @type {any} */ (e);
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

/** Percent-encodes one path segment. @param {string|number} s */
export const seg = (s) => encodeURIComponent(String(s));
