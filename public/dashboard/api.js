// Fetches JSON from the edgeplane API with the bearer token (header only — never in a URL).

export class ApiFailure extends Error {
  /** kind: "auth" (401), "forbidden" (403), "http" (other status), "network" (no answer). */
  constructor(kind, status, code, message, details) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const TIMEOUT_MS = 10_000;

export async function apiGet(token, path, params = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    // Arrays become repeated parameters (?campaign_id=a&campaign_id=b).
    for (const item of Array.isArray(v) ? v : [v]) qs.append(k, String(item));
  }
  const url = qs.size ? `${path}?${qs}` : path;
  let res;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    throw new ApiFailure("network", 0, "network_error", `Cannot reach the server (${e?.name === "TimeoutError" ? "timed out" : "network error"})`, null);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    if (res.ok) throw new ApiFailure("http", res.status, "bad_response", `Unreadable answer from ${path}`, null);
  }
  if (res.ok) return body;
  const err = body && typeof body === "object" && body.error ? body.error : {};
  const kind = res.status === 401 ? "auth" : res.status === 403 ? "forbidden" : res.status >= 500 || res.status === 0 ? "server" : "http";
  throw new ApiFailure(kind, res.status, String(err.code ?? `http_${res.status}`), String(err.message ?? `HTTP ${res.status}`), err.details ?? null);
}

/** Runs apiGet and returns {ok, value} | {ok: false, error} so one failing panel never hides the others. */
export async function settle(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: error instanceof ApiFailure ? error : new ApiFailure("http", 0, "client_error", String(error?.message ?? error), null) };
  }
}
