// `npm start`: the whole system on this machine, no Cloudflare account needed.
import { applyMigrations, ensureDevVars, spawnWranglerDev } from "./wrangler-dev.mjs";

const port = Number(process.env.PORT ?? 8787);
ensureDevVars();
console.log("applying D1 migrations to local state (.wrangler/state)…");
applyMigrations();
console.log(`starting wrangler dev on http://127.0.0.1:${port}`);
const child = spawnWranglerDev({ port });
const stop = () => {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {}
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
child.on("exit", (code) => process.exit(code ?? 0));
