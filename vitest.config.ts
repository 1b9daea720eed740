import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** Unit and workerd tests: they run inside workerd with real KV, D1, Durable Objects and alarms. */
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            ADMIN_TOKEN: "test-admin-token",
            CLICK_SIGNING_KEY: "test-click-signing-key",
            TRUST_REGION_HEADER: "true",
            FLUSH_INTERVAL_MS: "200",
            // aggregators write D1 at every flush in most tests; the ones about the D1 interval set their own
            D1_FLUSH_INTERVAL_MS: "200",
          },
        },
      }),
    ],
    test: {
      include: ["test/unit/**/*.test.ts", "test/workerd/**/*.test.ts"],
      setupFiles: ["./test/workerd/setup.ts"],
      // The machine has two cores and CI runs everything on it: generous timeouts, no timing asserts.
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
});
