import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { UsageError } from "./errors.ts";

export const DEFAULT_URL = "http://127.0.0.1:8787";

/** Where `edgeplane login` writes and every command reads: $EDGEPLANE_CONFIG or ~/.config/edgeplane/config.json. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGEPLANE_CONFIG) return env.EDGEPLANE_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "edgeplane", "config.json");
}

/**
 * Reads the config file; a missing file is an empty config, a broken one is a usage error.
 */
export function readConfigFile(path: string): { url?: string; token?: string; warning?: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new UsageError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let parsed: { url?: unknown; token?: unknown } | null;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`config file ${path} must hold a JSON object`);
  const out: { url?: string; token?: string; warning?: string } = {};
  if (typeof parsed.url === "string") out.url = parsed.url;
  if (typeof parsed.token === "string") out.token = parsed.token;
  try {
    if (process.platform !== "win32" && out.token && (statSync(path).mode & 0o077) !== 0) {
      out.warning = `config file ${path} holds a token and is readable by others; run: chmod 600 ${path}`;
    }
  } catch {
    /* stat failing right after a read is not worth failing the command */
  }
  return out;
}

/**
 * Writes `{url, token}` with mode 0600 (the directory 0700), replacing what was there.
 */
export function writeConfigFile(path: string, cfg: { url: string; token: string }): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify({ url: cfg.url, token: cfg.token }, null, 2) + "\n", { mode: 0o600 });
  chmodSync(path, 0o600);
}

/**
 * Where the URL and token come from: flags > environment > config file; URL defaults to local dev.
 */
export function resolveConnection(
  flags: { url?: string; token?: string },
  env: NodeJS.ProcessEnv = process.env,
  opts: { skipFile?: boolean } = {},
): { url: string; token: string | null; sources: { url: string; token: string }; warning?: string } {
  const file: { url?: string; token?: string; warning?: string } = opts.skipFile ? {} : readConfigFile(configPath(env));
  const pick = <F extends string | null>(flag: string | undefined, envVar: string | undefined, fromFile: string | undefined, fallback: F): [string | F, string] => {
    if (flag) return [flag, "flag"];
    if (envVar) return [envVar, "env"];
    if (fromFile) return [fromFile, "config"];
    return [fallback, "default"];
  };
  const [url, urlSource] = pick(flags.url, env.EDGEPLANE_URL, file.url, DEFAULT_URL);
  const [token, tokenSource] = pick(flags.token, env.EDGEPLANE_TOKEN, file.token, null);
  return { url: normalizeUrl(url), token, sources: { url: urlSource, token: tokenSource }, warning: file.warning };
}

export function normalizeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`invalid server URL '${raw}' (expected e.g. ${DEFAULT_URL})`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UsageError(`invalid server URL '${raw}': only http and https are supported`);
  return u.toString().replace(/\/+$/, "");
}
