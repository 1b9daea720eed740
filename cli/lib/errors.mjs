/**
 * Failures the CLI knows how to report, and the exit code each maps to:
 *   1 — the API answered with an error (or reported a failure, e.g. a broken audit chain)
 *   2 — usage error (bad flags or arguments, unreadable input files)
 *   3 — the server could not be reached
 */
export const EXIT = Object.freeze({ OK: 0, API: 1, USAGE: 2, CONNECTION: 3 });

/** The server answered with a non-2xx status. `body` is the parsed `{"error": {...}}` when there was one. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} details
   * @param {{method: string, path: string}} request
   */
  constructor(status, code, message, details, request) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.request = request;
    this.exitCode = EXIT.API;
  }
}

/** The server could not be reached at all (refused, DNS, timeout, TLS). */
export class ConnectionError extends Error {
  /** @param {string} url @param {string} reason */
  constructor(url, reason) {
    super(`cannot reach ${url}: ${reason}`);
    this.name = "ConnectionError";
    this.url = url;
    this.exitCode = EXIT.CONNECTION;
  }
}

/** A usage problem found by the CLI itself (not by commander): bad file, bad flag value. */
export class UsageError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "UsageError";
    this.exitCode = EXIT.USAGE;
  }
}

/** A failure that is neither: the command ran, and the result is a failure (e.g. audit verify). */
export class FailureError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "FailureError";
    this.exitCode = EXIT.API;
  }
}

/**
 * Detail items that point at a place in a document: validation issues from the server come as
 * `{pointer, message}` (schema) or `{path, message}` (request/plan validation).
 * @param {unknown} details
 * @returns {{where: string, message: string}[] | null}
 */
export function pointerIssues(details) {
  const list = Array.isArray(details)
    ? details
    : details && typeof details === "object" && Array.isArray(/** @type {any} */ (details).errors)
      ? /** @type {any} */ (details).errors
      : details && typeof details === "object" && Array.isArray(/** @type {any} */ (details).issues)
        ? /** @type {any} */ (details).issues
        : null;
  if (!list || list.length === 0) return null;
  if (!list.every((i) => i && typeof i === "object" && typeof i.message === "string")) return null;
  return list.map((i) => {
    const where = i.pointer ?? i.path ?? i.instancePath ?? i.instanceLocation ?? "";
    return { where: Array.isArray(where) ? "/" + where.join("/") : String(where), message: i.message };
  });
}

/**
 * Human lines for an API error: the message with status and code, then validation issues one per
 * line with their JSON pointers, or other details as JSON.
 * @param {ApiError} err
 * @param {{red: (s: string) => string, dim: (s: string) => string, bold: (s: string) => string}} c
 * @returns {string[]}
 */
export function formatApiError(err, c) {
  const lines = [`${c.red("error:")} ${err.message} ${c.dim(`(HTTP ${err.status} ${err.code})`)}`];
  const issues = pointerIssues(err.details);
  if (issues) {
    for (const i of issues) lines.push(`  ${c.bold(i.where || "/")}: ${i.message}`);
  } else if (err.details !== null && err.details !== undefined) {
    lines.push(`  ${c.dim("details:")} ${JSON.stringify(err.details)}`);
  }
  if (err.status === 401) lines.push(c.dim("  hint: pass a valid token with --token, EDGEPLANE_TOKEN or `edgeplane login`"));
  return lines;
}
