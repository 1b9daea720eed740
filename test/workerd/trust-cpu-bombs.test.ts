import { describe, expect, it } from "vitest";
import { api } from "./helpers";
import { stubFor, uniqueNs } from "./config-helpers";

/**
 * Issue 9 §2: no schema and no value may make a request run long. Regular expressions that can take
 * super-linear time are refused wherever a schema holds one (422 invalid_schema naming the pointer);
 * validation work is bounded; values are validated at the edge, not in the namespace's coordinator.
 */
const EVIL = [
  "^(a+)+$", // nested quantifiers (the 28 s)
  "(a|a)*$", // overlapping alternation
  "^(a|aa)+$",
  "(x+x+)+y",
  "^(a*)*b",
  "(\\w+\\s?)*$",
  "^(([a-z])+.)+[A-Z]([a-z])+$",
  "(.*a){12}", // polynomial
  "\\s*#?\\s*$", // polynomial in an unanchored search
  "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", // quadratic
  "(\\d+)*\\1x", // backreference
  "^(?=a*)(a*)*$", // lookahead around a nested quantifier
  "(?<n>a+)+\\k<n>", // named backreference
];
const SAFE = ["^[a-z]+$", "^[0-9]{3}-[0-9]{4}$", "^(foo|bar)$", "^\\d+(\\.\\d+)?$", "^[A-Z]{2}\\d{2}$", "^x-", "^(?!internal-)[a-z-]{1,40}$", "^[a-z0-9._-]+@[a-z0-9-]+\\.[a-z]{2,}$"];

/** Every place a regex can sit in a schema, with the pointer the refusal must name. */
const PLACES: { name: string; schema: (p: string) => unknown; pointer: (p: string) => string }[] = [
  { name: "properties", schema: (p) => ({ type: "object", properties: { a: { type: "string", pattern: p } } }), pointer: () => "/properties/a/pattern" },
  { name: "patternProperties key", schema: (p) => ({ patternProperties: { [p]: { type: "string" } } }), pointer: (p) => `/patternProperties/${p.replace(/~/g, "~0").replace(/\//g, "~1")}` },
  { name: "propertyNames", schema: (p) => ({ propertyNames: { pattern: p } }), pointer: () => "/propertyNames/pattern" },
  { name: "$defs", schema: (p) => ({ $defs: { s: { pattern: p } }, properties: { a: { $ref: "#/$defs/s" } } }), pointer: () => "/$defs/s/pattern" },
  { name: "items", schema: (p) => ({ properties: { l: { items: { pattern: p } } } }), pointer: () => "/properties/l/items/pattern" },
  { name: "prefixItems", schema: (p) => ({ properties: { l: { prefixItems: [true, { pattern: p }] } } }), pointer: () => "/properties/l/prefixItems/1/pattern" },
  { name: "allOf", schema: (p) => ({ allOf: [{}, { properties: { a: { pattern: p } } }] }), pointer: () => "/allOf/1/properties/a/pattern" },
  { name: "anyOf/not/if/then", schema: (p) => ({ anyOf: [{ not: { if: { type: "object" }, then: { properties: { z: { pattern: p } } } } }] }), pointer: () => "/anyOf/0/not/then/properties/z/pattern" },
  { name: "dependentSchemas", schema: (p) => ({ dependentSchemas: { a: { properties: { b: { pattern: p } } } } }), pointer: () => "/dependentSchemas/a/properties/b/pattern" },
  { name: "additionalProperties", schema: (p) => ({ additionalProperties: { pattern: p } }), pointer: () => "/additionalProperties/pattern" },
  // An unknown keyword is not applied by itself, but a $ref can point into it.
  { name: "unknown keyword behind a $ref", schema: (p) => ({ stash: { pattern: p }, properties: { a: { $ref: "#/stash" } } }), pointer: () => "/stash/pattern" },
  { name: "contains", schema: (p) => ({ contains: { pattern: p } }), pointer: () => "/contains/pattern" },
];

async function putSchema(ns: string, schema: unknown) {
  return api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema } });
}

describe("regular expressions in schemas", () => {
  it("refuses every super-linear pattern, with the pointer, wherever it sits", async () => {
    const failures: string[] = [];
    for (const pattern of EVIL) {
      for (const place of PLACES) {
        const r = await putSchema(uniqueNs("evil"), place.schema(pattern));
        const hit = r.status === 422 && r.body.error.code === "invalid_schema" && r.body.error.details.some((d: { pointer: string }) => d.pointer === place.pointer(pattern));
        if (!hit) failures.push(`${place.name} ${pattern}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);

  it("accepts linear patterns, and regex-looking data that is not a schema", async () => {
    for (const pattern of SAFE) {
      const r = await putSchema(uniqueNs("safe"), { properties: { a: { type: "string", pattern } }, patternProperties: { [pattern]: true }, propertyNames: { pattern: "^[a-z0-9@._-]+$" } });
      expect(r.status, `${pattern}: ${JSON.stringify(r.body)}`).toBe(201);
    }
    // `enum`/`const` hold data: an object with a "pattern" key there is a value, never run as a regex.
    const data = await putSchema(uniqueNs("data"), { properties: { rule: { enum: [{ pattern: "^(a+)+$" }], const: { pattern: "(a|a)*" } } } });
    expect(data.status, JSON.stringify(data.body)).toBe(201);
  });

  it("a safe pattern validates values as before", async () => {
    const ns = uniqueNs("use");
    expect((await putSchema(ns, { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]{2}\\d{2}$" } } })).status).toBe(201);
    const ok = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { code: "AB12" } } });
    expect(ok.status).toBe(201);
    const bad = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { code: "a".repeat(100_000) + "!" } } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe("validation_failed");
    expect(bad.body.error.details[0].pointer).toBe("/code");
  });
});

describe("bounded validation work", () => {
  it("uniqueItems over a huge array is refused (value_too_complex), a normal one still checked", async () => {
    const ns = uniqueNs("uniq");
    expect((await putSchema(ns, { type: "object", properties: { ids: { type: "array", uniqueItems: true } } })).status).toBe(201);
    const huge = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { ids: Array.from({ length: 28_000 }, (_, i) => i) } } });
    expect(huge.status, JSON.stringify(huge.body).slice(0, 300)).toBe(422);
    expect(huge.body.error.code).toBe("value_too_complex");
    const objects = await api("POST", `/admin/v1/namespaces/${ns}/validate`, { body: { values: { ids: Array.from({ length: 3_000 }, (_, i) => ({ pad: "x".repeat(40), i })) } } });
    expect(objects.body.error?.code).toBe("value_too_complex");
    expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { ids: Array.from({ length: 500 }, (_, i) => i) } } })).status).toBe(201);
    const dup = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { ids: [1, 2, 3, 2] } } });
    expect(dup.status).toBe(422);
    expect(dup.body.error.code).toBe("validation_failed");
  });

  it("$ref/allOf fan-out (×10 per level) is refused when set or when a value would trigger it", async () => {
    // Fan-out at the root: refused when the schema is set.
    const defs: Record<string, unknown> = { l6: { type: "object" } };
    for (let i = 5; i >= 0; i--) defs[`l${i}`] = { allOf: Array.from({ length: 10 }, () => ({ $ref: `#/$defs/l${i + 1}` })) };
    const root = await putSchema(uniqueNs("fan"), { $defs: defs, $ref: "#/$defs/l0" });
    expect(root.status, JSON.stringify(root.body).slice(0, 300)).toBe(422);
    expect(root.body.error.code).toBe("invalid_schema");
    // The same fan-out below a property: the schema is accepted, a value that reaches it is refused.
    const ns = uniqueNs("fan");
    expect((await putSchema(ns, { $defs: defs, properties: { deep: { $ref: "#/$defs/l0" } } })).status).toBe(201);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { other: 1 } } })).status).toBe(201);
    const hit = await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: { deep: {} } } });
    expect(hit.status).toBe(422);
    expect(hit.body.error.code).toBe("value_too_complex");
  });

  it("a $ref cycle that never moves into the value is refused when set", async () => {
    for (const schema of [{ $ref: "#" }, { $defs: { a: { $ref: "#/$defs/b" }, b: { allOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" }]) {
      const r = await putSchema(uniqueNs("cycle"), schema);
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(422);
      expect(r.body.error.code).toBe("invalid_schema");
    }
  });

  it("recursion through the value (a tree schema) stays usable", async () => {
    const ns = uniqueNs("tree");
    const schema = { $defs: { node: { type: "object", properties: { kids: { type: "array", items: { $ref: "#/$defs/node" } } } } }, $ref: "#/$defs/node" };
    expect((await putSchema(ns, schema)).status).toBe(201);
    let tree: Record<string, unknown> = {};
    for (let i = 0; i < 30; i++) tree = { kids: [tree, {}] };
    expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: tree } })).status).toBe(201);
  });
});

describe("validation is off the coordinator's critical path", () => {
  it("the coordinator takes values validated at the edge against its current schema, and refuses a stale one", async () => {
    const ns = uniqueNs("edge");
    expect((await putSchema(ns, { type: "object" })).status).toBe(201);
    const stub = stubFor(ns) as unknown as {
      createVersion(ns: string, input: unknown, actor: string): Promise<{ ok: boolean; error?: { status: number; code: string } }>;
    };
    const r = await stub.createVersion(ns, { values: { a: 1 }, message: "", idempotencyKey: null, schemaHash: "0".repeat(64) }, "test");
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ status: 409, code: "schema_changed" });
  });
});
