import { createPatch } from "rfc6902";
import { describe, expect, it } from "vitest";
import { checkSchema, validateValues } from "../../lib/config/json-schema";

describe("schema checks", () => {
  it("accepts usable schemas", async () => {
    expect(await checkSchema(true)).toEqual([]);
    expect(await checkSchema({})).toEqual([]);
    expect(
      await checkSchema({
        type: "object",
        properties: { a: { type: ["string", "null"], pattern: "^[a-z]+$" }, b: { $ref: "#/$defs/n" } },
        $defs: { n: { type: "integer", minimum: 0 } },
        required: ["a"],
      }),
    ).toEqual([]);
  });

  it("reports what is wrong, with pointers into the schema", async () => {
    expect((await checkSchema([]))[0].message).toMatch(/object or a boolean/);
    expect((await checkSchema(null)).length).toBe(1);
    expect((await checkSchema({ type: "strng" })).some((i) => i.pointer === "/type")).toBe(true);
    expect((await checkSchema({ properties: { a: { minLength: -1 } } })).some((i) => i.pointer === "/properties/a/minLength")).toBe(true);
    expect((await checkSchema({ required: "a" })).some((i) => i.pointer === "/required")).toBe(true);
    expect(await checkSchema({ properties: { a: { pattern: "(" } } })).toEqual([
      expect.objectContaining({ pointer: "/properties/a/pattern", keyword: "pattern" }),
    ]);
    expect((await checkSchema({ $ref: "#/$defs/missing" }))[0].message).toMatch(/cannot be used/);
  });
});

describe("values validation", () => {
  const schema = {
    type: "object",
    properties: {
      limits: { type: "object", properties: { max: { type: "integer", maximum: 10 } }, additionalProperties: false },
      tags: { type: "array", items: { type: "string" } },
    },
    required: ["limits"],
  };
  it("returns every leaf error with a JSON pointer into the values", () => {
    const issues = validateValues(schema, { limits: { max: 11.5, other: 1 }, tags: ["a", 2, 3] });
    expect(issues.map((i) => `${i.pointer} ${i.keyword}`).sort()).toEqual([
      "/limits/max maximum",
      "/limits/max type",
      "/limits/other false",
      "/tags/1 type",
      "/tags/2 type",
    ]);
    expect(validateValues(schema, {})).toEqual([expect.objectContaining({ pointer: "", keyword: "required" })]);
    expect(validateValues(schema, { limits: { max: 3 } })).toEqual([]);
    expect(validateValues(true, { anything: 1 })).toEqual([]);
  });

  it("diffs versions as RFC 6902 patches", () => {
    const patch = createPatch({ a: 1, b: { c: [1, 2] } }, { a: 2, b: { c: [1] }, d: true });
    expect(patch).toEqual(
      expect.arrayContaining([
        { op: "replace", path: "/a", value: 2 },
        { op: "remove", path: "/b/c/1" },
        { op: "add", path: "/d", value: true },
      ]),
    );
  });
});
