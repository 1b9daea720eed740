#!/usr/bin/env node
// The edgeplane CLI: publish and roll out config, inspect the audit log, manage tokens and click links.
// Exit codes: 0 ok, 1 API error or reported failure, 2 usage error, 3 server unreachable.
import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { register as registerAudit } from "./commands/audit.ts";
import { register as registerClicks } from "./commands/clicks.ts";
import { register as registerGet } from "./commands/get.ts";
import { register as registerLogin } from "./commands/login.ts";
import { register as registerNamespace } from "./commands/namespace.ts";
import { register as registerRollout } from "./commands/rollout.ts";
import { register as registerTokens } from "./commands/tokens.ts";
import { register as registerTypes } from "./commands/types.ts";
import { register as registerVersions } from "./commands/versions.ts";
import { colorEnabled, colors } from "./lib/colors.ts";
import { ApiError, EXIT, exitCodeOf, formatApiError } from "./lib/errors.ts";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

/** Options every command accepts, before or after the command name. */
function commonOptions(): Option[] {
  return [
    new Option("--url <url>", "edgeplane server URL (env EDGEPLANE_URL; default http://127.0.0.1:8787)"),
    new Option("--token <token>", "API token (env EDGEPLANE_TOKEN, or `edgeplane login`)"),
    new Option("--json", "print the raw API JSON (for scripts)"),
    new Option("--no-color", "no colours (also NO_COLOR=1, or when output is not a terminal)"),
  ];
}

const EXIT_HELP = `
Configuration (highest first): --url/--token flags, EDGEPLANE_URL/EDGEPLANE_TOKEN,
the config file written by \`edgeplane login\` (~/.config/edgeplane/config.json or $EDGEPLANE_CONFIG).

Exit codes: 0 success, 1 API error (or a reported failure such as a broken audit chain or a rollout
that ended rolled back), 2 usage error, 3 the server cannot be reached.`;

/** Builds the command tree. Exported for tests. */
export function buildProgram(): Command {
  const program = new Command("edgeplane")
    .description("Operate edgeplane: config namespaces, versions, staged rollouts, audit, tokens and click links.")
    .version(pkg.version, "-V, --version")
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError()
    .addHelpText("after", EXIT_HELP);
  for (const o of commonOptions()) program.addOption(o);

  registerNamespace(program);
  registerVersions(program);
  registerRollout(program);
  registerGet(program);
  registerAudit(program);
  registerTokens(program);
  registerClicks(program);
  registerTypes(program);
  registerLogin(program);

  // Leaf commands accept the common options after their name too (`edgeplane namespace list --json`),
  // except where a leaf already uses the name for itself (clicks link --url is the landing URL).
  const visit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      if (sub.commands.length === 0 || sub.name() === "audit") {
        for (const o of commonOptions()) if (!sub.options.some((x) => x.long === o.long)) sub.addOption(o);
      }
      visit(sub);
    }
  };
  visit(program);
  return program;
}

/** Renders a failure on stderr and returns its exit code. */
export function reportError(err: unknown): number {
  const c = colors(colorEnabled(process.stderr));
  if (err instanceof CommanderError) {
    // commander already printed its message; --help and --version are successes.
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT.OK;
    return EXIT.USAGE;
  }
  if (err instanceof ApiError) {
    for (const line of formatApiError(err, c)) process.stderr.write(line + "\n");
    return EXIT.API;
  }
  const e = err as Error | null;
  const code = exitCodeOf(err);
  if (code !== null) {
    process.stderr.write(`${c.red("error:")} ${e?.message}\n`);
    return code;
  }
  process.stderr.write(`${c.red("error:")} unexpected failure: ${e?.message ?? String(err)}\n`);
  if (process.env.EDGEPLANE_DEBUG) process.stderr.write(String(e?.stack) + "\n");
  return EXIT.API;
}

const isMain = process.argv[1] && new URL(import.meta.url).pathname === (await import("node:fs")).realpathSync(process.argv[1]);
if (isMain) {
  // Piped into `head`: stop quietly instead of crashing on EPIPE.
  process.stdout.on("error", (e) => {
    if ((e as NodeJS.ErrnoException).code === "EPIPE") process.exit(0);
    throw e;
  });
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}
