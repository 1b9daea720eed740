// `edgeplane types NS`: TypeScript for a namespace's values from its JSON Schema, which type-checks
// against @edgeplane/client (the Namespaces registry), and refuses values the schema refuses.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliFor, scratchDir } from "./cli-run";
import { E2E_ADMIN_TOKEN, http, startDevServer, type DevServer } from "./server";

const CLIENT = fileURLToPath(new URL("../../packages/client/src/index.ts", import.meta.url));

let server: DevServer;
let cli: ReturnType<typeof cliFor>;

const SCHEMA = {
  type: "object",
  required: ["max_items"],
  additionalProperties: false,
  properties: {
    max_items: { type: "integer", minimum: 1, maximum: 100 },
    banner: { type: "string" },
    mode: { enum: ["fast", "safe"] },
    limits: { type: "object", properties: { per_user: { type: "number" } }, required: ["per_user"] },
  },
};

beforeAll(async () => {
  server = await startDevServer();
  cli = cliFor(server.url, E2E_ADMIN_TOKEN);
  expect((await http(server.url, "PUT", "/admin/v1/namespaces/checkout-limits", { body: { schema: SCHEMA } })).status).toBe(201);
});
afterAll(async () => {
  await server?.dispose();
});

/** Type errors of `usage` compiled together with the generated declarations and the client's source. */
function typeErrors(generated: string, usage: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-types-"));
  writeFileSync(join(dir, "checkout.types.ts"), generated);
  writeFileSync(join(dir, "usage.ts"), usage);
  const program = ts.createProgram([join(dir, "checkout.types.ts"), join(dir, "usage.ts")], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
    types: [],
    paths: { "@edgeplane/client": [CLIENT] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
}

describe("edgeplane types", () => {
  it("emits types that accept what the schema accepts and refuse what it refuses", async () => {
    const r = await cli(["types", "checkout-limits"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("export interface CheckoutLimits");
    expect(r.stdout).toContain('"checkout-limits": CheckoutLimits;');
    const usage = `
      import type { Namespaces } from "@edgeplane/client";
      export const ok: Namespaces["checkout-limits"] = { max_items: 3, banner: "spring", mode: "safe", limits: { per_user: 2 } };
      export const minimal: Namespaces["checkout-limits"] = { max_items: 3 };
      // @ts-expect-error max_items is an integer, not a string
      export const wrongType: Namespaces["checkout-limits"] = { max_items: "3" };
      // @ts-expect-error max_items is required
      export const missing: Namespaces["checkout-limits"] = { banner: "x" };
      // @ts-expect-error mode is one of fast | safe
      export const badEnum: Namespaces["checkout-limits"] = { max_items: 1, mode: "slow" };
      // @ts-expect-error additionalProperties: false
      export const extra: Namespaces["checkout-limits"] = { max_items: 1, nope: true };
    `;
    expect(typeErrors(r.stdout, usage)).toEqual([]);
    // The check itself can fail: without the generated augmentation the registry has no such key.
    expect(typeErrors("export {};\n", usage).length).toBeGreaterThan(0);
  });

  it("writes --out with --name, and refuses a bad name or an unknown namespace", async () => {
    const out = join(scratchDir(), "limits.ts");
    const r = await cli(["types", "checkout-limits", "--name", "Limits", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("export interface Limits");
    expect((await cli(["types", "checkout-limits", "--name", "not-an-identifier"])).code).toBe(2);
    const missing = await cli(["types", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 404 namespace_not_found/);
  });
});
