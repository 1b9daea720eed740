import { defineConfig } from "vitest/config";

/** End-to-end tests: each file starts its own `wrangler dev` and talks HTTP to it. */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
