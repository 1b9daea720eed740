import { readFileSync } from "node:fs";
import { UsageError } from "./errors.ts";

/**
 * Reads a file (or stdin for `-`) as text; a missing or unreadable file is a usage error.
 */
export function readText(path: string): string {
  try {
    return path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new UsageError(`cannot read ${path === "-" ? "stdin" : path}: ${why}`);
  }
}

/**
 * Reads and parses a JSON file, reporting the file and position of a syntax error.
 */
export function readJsonFile(path: string): { text: string; value: unknown } {
  const text = readText(path);
  try {
    return { text, value: JSON.parse(text) };
  } catch (e) {
    throw new UsageError(`${path === "-" ? "stdin" : path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Reads a JSON file that must hold an object (config values, a schema).
 * `what` names it in errors, e.g. "config values".
 */
export function readJsonObject(path: string, what: string): { text: string; value: Record<string, unknown> } {
  const r = readJsonFile(path);
  if (!r.value || typeof r.value !== "object" || Array.isArray(r.value)) throw new UsageError(`${path}: ${what} must be a JSON object`);
  return { text: r.text, value: r.value as Record<string, unknown> };
}
