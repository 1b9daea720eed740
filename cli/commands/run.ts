import type { Command } from "commander";
import { contextFor, type Ctx } from "../lib/context.ts";
import { ApiError } from "../lib/errors.ts";

/**
 * Wraps a command handler: builds the context (client, output) from the invoking command's options
 * and passes it first, then the positional arguments and the command's own options.
 * `serverOption`: the leaf's own option naming the server URL, for commands whose `--url` means
 * something else (clicks link).
 */
// Commander hands positional arguments and options untyped; each handler declares what it reads.
export function run<A extends any[]>(handler: (ctx: Ctx, ...args: A) => Promise<void> | void, opts: { serverOption?: string } = {}) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args[args.length - 1] as Command;
    const ctx = contextFor(command, opts);
    try {
      await handler(ctx, ...(args.slice(0, -1) as A));
    } catch (e) {
      // With --json an API error is also printed as the server's JSON on stdout, for scripts.
      if (ctx.json && e instanceof ApiError) ctx.printJson({ error: { code: e.code, message: e.message, details: e.details ?? null }, status: e.status });
      throw e;
    }
  };
}
