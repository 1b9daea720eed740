// Sets up what the loads need: scoped tokens, a config namespace with a version served everywhere,
// and the ETags clients hold.
import { api, must, sleep } from "./http.mjs";

export async function createToken(server, role, namespaces, name = `bench-${role}`) {
  const r = await must(server.url, "POST", "/admin/v1/tokens", { token: server.token, body: { name, role, namespaces } }, [201]);
  return r.body.token;
}

/** The tokens the bench uses; the admin token only administers. */
export async function createTokens(server, ns) {
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
export function configValues(rev) {
  const flags = {};
  const limits = {};
  const copy = {};
  for (let i = 0; i < 40; i++) flags[`feature_${i}`] = (i + rev) % 3 === 0;
  for (let i = 0; i < 20; i++) limits[`limit_${i}`] = 100 * (i + 1);
  for (let i = 0; i < 10; i++) copy[`banner_${i}`] = `Checkout banner text number ${i}, revision ${rev}.`;
  return { flags, limits, copy, rev };
}

export function regionsOf(server) {
  return String(server.vars.REGIONS).split(",").map((r) => r.trim()).filter(Boolean);
}

export async function createNamespace(server, ns) {
  await must(server.url, "PUT", `/admin/v1/namespaces/${ns}`, {
    token: server.token,
    body: { schema: CONFIG_SCHEMA, description: "edgeplane bench namespace", approvals_required: 0 },
  }, [200, 201]);
}

/** Creates a version and returns its number. */
export async function publishVersion(server, token, ns, rev) {
  const r = await must(server.url, "POST", `/admin/v1/namespaces/${ns}/versions`, { token, body: { values: configValues(rev), message: `bench rev ${rev}` } }, [201]);
  return r.body.version;
}

/** Starts an immediate rollout of `version`; returns {rollout_id, ms}. */
export async function rolloutImmediate(server, token, ns, version) {
  const r = await must(server.url, "POST", `/admin/v1/namespaces/${ns}/rollouts`, { token, body: { version, plan: "immediate" } }, [201]);
  return { rolloutId: r.body.rollout_id, ms: r.ms };
}

/** One edge read as a client in `region`; returns {status, version, etag}. */
export async function readConfig(server, readerToken, ns, region, clientId, extraHeaders = {}) {
  const r = await api(server.url, "GET", `/v1/configs/${ns}?client_id=${encodeURIComponent(clientId)}`, {
    token: readerToken,
    headers: { "x-region": region, ...extraHeaders },
  });
  return { status: r.status, version: r.body?.version ?? null, etag: r.headers.get("etag"), generation: r.body?.generation ?? null, body: r.body };
}

/** Waits until every region serves `version` (throws after timeoutMs). */
export async function waitServedEverywhere(server, readerToken, ns, version, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  const regions = regionsOf(server);
  let last = [];
  while (Date.now() < deadline) {
    last = await Promise.all(regions.map((r) => readConfig(server, readerToken, ns, r, `probe-${r}`)));
    if (last.every((x) => x.status === 200 && x.version === version)) return;
    await sleep(50);
  }
  throw new Error(`version ${version} of '${ns}' not served everywhere after ${timeoutMs} ms: ${JSON.stringify(last.map((x) => [x.status, x.version]))}`);
}

/** Namespace + version 1 served in every region (rolled out with the immediate preset when needed). */
export async function setupConfig(server, tokens, ns) {
  await createNamespace(server, ns);
  const v = await publishVersion(server, tokens.publisher, ns, 1);
  const first = await readConfig(server, tokens.reader, ns, regionsOf(server)[0], "probe");
  if (!(first.status === 200 && first.version === v)) await rolloutImmediate(server, tokens.publisher, ns, v);
  await waitServedEverywhere(server, tokens.reader, ns, v);
  return v;
}

/** The edge-read clients the loads cycle through: several client ids in every region, with their ETags. */
export async function configClients(server, readerToken, ns, perRegion = 8) {
  const out = [];
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
