import { badRequest } from "../../lib/errors";
import { NAMESPACE_RE } from "../../lib/roles";
import { assertScope } from "./auth";
import type { AppContext } from "./context";

/** The `:ns` path parameter, validated and within the caller's scope (config reads and OFREP). */
export function namespaceParam(c: AppContext): string {
  const ns = c.req.param("ns") ?? "";
  if (!NAMESPACE_RE.test(ns)) throw badRequest("invalid_namespace", `'${ns}' is not a valid namespace name`, { pattern: NAMESPACE_RE.source });
  assertScope(c, ns);
  return ns;
}

/** True when an If-None-Match list names `etag` (weak comparison, as RFC 9110 asks for GET). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const want = etag.replace(/^W\//, "");
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === want);
}
