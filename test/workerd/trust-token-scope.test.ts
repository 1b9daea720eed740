import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "./helpers";

/**
 * The whole matrix of issue 9 §1: every caller (role × scope) against every token route, each
 * answer checked against the rule written out plainly below — a token mints only tokens whose role
 * is at most its own and whose namespaces lie within its own; it lists and revokes only tokens
 * within its scope; only an unscoped admin manages unscoped tokens.
 */
const ROLES = ["reader", "viewer", "publisher", "approver", "admin"] as const;
type Role = (typeof ROLES)[number];
const SCOPES: string[][] = [["*"], ["alpha"], ["alpha", "beta"], ["beta", "gamma"]];

/** Permissions per role as SPEC.md lists them, written out independently of lib/roles.ts. */
const CAN: Record<Role, string[]> = {
  reader: ["read"],
  viewer: ["metrics", "admin-read"],
  publisher: ["read", "metrics", "admin-read", "publish", "control"],
  approver: ["read", "metrics", "admin-read", "control", "approve"],
  admin: ["read", "metrics", "admin-read", "publish", "control", "approve", "namespace", "tokens"],
};

const within = (inner: string[], outer: string[]) => outer.includes("*") || (!inner.includes("*") && inner.every((n) => outer.includes(n)));
const roleAtMost = (r: Role, own: Role) => CAN[r].every((p) => CAN[own].includes(p));
const label = (role: string, scope: string[]) => `${role}[${scope.join("+")}]`;

interface Caller {
  role: Role;
  scope: string[];
  secret: string;
}

async function mint(role: Role, scope: string[], name: string): Promise<{ id: string; token: string }> {
  const r = await api("POST", "/admin/v1/tokens", { body: { name, role, namespaces: scope } });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return { id: r.body.id, token: r.body.token };
}

const callers: Caller[] = [];
beforeAll(async () => {
  for (const role of ROLES) for (const scope of SCOPES) callers.push({ role, scope, secret: (await mint(role, scope, `caller ${label(role, scope)}`)).token });
});

describe("token routes: role × scope matrix", () => {
  it("POST /admin/v1/tokens mints only tokens of at most the caller's role, within the caller's scope", async () => {
    const failures: string[] = [];
    const cases = callers.flatMap((caller) =>
      ROLES.flatMap((role) =>
        [...SCOPES, ["gamma"], ["alpha", "*"]].map((scope) => ({
          caller,
          role,
          scope,
          expected: caller.role === "admin" && roleAtMost(role, caller.role) && within(scope, caller.scope) ? 201 : 403,
        })),
      ),
    );
    const check = async ({ caller, role, scope, expected }: (typeof cases)[number]) => {
      const r = await api("POST", "/admin/v1/tokens", { token: caller.secret, body: { name: "minted", role, namespaces: scope } });
      const what = `${label(caller.role, caller.scope)} mints ${label(role, scope)}`;
      if (r.status !== expected) failures.push(`${what}: ${r.status}, expected ${expected}`);
      if (r.status === 403) {
        const code = caller.role === "admin" ? "forbidden_namespace" : "forbidden";
        if (r.body.error.code !== code) failures.push(`${what}: code ${r.body.error.code}, expected ${code}`);
      }
      if (r.status === 201) {
        const stored = await env.DB.prepare("SELECT namespaces FROM tokens WHERE id = ?").bind(r.body.id).first<{ namespaces: string }>();
        if (!within(JSON.parse(stored!.namespaces), caller.scope)) failures.push(`${what}: stored ${stored!.namespaces}`);
      }
    };
    // Refusals write nothing and run side by side; mints append to the audit chain, so one at a time.
    await Promise.all(cases.filter((k) => k.expected === 403).map(check));
    for (const k of cases.filter((k) => k.expected === 201)) await check(k);
    expect(failures).toEqual([]);
  }, 240_000);

  it("a token minted without namespaces gets its minter's scope, never '*'", async () => {
    for (const caller of callers.filter((c) => c.role === "admin")) {
      const r = await api("POST", "/admin/v1/tokens", { token: caller.secret, body: { name: "defaulted", role: "reader" } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body.namespaces).toEqual([...caller.scope].sort());
    }
  });

  it("the minted token cannot widen its own scope either (a chain of mints stays within the first)", async () => {
    const alphaAdmin = callers.find((c) => c.role === "admin" && c.scope.length === 1 && c.scope[0] === "alpha")!;
    const child = await api("POST", "/admin/v1/tokens", { token: alphaAdmin.secret, body: { name: "child", role: "admin", namespaces: ["alpha"] } });
    expect(child.status).toBe(201);
    for (const scope of [["*"], ["beta"], ["alpha", "beta"]]) {
      const r = await api("POST", "/admin/v1/tokens", { token: child.body.token, body: { name: "grandchild", role: "admin", namespaces: scope } });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("forbidden_namespace");
    }
  });

  it("GET /admin/v1/tokens lists exactly the tokens within the caller's scope", async () => {
    const all = (await api("GET", "/admin/v1/tokens?limit=1000")).body.tokens as { id: string; namespaces: string[] }[];
    for (const caller of callers) {
      const r = await api("GET", "/admin/v1/tokens?limit=1000", { token: caller.secret });
      if (caller.role !== "admin") {
        expect(r.status, label(caller.role, caller.scope)).toBe(403);
        continue;
      }
      expect(r.status).toBe(200);
      const seen = (r.body.tokens as { id: string }[]).map((t) => t.id).sort();
      const expected = all.filter((t) => within(t.namespaces, caller.scope)).map((t) => t.id).sort();
      expect(seen, label(caller.role, caller.scope)).toEqual(expected);
    }
  });

  it("DELETE /admin/v1/tokens/:id revokes only tokens within the caller's scope", async () => {
    const failures: string[] = [];
    const targetScopes = [...SCOPES, ["gamma"]];
    // Callers that may not revoke anything share one target per scope; admins get fresh ones.
    const shared = await Promise.all(targetScopes.map((scope) => mint("reader", scope, `shared target ${label("reader", scope)}`)));
    for (const caller of callers) {
      for (const [i, scope] of targetScopes.entries()) {
        const target = caller.role === "admin" ? await mint("reader", scope, `target ${label("reader", scope)}`) : shared[i];
        const r = await api("DELETE", `/admin/v1/tokens/${target.id}`, { token: caller.secret });
        const expected = caller.role !== "admin" ? 403 : within(scope, caller.scope) ? 200 : 404;
        if (r.status !== expected) failures.push(`${label(caller.role, caller.scope)} revokes ${label("reader", scope)}: ${r.status}, expected ${expected}`);
        const row = await env.DB.prepare("SELECT revoked_at FROM tokens WHERE id = ?").bind(target.id).first<{ revoked_at: string | null }>();
        const revoked = row!.revoked_at !== null;
        if (revoked !== (expected === 200)) failures.push(`${label(caller.role, caller.scope)} → ${label("reader", scope)}: target revoked=${revoked}`);
      }
    }
    expect(failures).toEqual([]);
  }, 180_000);
});
