import { ignoredKeyword, schemaArrayKeyword, schemaMapKeyword, Validator, type Schema } from "@cfworker/json-schema";
import { regexVerdict } from "./regex-safety";

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

/**
 * Bounds on the work a schema can cause (docs/security.md). Values are bounded separately by size
 * (256 KiB) and depth (100); with every regex proven linear, what is left is the number of
 * (value node × subschema) visits, counted while validating, and uniqueItems' pairwise comparison.
 */
export const SCHEMA_LIMITS = {
  /** Subschemas in one schema (each `{…}` reached through a schema keyword). */
  maxSubschemas: 5_000,
  /** Regular expressions in one schema (`pattern`, `patternProperties` keys), each proven linear. */
  maxPatterns: 200,
  /** Subschema applications while validating one value (each $ref/allOf/items/… step counts one). */
  maxValidationSteps: 150_000,
  /**
   * uniqueItems compares every pair of items, so its cost is items × bytes of the array; arrays
   * beyond this (only when the schema uses uniqueItems) are refused: e.g. 1,000 items of 100 bytes pass.
   */
  maxUniqueItemsWork: 100_000_000,
} as const;

const esc = (k: string) => k.replace(/~/g, "~0").replace(/\//g, "~1");
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * Every object subschema with its JSON pointer, exactly as the validator's own dereference() sees
 * them: every key that is not a plain-value keyword (enum, const, pattern …) holds a subschema, even
 * an unknown one, because a `$ref` may point at it. enum/const data is never walked.
 */
function subschemas(root: unknown): { node: Record<string, unknown>; pointer: string }[] {
  const out: { node: Record<string, unknown>; pointer: string }[] = [];
  const stack: { node: unknown; pointer: string }[] = [{ node: root, pointer: "" }];
  while (stack.length > 0) {
    const { node, pointer } = stack.pop()!;
    if (!isObj(node)) continue;
    out.push({ node, pointer });
    if (out.length > SCHEMA_LIMITS.maxSubschemas) break;
    for (const [k, v] of Object.entries(node)) {
      if (ignoredKeyword[k]) continue;
      const at = `${pointer}/${esc(k)}`;
      if (Array.isArray(v)) {
        if (schemaArrayKeyword[k]) v.forEach((x, i) => stack.push({ node: x, pointer: `${at}/${i}` }));
      } else if (schemaMapKeyword[k]) {
        if (isObj(v)) for (const [name, x] of Object.entries(v)) stack.push({ node: x, pointer: `${at}/${esc(name)}` });
      } else stack.push({ node: v, pointer: at });
    }
  }
  return out;
}

/** Issues with a JSON Schema itself (empty when it is usable); pointers point into the schema. */
export async function checkSchema(schema: unknown): Promise<SchemaIssue[]> {
  if (typeof schema !== "boolean" && (schema === null || typeof schema !== "object" || Array.isArray(schema))) {
    return [{ pointer: "", message: "a JSON Schema must be an object or a boolean" }];
  }
  const issues: SchemaIssue[] = [];
  for (const e of metaValidator.validate(schema).errors) {
    if (e.keyword === "$ref" || e.keyword === "properties" || e.keyword === "additionalProperties" || e.keyword === "items") continue;
    issues.push({ pointer: pointerOf(e.instanceLocation), message: e.error, keyword: e.keyword });
  }
  const nodes = subschemas(schema);
  if (nodes.length > SCHEMA_LIMITS.maxSubschemas) {
    return [{ pointer: "", message: `schema has more than ${SCHEMA_LIMITS.maxSubschemas} subschemas`, keyword: "limits" }];
  }
  const patterns: { pointer: string; pattern: string }[] = [];
  for (const { node, pointer } of nodes) {
    if (typeof node.pattern === "string") patterns.push({ pointer: `${pointer}/pattern`, pattern: node.pattern });
    if (isObj(node.patternProperties)) for (const p of Object.keys(node.patternProperties)) patterns.push({ pointer: `${pointer}/patternProperties/${esc(p)}`, pattern: p });
  }
  if (patterns.length > SCHEMA_LIMITS.maxPatterns) {
    return [{ pointer: "", message: `schema has ${patterns.length} regular expressions; at most ${SCHEMA_LIMITS.maxPatterns} are accepted`, keyword: "limits" }];
  }
  for (const p of patterns) {
    try {
      new RegExp(p.pattern, "u");
    } catch (err) {
      issues.push({ pointer: p.pointer, message: `invalid regular expression: ${(err as Error).message}`, keyword: "pattern" });
      continue;
    }
    const v = await regexVerdict(p.pattern);
    if (!v.safe) issues.push({ pointer: p.pointer, message: `regular expression ${v.reason}; only patterns proven linear-time are accepted`, keyword: "pattern" });
  }
  if (issues.length === 0) {
    // A schema that expands without bound in place ($ref cycles, fan-out at the root) fails here.
    try {
      for (const probe of [{}, [], ""]) validateValues(schema, probe);
    } catch (err) {
      issues.push({ pointer: "", message: err instanceof ValidationTooComplex ? err.message : `schema cannot be used: ${(err as Error).message}`, keyword: "limits" });
    }
  }
  return issues;
}

/** Thrown when validating a value would exceed SCHEMA_LIMITS; the edge answers 422. */
export class ValidationTooComplex extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ValidationTooComplex";
  }
}

/**
 * A copy of `schema` whose every subschema counts its applications: the validator reads all of a
 * subschema's keywords once per application (one destructuring), so an accessor on a key it always
 * reads counts steps exactly, and throwing from it stops the validator mid-way.
 */
function budgeted(schema: unknown): unknown {
  if (typeof schema === "boolean") return schema;
  const copy = JSON.parse(JSON.stringify(schema)) as unknown;
  let steps = 0;
  for (const { node } of subschemas(copy)) {
    let stored: unknown;
    Object.defineProperty(node, "__absolute_recursive_ref__", {
      configurable: true,
      enumerable: false,
      get() {
        if (++steps > SCHEMA_LIMITS.maxValidationSteps) {
          throw new ValidationTooComplex(`validating these values against the schema takes more than ${SCHEMA_LIMITS.maxValidationSteps} steps`);
        }
        return stored;
      },
      set(v: unknown) {
        stored = v;
      },
    });
  }
  return copy;
}

/** Refuses arrays whose uniqueItems check (pairwise) would cost more than the limit; returns nothing when fine. */
function checkUniqueItemsWork(schema: unknown, values: unknown): void {
  if (!subschemas(schema).some(({ node }) => node.uniqueItems === true)) return;
  // Sizes bottom-up in one pass: JSON bytes of each array, compared with its length.
  const size = (x: unknown, at: string): number => {
    if (Array.isArray(x)) {
      let total = 2;
      x.forEach((item, i) => (total += size(item, `${at}/${i}`) + 1));
      if (x.length * total > SCHEMA_LIMITS.maxUniqueItemsWork) {
        throw new ValidationTooComplex(`the array at '${at}' (${x.length} items, ${total} bytes) is too large to check for unique items`);
      }
      return total;
    }
    if (isObj(x)) {
      let total = 2;
      for (const [k, v] of Object.entries(x)) total += k.length + 4 + size(v, `${at}/${esc(k)}`);
      return total;
    }
    return typeof x === "string" ? x.length + 2 : String(x).length;
  };
  size(values, "");
}

/**
 * Every violation of `values` against `schema` (shortCircuit off), within SCHEMA_LIMITS (else
 * ValidationTooComplex). The validator also reports the
 * enclosing applicators ("properties", "allOf", …) that failed because a child failed; those add
 * nothing for a person fixing the document, so only leaf errors are kept when there are any.
 */
export function validateValues(schema: unknown, values: unknown): SchemaIssue[] {
  checkUniqueItemsWork(schema, values);
  let result: ReturnType<Validator["validate"]>;
  try {
    result = new Validator(budgeted(schema) as Schema | boolean, "2020-12", false).validate(values);
  } catch (err) {
    // A $ref cycle that never moves into the value recurses until the stack runs out.
    if (err instanceof RangeError) throw new ValidationTooComplex("the schema recurses without bound on these values");
    throw err;
  }
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
