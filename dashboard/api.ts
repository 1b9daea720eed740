// Fetches JSON from the edgeplane API with the bearer token (header only — never in a URL).

export type FailureKind = "auth" | "forbidden" | "http" | "server" | "network";

export class ApiFailure extends Error {
  readonly kind: FailureKind;
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  /** kind: "auth" (401), "forbidden" (403), "server" (5xx), "http" (other status), "network" (no answer). */
  constructor(kind: FailureKind, status: number, code: string, message: string, details: unknown) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const TIMEOUT_MS = 10_000;

export type Params = Record<string, string | number | boolean | readonly (string | number)[] | null | undefined>;

export async function apiGet<T = unknown>(token: string, path: string, params: Params = {}): Promise<T> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    // Arrays become repeated parameters (?campaign_id=a&campaign_id=b).
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
  }
  const url = qs.size ? `${path}?${qs}` : path;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new ApiFailure("network", 0, "network_error", `Cannot reach the server (${(e as Error | null)?.name === "TimeoutError" ? "timed out" : "network error"})`, null);
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    if (res.ok) throw new ApiFailure("http", res.status, "bad_response", `Unreadable answer from ${path}`, null);
  }
  if (res.ok) return body as T;
  const err = ((body && typeof body === "object" && (body as { error?: unknown }).error) || {}) as { code?: unknown; message?: unknown; details?: unknown };
  const kind = res.status === 401 ? "auth" : res.status === 403 ? "forbidden" : res.status >= 500 || res.status === 0 ? "server" : "http";
  throw new ApiFailure(kind, res.status, String(err.code ?? `http_${res.status}`), String(err.message ?? `HTTP ${res.status}`), err.details ?? null);
}

/** Runs apiGet and returns {ok, value} | {ok: false, error} so one failing panel never hides the others. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: ApiFailure };

export async function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: error instanceof ApiFailure ? error : new ApiFailure("http", 0, "client_error", String((error as Error | null)?.message ?? error), null) };
  }
}
