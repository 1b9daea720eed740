import { ConnectionError, EdgeplaneError } from "@edgeplane/client";

/**
 * Failures the CLI knows how to report, and the exit code each maps to:
 *   1 — the API answered with an error (or reported a failure, e.g. a broken audit chain)
 *   2 — usage error (bad flags or arguments, unreadable input files)
 *   3 — the server could not be reached
 */
export const EXIT = Object.freeze({ OK: 0, API: 1, USAGE: 2, CONNECTION: 3 });

/** The server answered with a non-2xx status: the client's error, `{"error": {...}}` parsed. */
export { EdgeplaneError as ApiError, ConnectionError };

/** A usage problem found by the CLI itself (not by commander): bad file, bad flag value. */
export class UsageError extends Error {
  readonly exitCode = EXIT.USAGE;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure that is neither: the command ran, and the result is a failure (e.g. audit verify). */
export class FailureError extends Error {
  readonly exitCode = EXIT.API;
  constructor(message: string) {
    super(message);
    this.name = "FailureError";
  }
}

/** The exit code of a failure. */
export function exitCodeOf(err: unknown): number | null {
  if (err instanceof EdgeplaneError) return EXIT.API;
  if (err instanceof ConnectionError) return EXIT.CONNECTION;
  if (err instanceof UsageError || err instanceof FailureError) return err.exitCode;
  return null;
}

interface Issue {
  message: string;
  pointer?: unknown;
  path?: unknown;
  instancePath?: unknown;
  instanceLocation?: unknown;
}

/**
 * Detail items that point at a place in a document: validation issues from the server come as
 * `{pointer, message}` (schema) or `{path, message}` (request/plan validation).
 */
export function pointerIssues(details: unknown): { where: string; message: string }[] | null {
  const d = details as { errors?: unknown; issues?: unknown } | null;
  const list: unknown = Array.isArray(details)
    ? details
    : d && typeof d === "object" && Array.isArray(d.errors)
      ? d.errors
      : d && typeof d === "object" && Array.isArray(d.issues)
        ? d.issues
        : null;
  if (!Array.isArray(list) || list.length === 0) return null;
  if (!list.every((i) => i && typeof i === "object" && typeof (i as Issue).message === "string")) return null;
  return (list as Issue[]).map((i) => {
    const where = i.pointer ?? i.path ?? i.instancePath ?? i.instanceLocation ?? "";
    return { where: Array.isArray(where) ? "/" + where.join("/") : String(where), message: i.message };
  });
}

/**
 * Human lines for an API error: the message with status and code, then validation issues one per
 * line with their JSON pointers, or other details as JSON.
 */
export function formatApiError(err: EdgeplaneError, c: { red: (s: string) => string; dim: (s: string) => string; bold: (s: string) => string }): string[] {
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
