import { Validator, type Schema } from "@cfworker/json-schema";

/** One schema violation: a JSON pointer into the validated values and what is wrong there. */
export interface SchemaIssue {
  pointer: string;
  message: string;
  keyword?: string;
}

/**
 * A subset of the 2020-12 meta-schema, enough to catch the mistakes people make (a misspelt type,
 * a non-array `required`, a negative `minLength`, `properties` that are not schemas). The
 * validator library ships no meta-schemas, and it must stay eval-free, so we check with itself.
 */
const SCHEMA_OR_BOOL: Schema = { $ref: "#" };
const NON_NEG_INT: Schema = { type: "integer", minimum: 0 };
const TYPE_NAMES = ["array", "boolean", "integer", "null", "number", "object", "string"];
const META_SCHEMA: Schema = {
  type: ["object", "boolean"],
  properties: {
    type: {
      anyOf: [{ enum: TYPE_NAMES }, { type: "array", items: { enum: TYPE_NAMES }, minItems: 1, uniqueItems: true }],
    },
    properties: { type: "object", additionalProperties: SCHEMA_OR_BOOL },
    patternProperties: { type: "object", additionalProperties: SCHEMA_OR_BOOL },
    additionalProperties: SCHEMA_OR_BOOL,
    unevaluatedProperties: SCHEMA_OR_BOOL,
    propertyNames: SCHEMA_OR_BOOL,
    items: SCHEMA_OR_BOOL,
    prefixItems: { type: "array", items: SCHEMA_OR_BOOL },
    contains: SCHEMA_OR_BOOL,
    not: SCHEMA_OR_BOOL,
    if: SCHEMA_OR_BOOL,
    then: SCHEMA_OR_BOOL,
    else: SCHEMA_OR_BOOL,
    allOf: { type: "array", minItems: 1, items: SCHEMA_OR_BOOL },
    anyOf: { type: "array", minItems: 1, items: SCHEMA_OR_BOOL },
    oneOf: { type: "array", minItems: 1, items: SCHEMA_OR_BOOL },
    $defs: { type: "object", additionalProperties: SCHEMA_OR_BOOL },
    required: { type: "array", items: { type: "string" }, uniqueItems: true },
    enum: { type: "array" },
    minLength: NON_NEG_INT,
    maxLength: NON_NEG_INT,
    minItems: NON_NEG_INT,
    maxItems: NON_NEG_INT,
    minProperties: NON_NEG_INT,
    maxProperties: NON_NEG_INT,
    minimum: { type: "number" },
    maximum: { type: "number" },
    exclusiveMinimum: { type: "number" },
    exclusiveMaximum: { type: "number" },
    multipleOf: { type: "number", exclusiveMinimum: 0 },
    pattern: { type: "string" },
    format: { type: "string" },
    uniqueItems: { type: "boolean" },
    $ref: { type: "string" },
    $id: { type: "string" },
    $schema: { type: "string" },
    title: { type: "string" },
    description: { type: "string" },
  },
};
const metaValidator = new Validator(META_SCHEMA, "2020-12", false);

/** "#/limits/max" → "/limits/max"; "#" → "". */
function pointerOf(instanceLocation: string): string {
  return instanceLocation.startsWith("#") ? instanceLocation.slice(1) : instanceLocation;
}

function collectPatterns(node: unknown, out: { pointer: string; pattern: string }[], at = ""): void {
  if (!node || typeof node !== "object") return;
  if (Array.isArray(node)) {
    node.forEach((x, i) => collectPatterns(x, out, `${at}/${i}`));
    return;
  }
  for (const [k, v] of Object.entries(node)) {
    const here = `${at}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`;
    if (k === "pattern" && typeof v === "string") out.push({ pointer: here, pattern: v });
    if (k === "patternProperties" && v && typeof v === "object") {
      for (const p of Object.keys(v)) out.push({ pointer: `${here}/${p}`, pattern: p });
    }
    collectPatterns(v, out, here);
  }
}

/** Issues with a JSON Schema itself (empty when it is usable); pointers point into the schema. */
export function checkSchema(schema: unknown): SchemaIssue[] {
  if (typeof schema !== "boolean" && (schema === null || typeof schema !== "object" || Array.isArray(schema))) {
    return [{ pointer: "", message: "a JSON Schema must be an object or a boolean" }];
  }
  const issues: SchemaIssue[] = [];
  for (const e of metaValidator.validate(schema).errors) {
    if (e.keyword === "$ref" || e.keyword === "properties" || e.keyword === "additionalProperties" || e.keyword === "items") continue;
    issues.push({ pointer: pointerOf(e.instanceLocation), message: e.error, keyword: e.keyword });
  }
  const patterns: { pointer: string; pattern: string }[] = [];
  collectPatterns(schema, patterns);
  for (const p of patterns) {
    try {
      new RegExp(p.pattern, "u");
    } catch (err) {
      issues.push({ pointer: p.pointer, message: `invalid regular expression: ${(err as Error).message}`, keyword: "pattern" });
    }
  }
  if (issues.length === 0) {
    try {
      new Validator(schema as Schema | boolean, "2020-12", false).validate({});
    } catch (err) {
      issues.push({ pointer: "", message: `schema cannot be used: ${(err as Error).message}` });
    }
  }
  return issues;
}

/**
 * Every violation of `values` against `schema` (shortCircuit off). The validator also reports the
 * enclosing applicators ("properties", "allOf", …) that failed because a child failed; those add
 * nothing for a person fixing the document, so only leaf errors are kept when there are any.
 */
export function validateValues(schema: unknown, values: unknown): SchemaIssue[] {
  const result = new Validator(schema as Schema | boolean, "2020-12", false).validate(values);
  if (result.valid) return [];
  const WRAPPERS = new Set(["properties", "items", "prefixItems", "allOf", "$ref", "additionalProperties", "patternProperties", "unevaluatedProperties", "dependentSchemas", "if", "then", "else", "contains", "propertyNames"]);
  const all = result.errors.map((e) =>
    e.keyword === "false"
      ? { pointer: pointerOf(e.instanceLocation), message: "Value is not allowed here (the schema forbids it).", keyword: "false" }
      : { pointer: pointerOf(e.instanceLocation), message: e.error, keyword: e.keyword },
  );
  const leaves = all.filter((e) => !WRAPPERS.has(e.keyword));
  const chosen = leaves.length > 0 ? leaves : all;
  const seen = new Set<string>();
  return chosen.filter((e) => {
    const k = `${e.pointer}\0${e.keyword}\0${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
