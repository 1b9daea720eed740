import { readFileSync } from "node:fs";
import { UsageError } from "./errors.mjs";

/**
 * Reads a file (or stdin for `-`) as text; a missing or unreadable file is a usage error.
 * @param {string} path
 */
export function readText(path) {
  try {
    return path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch (e) {
    const code = /** @type {NodeJS.ErrnoException} */ (e).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : /** @type {Error} */ (e).message;
    throw new UsageError(`cannot read ${path === "-" ? "stdin" : path}: ${why}`);
  }
}

/**
 * Reads and parses a JSON file, reporting the file and position of a syntax error.
 * @param {string} path
 * @returns {{text: string, value: unknown}}
 */
export function readJsonFile(path) {
  const text = readText(path);
  try {
    return { text, value: JSON.parse(text) };
  } catch (e) {
    throw new UsageError(`${path === "-" ? "stdin" : path} is not valid JSON: ${/** @type {Error} */ (e).message}`);
  }
}

/**
 * Reads a JSON file that must hold an object (config values, a schema).
 * @param {string} path
 * @param {string} what e.g. "config values"
 */
export function readJsonObject(path, what) {
  const r = readJsonFile(path);
  if (!r.value || typeof r.value !== "object" || Array.isArray(r.value)) throw new UsageError(`${path}: ${what} must be a JSON object`);
  return { text: r.text, value: /** @type {Record<string, unknown>} */ (r.value) };
}
