// Kept for plain-JS callers (bench/): the implementation is scripts/wrangler-dev.ts (Node 22 runs it as is).
export * from "./wrangler-dev.ts";
