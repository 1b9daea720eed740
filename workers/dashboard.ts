import type { Context } from "hono";
import { newSubApp } from "./lib/app-factory";
import type { AppEnv } from "./lib/context";
import { notFound } from "../lib/errors";

/**
 * The live dashboard: `GET /dashboard` (public HTML; every datum is fetched by the page with the
 * user's token) and its static files under /dashboard/* and /vendor/*, served from the ASSETS
 * binding (public/) with strict security headers.
 */
export const dashboardApp = newSubApp();

/** No inline script or style, no foreign origins, no framing, and no HTML sinks for strings. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy": DASHBOARD_CSP,
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
};

/** Fetches `assetPath` from the ASSETS binding (keeping conditional headers) and adds our headers. */
async function serveAsset(c: Context<AppEnv>, assetPath: string): Promise<Response> {
  const url = new URL(assetPath, c.req.url);
  const headers = new Headers();
  for (const h of ["if-none-match", "if-modified-since"]) {
    const v = c.req.header(h);
    if (v) headers.set(h, v);
  }
  const res = await c.env.ASSETS.fetch(new Request(url, { method: c.req.method === "HEAD" ? "HEAD" : "GET", headers }));
  if (res.status === 404) throw notFound("not_found", `No route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  const out = new Response(res.body, res);
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) out.headers.set(k, v);
  // Revalidate every time (ETag → 304): a deploy is visible on the next load, wall screens included.
  out.headers.set("Cache-Control", "no-cache");
  return out;
}

dashboardApp.get("/dashboard", (c) => serveAsset(c, "/dashboard/index.html"));
dashboardApp.get("/dashboard/", (c) => serveAsset(c, "/dashboard/index.html"));
dashboardApp.get("/dashboard/*", (c) => serveAsset(c, new URL(c.req.url).pathname));
dashboardApp.get("/vendor/*", (c) => serveAsset(c, new URL(c.req.url).pathname));
