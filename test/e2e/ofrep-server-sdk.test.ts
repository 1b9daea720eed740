import { ErrorCode, OpenFeature, StandardResolutionReasons, type Client } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startDevServer, type DevServer } from "./server";
import { ALL_TYPES, setupNamespace, splitEu, versionFor } from "./ofrep-helpers";

/**
 * OpenFeature's own Node SDK and OFREP provider (not written here), unchanged, against `wrangler dev`.
 * The provider evaluates each flag with POST <baseUrl>/ofrep/v1/evaluate/flags/<key>.
 */
let server: DevServer;
let reader: string;
const NS = "ofrep-node";

beforeAll(async () => {
  server = await startDevServer();
  reader = await setupNamespace(server.url, NS, [ALL_TYPES, { ...ALL_TYPES, on: false, title: "candidate" }]);
});
afterAll(async () => {
  await OpenFeature.close();
  await server?.dispose();
});

async function clientFor(domain: string, token: string, region: string, ns = NS): Promise<Client> {
  const provider = new OFREPProvider({
    baseUrl: `${server.url}/v1/configs/${ns}`,
    headers: [
      ["Authorization", `Bearer ${token}`],
      ["X-Region", region],
    ],
  });
  await OpenFeature.setProviderAndWait(domain, provider);
  return OpenFeature.getClient(domain);
}

describe("@openfeature/server-sdk + @openfeature/ofrep-provider", () => {
  it("resolves every value type with reason, variant and metadata", async () => {
    const client = await clientFor("types", reader, "na");
    const ctx = { targetingKey: "user-1" };
    expect(await client.getBooleanValue("on", false, ctx)).toBe(true);
    expect(await client.getStringValue("title", "default", ctx)).toBe("hello");
    expect(await client.getNumberValue("limit", 0, ctx)).toBe(42);
    expect(await client.getNumberValue("ratio", 0, ctx)).toBe(0.25);
    expect(await client.getObjectValue("obj", {}, ctx)).toEqual(ALL_TYPES.obj);
    const d = await client.getBooleanDetails("on", false, ctx);
    expect(d).toMatchObject({ value: true, reason: "STATIC", variant: "v1", flagKey: "on" });
    expect(d.flagMetadata).toEqual({ version: 1, generation: expect.any(Number) });
    expect(d.errorCode).toBeUndefined();
  });

  it("gives the default with FLAG_NOT_FOUND for an unknown key and TYPE_MISMATCH for a wrong type", async () => {
    const client = await clientFor("errors", reader, "na");
    const missing = await client.getBooleanDetails("no-such-flag", false, { targetingKey: "u" });
    expect(missing).toMatchObject({ value: false, reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.FLAG_NOT_FOUND });
    const mismatch = await client.getNumberDetails("title", 7, { targetingKey: "u" });
    expect(mismatch).toMatchObject({ value: 7, reason: StandardResolutionReasons.ERROR, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it("falls back to defaults with a bad token, and with a token of another namespace", async () => {
    const bad = await clientFor("bad-token", "not-a-real-token", "na");
    const d = await bad.getBooleanDetails("on", false, { targetingKey: "u" });
    expect(d.value).toBe(false);
    expect(d.reason).toBe(StandardResolutionReasons.ERROR);
    // The provider throws its OFREPApiUnauthorizedError on 401; the SDK reports it as GENERAL.
    expect(d.errorCode).toBe(ErrorCode.GENERAL);
    const other = (await http(server.url, "POST", "/admin/v1/tokens", { body: { name: "elsewhere", role: "reader", namespaces: ["elsewhere"] } })).body.token as string;
    const scoped = await clientFor("scoped", other, "na");
    const s = await scoped.getStringDetails("title", "dflt", { targetingKey: "u" });
    expect(s).toMatchObject({ value: "dflt", reason: StandardResolutionReasons.ERROR });
  });

  it("follows a staged rollout's cohorts exactly as GET /v1/configs does", async () => {
    const ns = "ofrep-node-split";
    const token = await setupNamespace(server.url, ns, [{ on: false, title: "stable" }, { on: true, title: "candidate" }]);
    await splitEu(server.url, ns, 2, 50);
    const eu = await clientFor("split-eu", token, "eu", ns);
    const na = await clientFor("split-na", token, "na", ns);
    const variants = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const user = `user-${i}`;
      const d = await eu.getStringDetails("title", "none", { targetingKey: user });
      expect(d.reason).toBe("SPLIT");
      const expected = await versionFor(server.url, ns, token, "eu", user);
      expect(d.variant).toBe(`v${expected}`);
      expect(d.value).toBe(expected === 2 ? "candidate" : "stable");
      // Sticky: asking again gives the same answer.
      expect((await eu.getStringDetails("title", "none", { targetingKey: user })).variant).toBe(d.variant);
      variants.add(d.variant!);
      expect(await na.getStringDetails("title", "none", { targetingKey: user })).toMatchObject({ value: "stable", reason: "STATIC", variant: "v1" });
    }
    expect(variants).toEqual(new Set(["v1", "v2"]));
    const keyless = await eu.getBooleanDetails("on", true, {});
    expect(keyless).toMatchObject({ value: true, errorCode: ErrorCode.TARGETING_KEY_MISSING });
  });
});
