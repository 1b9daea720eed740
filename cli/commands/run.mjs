import { contextFor } from "../lib/context.mjs";

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
    await handler(ctx, ...args.slice(0, -1));
  };
}
