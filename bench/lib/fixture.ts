// Sets up what the loads need: scoped tokens, a config namespace with a version served everywhere,
// and the ETags clients hold.
import { api, must, sleep } from "./http.ts";
import type { Server } from "./server.ts";

export interface Tokens {
  reader: string;
  publisher: string;
  viewer: string;
}

export async function createToken(server: Server, role: string, namespaces: string[], name = `bench-${role}`): Promise<string> {
  const r = await must<{ token: string }>(server.url, "POST", "/admin/v1/tokens", { token: server.token, body: { name, role, namespaces } }, [201]);
  return r.body.token;
}

/** The tokens the bench uses; the admin token only administers. */
export async function createTokens(server: Server, ns: string): Promise<Tokens> {
  return {
    reader: await createToken(server, "reader", [ns]),
    publisher: await createToken(server, "publisher", [ns]),
    viewer: await createToken(server, "viewer", ["*"]),
  };
}

export const CONFIG_SCHEMA = {
  type: "object",
  required: ["flags", "limits"],
  properties: {
    flags: { type: "object", additionalProperties: { type: "boolean" } },
    limits: { type: "object", additionalProperties: { type: "integer", minimum: 0 } },
    copy: { type: "object", additionalProperties: { type: "string", maxLength: 200 } },
    rev: { type: "integer" },
  },
};

/** A realistic few-KiB config document; `rev` makes each version distinct. */
export function configValues(rev: number) {
  const flags: Record<string, boolean> = {};
  const limits: Record<string, number> = {};
  const copy: Record<string, string> = {};
  for (let i = 0; i < 40; i++) flags[`feature_${i}`] = (i + rev) % 3 === 0;
  for (let i = 0; i < 20; i++) limits[`limit_${i}`] = 100 * (i + 1);
  for (let i = 0; i < 10; i++) copy[`banner_${i}`] = `Checkout banner text number ${i}, revision ${rev}.`;
  return { flags, limits, copy, rev };
}

export function regionsOf(server: Server): string[] {
  return String(server.vars.REGIONS).split(",").map((r) => r.trim()).filter(Boolean);
}

export async function createNamespace(server: Server, ns: string): Promise<void> {
  await must(server.url, "PUT", `/admin/v1/namespaces/${ns}`, {
    token: server.token,
    body: { schema: CONFIG_SCHEMA, description: "edgeplane bench namespace", approvals_required: 0 },
  }, [200, 201]);
}

/** Creates a version and returns its number. */
export async function publishVersion(server: Server, token: string, ns: string, rev: number): Promise<number> {
  const r = await must<{ version: number }>(server.url, "POST", `/admin/v1/namespaces/${ns}/versions`, { token, body: { values: configValues(rev), message: `bench rev ${rev}` } }, [201]);
  return r.body.version;
}

/** Starts an immediate rollout of `version`. */
export async function rolloutImmediate(server: Server, token: string, ns: string, version: number): Promise<{ rolloutId: string; ms: number }> {
  const r = await must<{ rollout_id: string }>(server.url, "POST", `/admin/v1/namespaces/${ns}/rollouts`, { token, body: { version, plan: "immediate" } }, [201]);
  return { rolloutId: r.body.rollout_id, ms: r.ms };
}

export interface ConfigRead {
  status: number;
  version: number | null;
  etag: string | null;
  generation: number | null;
  body: any;
}

/**
 * One edge read as a client in `region`. Without `extraHeaders` it is what a NEW reader sends (every
 * new client, every restarted server): no `X-Config-Generation`, no `If-None-Match` — the read issue 11
 * is about, which must see a change within 1 s and is not allowed to lean on a generation it never had.
 */
export async function readConfig(server: Server, readerToken: string, ns: string, region: string, clientId: string, extraHeaders: Record<string, string> = {}): Promise<ConfigRead> {
  const r = await api(server.url, "GET", `/v1/configs/${ns}?client_id=${encodeURIComponent(clientId)}`, {
    token: readerToken,
    headers: { "x-region": region, ...extraHeaders },
  });
  return { status: r.status, version: r.body?.version ?? null, etag: r.headers.get("etag"), generation: r.body?.generation ?? null, body: r.body };
}

/** Waits until every region serves `version` (throws after timeoutMs). */
export async function waitServedEverywhere(server: Server, readerToken: string, ns: string, version: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const regions = regionsOf(server);
  let last: ConfigRead[] = [];
  while (Date.now() < deadline) {
    last = await Promise.all(regions.map((r) => readConfig(server, readerToken, ns, r, `probe-${r}`)));
    if (last.every((x) => x.status === 200 && x.version === version)) return;
    await sleep(50);
  }
  throw new Error(`version ${version} of '${ns}' not served everywhere after ${timeoutMs} ms: ${JSON.stringify(last.map((x) => [x.status, x.version]))}`);
}

/** Namespace + version 1 served in every region (rolled out with the immediate preset when needed). */
export async function setupConfig(server: Server, tokens: Tokens, ns: string): Promise<number> {
  await createNamespace(server, ns);
  const v = await publishVersion(server, tokens.publisher, ns, 1);
  const first = await readConfig(server, tokens.reader, ns, regionsOf(server)[0], "probe");
  if (!(first.status === 200 && first.version === v)) await rolloutImmediate(server, tokens.publisher, ns, v);
  await waitServedEverywhere(server, tokens.reader, ns, v);
  return v;
}

export interface ConfigClient {
  region: string;
  clientId: string;
  etag: string;
  version: number | null;
}

/** The edge-read clients the loads cycle through: several client ids in every region, with their ETags. */
export async function configClients(server: Server, readerToken: string, ns: string, perRegion = 8): Promise<ConfigClient[]> {
  const out: ConfigClient[] = [];
  for (const region of regionsOf(server)) {
    for (let i = 0; i < perRegion; i++) {
      const clientId = `bench-client-${region}-${i}`;
      const r = await readConfig(server, readerToken, ns, region, clientId);
      if (r.status !== 200) throw new Error(`config read for ${clientId} in ${region} → ${r.status}: ${JSON.stringify(r.body)}`);
      if (!r.etag) throw new Error("config read returned no ETag header");
      const again = await readConfig(server, readerToken, ns, region, clientId, { "if-none-match": r.etag });
      if (again.status !== 304) throw new Error(`If-None-Match with the current ETag → ${again.status}, expected 304`);
      out.push({ region, clientId, etag: r.etag, version: r.version });
    }
  }
  return out;
}
