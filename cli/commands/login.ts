import type { Command } from "commander";
import { configPath, resolveConnection, writeConfigFile } from "../lib/config.ts";
import { colorEnabled, colors } from "../lib/colors.ts";
import { ApiError, UsageError } from "../lib/errors.ts";
import { Client } from "../lib/http.ts";

/** `edgeplane login --url URL --token TOKEN`, `edgeplane whoami` */
export function register(program: Command): void {
  program
    .command("login")
    .description(`check a server URL and token, then save them (mode 0600) to ${configPath().replace(process.env.HOME ?? "\0", "~")} or $EDGEPLANE_CONFIG`)
    .option("--no-verify", "save without checking the server and token first")
    .action(async (opts: { verify: boolean }, command: Command) => {
      const all = command.optsWithGlobals<{ url?: string; token?: string; color?: boolean }>();
      const conn = resolveConnection({ url: all.url, token: all.token }, process.env, { skipFile: true });
      if (!conn.token) throw new UsageError("login needs a token: edgeplane login --url URL --token TOKEN (or EDGEPLANE_TOKEN)");
      const c = colors(colorEnabled(process.stdout, all));
      if (opts.verify) {
        const client = new Client({ url: conn.url, token: conn.token });
        await client.get("/healthz");
        try {
          // Any valid token gets past authentication here; a 403 only means the role cannot read the audit log.
          await client.admin.audit.list({ limit: 1 });
        } catch (e) {
          if (!(e instanceof ApiError && e.status === 403)) throw e;
        }
      }
      const path = configPath();
      writeConfigFile(path, { url: conn.url, token: conn.token });
      process.stdout.write(`${c.green("✓")} saved ${conn.url} and token to ${path} (mode 0600)\n`);
    });
}
