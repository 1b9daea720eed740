/** Roles and what each may do. Scopes (namespaces) are checked separately. */
export const ROLES = ["reader", "viewer", "publisher", "approver", "admin"] as const;
export type Role = (typeof ROLES)[number];

export type Permission =
  | "config.read" // edge reads and health reports
  | "metrics.read" // click metrics and the dashboard
  | "admin.read" // namespaces, versions, rollouts, release, audit (read-only)
  | "config.publish" // create versions, validate, start rollouts, click links
  | "rollout.control" // pause, resume, promote, abort, emergency rollback
  | "rollout.approve"
  | "namespace.write" // create or change a namespace (schema, approvals)
  | "tokens.manage";

const GRANTS: Record<Role, readonly Permission[]> = {
  reader: ["config.read"],
  viewer: ["metrics.read", "admin.read"],
  publisher: ["config.read", "metrics.read", "admin.read", "config.publish", "rollout.control"],
  approver: ["config.read", "metrics.read", "admin.read", "rollout.control", "rollout.approve"],
  admin: [
    "config.read",
    "metrics.read",
    "admin.read",
    "config.publish",
    "rollout.control",
    "rollout.approve",
    "namespace.write",
    "tokens.manage",
  ],
};

export function roleAllows(role: Role, perm: Permission): boolean {
  return GRANTS[role].includes(perm);
}

export function scopeAllows(scope: readonly string[], namespace: string): boolean {
  return scope.includes("*") || scope.includes(namespace);
}

export const NAMESPACE_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * Whether a token of role `own` may mint one of role `requested`: every permission of `requested`
 * must also be one of `own`'s (roles are not a line: publisher and approver are not comparable).
 */
export function roleWithin(requested: Role, own: Role): boolean {
  return GRANTS[requested].every((p) => GRANTS[own].includes(p));
}

/** Whether scope `inner` lies within scope `outer`; only an unscoped (`*`) outer holds an unscoped inner. */
export function scopeWithin(inner: readonly string[], outer: readonly string[]): boolean {
  if (outer.includes("*")) return true;
  return !inner.includes("*") && inner.every((ns) => outer.includes(ns));
}
