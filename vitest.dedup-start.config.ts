import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** `npm run bench:dedup-start`: the shard start-time measurement (test/workerd/dedup-start.measure.ts). */
export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: { bindings: { TEST_MIGRATIONS: migrations, ADMIN_TOKEN: "bench", CLICK_SIGNING_KEY: "bench" } },
      }),
    ],
    test: { include: ["test/workerd/dedup-start.measure.ts"], setupFiles: ["./test/workerd/setup.ts"], testTimeout: 1_800_000, hookTimeout: 600_000 },
  };
});
