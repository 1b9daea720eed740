import { SELF } from "cloudflare:test";

export const ADMIN = "test-admin-token";

/** A JSON request against the Worker under test (in-process, real bindings). */
export async function api(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const token = opts.token === undefined ? ADMIN : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await SELF.fetch("http://edgeplane.test" + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Creates a token with the given role and scope and returns its secret. */
export async function tokenFor(role: string, namespaces: string[] = ["*"]): Promise<string> {
  const r = await api("POST", "/admin/v1/tokens", { body: { name: `${role}-${namespaces.join("+")}`, role, namespaces } });
  if (r.status !== 201) throw new Error(`token create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}
