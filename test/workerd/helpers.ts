import { SELF } from "cloudflare:test";
import { jsonRequestInit, readAnswer, type JsonAnswer, type JsonRequestOptions } from "../shared/json-http";

export const ADMIN = "test-admin-token";

/** A JSON request against the Worker under test (in-process, real bindings). */
export async function api(method: string, path: string, opts: JsonRequestOptions = {}): Promise<JsonAnswer> {
  const { headers, body } = jsonRequestInit(opts, ADMIN);
  return readAnswer(await SELF.fetch("http://edgeplane.test" + path, { method, headers, body }));
}

/** Creates a token with the given role and scope and returns its secret. */
export async function tokenFor(role: string, namespaces: string[] = ["*"]): Promise<string> {
  const r = await api("POST", "/admin/v1/tokens", { body: { name: `${role}-${namespaces.join("+")}`, role, namespaces } });
  if (r.status !== 201) throw new Error(`token create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}
