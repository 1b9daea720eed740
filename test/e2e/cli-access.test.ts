import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, freePort, E2E_ADMIN_TOKEN, type DevServer } from "./server";
import { cliFor, runCli, scratchDir, writeJson } from "./cli-run";

// Tokens, connection resolution, login and every failure mode of the CLI, against a real `wrangler dev`.
let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
});
afterAll(async () => {
  await server?.dispose();
});

describe("tokens", () => {
  it("creates (printed once, alone on stdout), lists and revokes; a revoked token gets exit 1 with the 401 message", async () => {
    const cli = cliFor(server.url, E2E_ADMIN_TOKEN);
    const created = await cli(["tokens", "create", "--name", "ci-bot", "--role", "viewer", "--namespaces", "checkout,search"]);
    expect(created.code, created.stderr).toBe(0);
    const secret = created.stdout.trim();
    expect(secret.split("\n")).toHaveLength(1);
    expect(secret.length).toBeGreaterThan(20);
    expect(created.stderr).toMatch(/created viewer token (\S+) \(ci-bot\) for namespaces checkout,search/);
    const id = /created viewer token (\S+)/.exec(created.stderr)![1];

    const list = await cli(["tokens", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+ci-bot\\s+viewer\\s+checkout,search\\s+.*active`));
    expect(list.stdout).not.toContain(secret);
    const listed = JSON.parse((await cli(["tokens", "list", "--json"])).stdout);
    expect(listed.tokens.find((t: { id: string }) => t.id === id)).toMatchObject({ name: "ci-bot", role: "viewer" });
    expect(JSON.stringify(listed)).not.toContain(secret);

    // The new token works for what its role allows…
    const asViewer = await cli(["audit", "--limit", "1"], { EDGEPLANE_TOKEN: secret });
    expect(asViewer.code, asViewer.stderr).toBe(0);
    // …and gets a clear 403 for what it does not.
    const forbidden = await cli(["tokens", "list"], { EDGEPLANE_TOKEN: secret });
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/HTTP 403/);

    const revoked = await cli(["tokens", "revoke", id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked token ${id}`);
    // Positive auth lookups are cached per isolate for a couple of seconds (workers/lib/auth.ts): poll.
    let after = await cli(["audit", "--limit", "1"], { EDGEPLANE_TOKEN: secret });
    for (let i = 0; i < 40 && after.code === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await cli(["audit", "--limit", "1"], { EDGEPLANE_TOKEN: secret });
    }
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^error: .+ \(HTTP 401 unauthorized\)$/m);
    expect(after.stderr).not.toContain(secret);
    expect((await cli(["tokens", "list"])).stdout).not.toMatch(new RegExp(`${id}\\s`));
    expect((await cli(["tokens", "list", "--all"])).stdout).toMatch(new RegExp(`${id}\\s+ci-bot.*revoked`));
    const missing = await cli(["tokens", "revoke", "tok_does_not_exist"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 404 token_not_found/);
    // With --json the server's error document also goes to stdout, for scripts.
    const missingJson = await cli(["tokens", "revoke", "tok_does_not_exist", "--json"]);
    expect(missingJson.code).toBe(1);
    expect(JSON.parse(missingJson.stdout)).toMatchObject({ status: 404, error: { code: "token_not_found" } });

    const json = JSON.parse((await cli(["tokens", "create", "--name", "j", "--role", "reader", "--json"])).stdout);
    expect(json).toMatchObject({ name: "j", role: "reader", namespaces: ["*"] });
    expect(typeof json.token).toBe("string");
  });

  it("rejects bad token arguments as usage errors", async () => {
    const cli = cliFor(server.url, E2E_ADMIN_TOKEN);
    const badRole = await cli(["tokens", "create", "--name", "x", "--role", "root"]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toContain("Allowed choices are reader, viewer, publisher, approver, admin");
    expect((await cli(["tokens", "create", "--role", "admin"])).code).toBe(2);
    expect((await cli(["tokens", "revoke"])).code).toBe(2);
  });
});

describe("connection, precedence and login", () => {
  it("without a token prints a clear 401 message", async () => {
    const r = await cliFor(server.url, null)(["namespace", "list"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*Authorization.* \(HTTP 401 unauthorized\)$/m);
    expect(r.stderr).toContain("hint: pass a valid token with --token, EDGEPLANE_TOKEN or `edgeplane login`");
  });

  it("exits 3 with 'cannot reach' when nothing listens", async () => {
    const port = await freePort();
    const r = await runCli(["namespace", "list", "--url", `http://127.0.0.1:${port}`, "--token", "t"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach http://127.0.0.1:${port}: connection refused`);
    expect(r.stderr).not.toContain("t\n");
    const viaEnv = await runCli(["audit", "verify"], { env: { EDGEPLANE_URL: `http://127.0.0.1:${port}` } });
    expect(viaEnv.code).toBe(3);
  });

  it("exits 2 on bad usage", async () => {
    for (const args of [["frobnicate"], ["namespace"], ["versions"], ["versions", "ns", "abc"], ["audit", "--limit", "0"], ["rollout", "start", "ns", "1"], ["clicks", "top", "--since", "soon"], ["namespace", "list", "--url", "ftp://x"]]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/error|Usage/);
    }
    expect((await runCli(["--help"])).code).toBe(0);
    expect((await runCli(["--version"])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("takes flags over env over the config file, and login writes the file with mode 0600", async () => {
    const home = scratchDir();
    const cfg = join(home, "cfg", "edgeplane.json");
    // A wrong token in the environment loses to a right one on the command line.
    const flagWins = await runCli(["audit", "verify", "--url", server.url, "--token", E2E_ADMIN_TOKEN], { home, env: { EDGEPLANE_TOKEN: "wrong", EDGEPLANE_URL: "http://127.0.0.1:9" } });
    expect(flagWins.code, flagWins.stderr).toBe(0);
    // Options also work before the command name.
    expect((await runCli(["--url", server.url, "--token", E2E_ADMIN_TOKEN, "audit", "verify"], { home })).code).toBe(0);

    const badLogin = await runCli(["login", "--url", server.url, "--token", "wrong"], { home, env: { EDGEPLANE_CONFIG: cfg } });
    expect(badLogin.code).toBe(1);
    expect(badLogin.stderr).toContain("HTTP 401");
    const login = await runCli(["login", "--url", server.url, "--token", E2E_ADMIN_TOKEN], { home, env: { EDGEPLANE_CONFIG: cfg } });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`saved ${server.url} and token to ${cfg} (mode 0600)`);
    expect(login.stdout + login.stderr).not.toContain(E2E_ADMIN_TOKEN);
    expect(statSync(cfg).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(cfg, "utf8"))).toEqual({ url: server.url, token: E2E_ADMIN_TOKEN });

    // From the file alone…
    expect((await runCli(["audit", "verify"], { home, env: { EDGEPLANE_CONFIG: cfg } })).code).toBe(0);
    // …env beats the file…
    const envWins = await runCli(["audit", "verify"], { home, env: { EDGEPLANE_CONFIG: cfg, EDGEPLANE_TOKEN: "wrong" } });
    expect(envWins.code).toBe(1);
    expect(envWins.stderr).toContain("HTTP 401");
    // …and the default location is ~/.config/edgeplane/config.json.
    expect((await runCli(["login", "--url", server.url, "--token", E2E_ADMIN_TOKEN], { home })).code).toBe(0);
    expect(statSync(join(home, ".config", "edgeplane", "config.json")).mode & 0o777).toBe(0o600);
    expect((await runCli(["tokens", "list"], { home })).code).toBe(0);

    const broken = writeJson(home, "broken.json", "{not json");
    const r = await runCli(["audit", "verify"], { home, env: { EDGEPLANE_CONFIG: broken } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not valid JSON");
  });
});
