import { applyD1Migrations, env } from "cloudflare:test";

// Each test file gets isolated storage; apply the D1 migrations to it before the tests run.
await applyD1Migrations(env.DB, (env as unknown as { TEST_MIGRATIONS: Parameters<typeof applyD1Migrations>[1] }).TEST_MIGRATIONS);
