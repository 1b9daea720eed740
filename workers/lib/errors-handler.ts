import type { Context, Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { ApiError, errorBody, asApiError } from "../../lib/errors";
import type { AppEnv } from "./context";

/** The one place where failures become `{"error": {code, message, details}}` responses. */
export function renderError(err: unknown, c: Context<AppEnv>): Response {
  const api = asApiError(err);
  if (api) {
    const headers: Record<string, string> = {};
    if (api.status === 401) headers["WWW-Authenticate"] = 'Bearer realm="edgeplane"';
    if ((api.status === 429 || api.status === 503) && api.details && typeof api.details === "object" && "retry_after_seconds" in api.details) {
      headers["Retry-After"] = String((api.details as { retry_after_seconds: number }).retry_after_seconds);
    }
    return c.json(errorBody(api.code, api.message, api.details), api.status as 400, headers);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? "payload_too_large" : status === 401 ? "unauthorized" : "http_error";
    return c.json(errorBody(code, err.message || "Request failed"), status);
  }
  // Unexpected: log without request bodies or headers (they may carry secrets).
  console.error("unhandled error", c.req.method, new URL(c.req.url).pathname, (err as Error)?.stack ?? String(err));
  return c.json(errorBody("internal_error", "Internal server error"), 500);
}

/** 404 for unknown paths, 405 (with Allow) for known paths called with the wrong method. */
export function installFallbacks(app: Hono<AppEnv>): void {
  let matchers: { method: string; re: RegExp }[] | null = null;
  app.notFound((c) => {
    matchers ??= app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => ({
        method: r.method,
        re: new RegExp("^" + r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\/\*$/, "(?:/.*)?").replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, "[^/]+") + "$"),
      }));
    const path = new URL(c.req.url).pathname;
    // Routes have no trailing slash: "/x/" is not "/x" (a 405 naming GET for a GET would mislead).
    const allowed = [...new Set(matchers.filter((m) => m.re.test(path)).map((m) => m.method))];
    if (allowed.length > 0) {
      if (allowed.includes("GET")) allowed.push("HEAD");
      return c.json(errorBody("method_not_allowed", `Method ${c.req.method} is not allowed on ${path}`, { allow: allowed }), 405, {
        Allow: allowed.join(", "),
      });
    }
    const trimmed = path.length > 1 && path.endsWith("/") ? path.replace(/\/+$/, "") : null;
    const hint = trimmed && matchers.some((m) => m.method === c.req.method && m.re.test(trimmed)) ? { without_trailing_slash: trimmed } : null;
    return c.json(errorBody("not_found", `No route for ${c.req.method} ${path}`, hint), 404);
  });
}

export { ApiError };
