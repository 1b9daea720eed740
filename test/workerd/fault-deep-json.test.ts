import { describe, expect, it } from "vitest";
import { api } from "./helpers";
import { createNamespace, uniqueNs } from "./config-helpers";

/**
 * Deeply nested JSON inside the body limits. JSON.parse accepts it, but the recursive code after it
 * (canonical JSON hashing, JSON Schema compilation and validation) overflows the stack: the request must
 * get a 4xx JSON error, not a 500, and nothing may be stored.
 */

const nestedArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const nestedSchema = (depth: number) => '{"items":'.repeat(depth) + "{}" + "}".repeat(depth);

function expectClientError(r: { status: number; body: any }, what: string): void {
  const where = `${what}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`;
  expect(r.status, where).toBeGreaterThanOrEqual(400);
  expect(r.status, where).toBeLessThan(500);
  expect(r.body?.error?.code, where).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof r.body.error.message, where).toBe("string");
  expect("details" in r.body.error, where).toBe(true);
}

describe("deeply nested JSON", () => {
  it("a version whose values nest 10 000 levels deep is refused with a JSON 4xx and nothing is stored", async () => {
    const ns = uniqueNs("deep");
    await createNamespace(ns);
    const body = `{"values":{"feature":true,"x":${nestedArrays(10_000)}},"message":"deep"}`;
    expect(body.length).toBeLessThan(300 * 1024); // inside the body limit: only the nesting is at fault

    expectClientError(await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body }), "publish");
    expectClientError(await api("POST", `/admin/v1/namespaces/${ns}/validate`, { body }), "validate");
    const versions = await api("GET", `/admin/v1/namespaces/${ns}/versions`);
    expect(versions.body.versions).toEqual([]);
    // ordinary nesting still works
    const ok = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: `{"values":{"feature":true,"x":${nestedArrays(50)}}}` });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
  });

  it("a namespace schema that nests 1 000 levels deep is refused with a JSON 4xx and no namespace is created", async () => {
    const ns = uniqueNs("deep-schema");
    const r = await api("PUT", `/admin/v1/namespaces/${ns}`, { body: `{"schema":{"type":"object","properties":{"x":${nestedSchema(1_000)}}}}` });
    expectClientError(r, "put namespace");
    expect((await api("GET", `/admin/v1/namespaces/${ns}`)).status).toBe(404);
  });
});
