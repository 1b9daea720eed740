import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Shared by the CLI test files: runs `node cli/edgeplane.ts` as a child process. */
export const CLI = fileURLToPath(new URL("../../cli/edgeplane.ts", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A scratch directory with an isolated HOME/config so the developer's own config never leaks in. */
export function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), "edgeplane-cli-"));
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  return p;
}

/**
 * Runs the CLI with only the given environment (plus PATH), never inheriting EDGEPLANE_* from the
 * shell running the tests. Resolves with the exit code and both streams; never rejects on exit ≠ 0.
 */
export function runCli(
  args: string[],
  opts: { env?: Record<string, string | undefined>; home?: string; timeoutMs?: number; stdin?: string; command?: string[] } = {},
): Promise<CliResult> {
  const home = opts.home ?? scratchDir();
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: home, NO_COLOR: "1" };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolvePromise) => {
    // `command` replaces `node cli/edgeplane.ts` (e.g. to run it under `script` for a pseudo-terminal).
    const [file, ...fileArgs] = opts.command ?? [process.execPath, CLI, ...args];
    const child = execFile(file, fileArgs, { env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : -1) : 0;
      resolvePromise({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
    else child.stdin?.end();
  });
}

/** A CLI runner bound to one server and token. */
export function cliFor(url: string, token: string | null) {
  const home = scratchDir();
  return (args: string[], env: Record<string, string | undefined> = {}) =>
    runCli(args, { home, env: { EDGEPLANE_URL: url, ...(token ? { EDGEPLANE_TOKEN: token } : {}), ...env } });
}
