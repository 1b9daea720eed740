import { contextFor } from "../lib/context.mjs";
import { ApiError } from "../lib/errors.mjs";

/**
 * Wraps a command handler: builds the context (client, output) from the invoking command's options
 * and passes it first, then the positional arguments and the command's own options.
 * @param {(ctx: import("../lib/context.mjs").Ctx, ...args: any[]) => Promise<void> | void} handler
 * @param {{serverOption?: string}} [opts] `serverOption`: the leaf's own option naming the server URL,
 *   for commands whose `--url` means something else (clicks link)
 */
export function run(handler, opts = {}) {
  return async (/** @type {any[]} */ ...args) => {
    const command = args[args.length - 1];
    const ctx = contextFor(command, opts);
    try {
      await handler(ctx, ...args.slice(0, -1));
    } catch (e) {
      // With --json an API error is also printed as the server's JSON on stdout, for scripts.
      if (ctx.json && e instanceof ApiError) ctx.printJson({ error: { code: e.code, message: e.message, details: e.details ?? null }, status: e.status });
      throw e;
    }
  };
}
