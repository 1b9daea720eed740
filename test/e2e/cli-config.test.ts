import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, http, E2E_ADMIN_TOKEN, type DevServer } from "./server";
import { CLI, cliFor, runCli, scratchDir, writeJson, type CliResult } from "./cli-run";

// The config half of the CLI end to end: a real `wrangler dev`, the CLI as a child process.
let server: DevServer;
let cli: ReturnType<typeof cliFor>;
let dir: string;

const SCHEMA = {
  type: "object",
  properties: { name: { type: "string" }, limit: { type: "integer", maximum: 10 }, flags: { type: "object" } },
  required: ["name"],
  additionalProperties: false,
};

const json = (r: CliResult) => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

beforeAll(async () => {
  server = await startDevServer({ REGIONS: "na,eu,as" });
  cli = cliFor(server.url, E2E_ADMIN_TOKEN);
  dir = scratchDir();
});
afterAll(async () => {
  await server?.dispose();
});

describe("namespaces", () => {
  it("creates, updates, lists and shows a namespace", async () => {
    const schema = writeJson(dir, "schema.json", SCHEMA);
    const created = await cli(["namespace", "create", "checkout", "--schema", schema, "--description", "Checkout flags"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain("created namespace checkout");
    const updated = await cli(["namespace", "create", "checkout", "--schema", schema, "--description", "Checkout feature flags"]);
    expect(updated.stdout).toContain("updated namespace checkout");

    const list = await cli(["namespace", "list"]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/NAMESPACE\s+LATEST/);
    expect(list.stdout).toMatch(/checkout\s+0\s+0/);
    expect(list.stdout).toContain("Checkout feature flags");
    const listJson = json(await cli(["namespace", "list", "--json"]));
    expect(listJson.namespaces.map((n: { name: string }) => n.name)).toContain("checkout");

    const show = await cli(["ns", "show", "checkout"]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/description\s+Checkout feature flags/);
    expect(show.stdout).toContain('"additionalProperties": false');
    expect(json(await cli(["namespace", "show", "checkout", "--json"])).schema).toEqual(SCHEMA);
  });

  it("reports an invalid schema with pointers and a missing namespace with 404", async () => {
    const bad = writeJson(dir, "bad-schema.json", { type: "strnig" });
    const r = await cli(["namespace", "create", "broken", "--schema", bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HTTP 422 invalid_schema/);
    expect(r.stderr).toMatch(/^ {2}\/type: /m);
    const missing = await cli(["namespace", "show", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 404/);
  });

  it("rejects usage mistakes locally with exit 2", async () => {
    expect((await cli(["namespace", "create", "Bad Name", "--schema", "x.json"])).code).toBe(2);
    expect((await cli(["namespace", "create", "ok", "--schema", `${dir}/missing.json`])).stderr).toMatch(/cannot read .*missing\.json: no such file/);
    expect((await cli(["namespace", "create", "ok", "--schema", `${dir}/missing.json`])).code).toBe(2);
    expect((await cli(["namespace", "create", "ok", "--schema", writeJson(dir, "s.json", SCHEMA), "--approvals", "2"])).code).toBe(2);
  });
});

describe("versions", () => {
  it("validates good and bad values, publishes idempotently, lists, shows and diffs", async () => {
    const v1 = writeJson(dir, "v1.json", { name: "a", limit: 5, flags: { beta: false } });
    const v2 = writeJson(dir, "v2.json", { name: "b", limit: 7, flags: { beta: true, gamma: 1 } });
    const bad = writeJson(dir, "bad.json", { limit: 50, extra: true });

    const ok = await cli(["validate", "checkout", v1]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("is valid for checkout");

    const invalid = await cli(["validate", "checkout", bad]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/HTTP 422 validation_failed/);
    // Every error on its own line with its JSON pointer.
    expect(invalid.stderr).toMatch(/^ {2}\/limit: .+$/m);
    expect(invalid.stderr).toMatch(/^ {2}\/extra: .+$/m);
    expect(invalid.stderr).toMatch(/^ {2}\/: .*name.*$/m);

    const notJson = await cli(["validate", "checkout", writeJson(dir, "nojson.json", "{oops")]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain("is not valid JSON");

    const p1 = await cli(["publish", "checkout", v1, "-m", "first"]);
    expect(p1.code, p1.stderr).toBe(0);
    expect(p1.stdout).toMatch(/published checkout v1 sha256:[0-9a-f]{64}/);
    // The same file and message again is a safe retry: the same version comes back.
    const retry = json(await cli(["publish", "checkout", v1, "-m", "first", "--json"]));
    expect(retry.version).toBe(1);
    const p2 = json(await cli(["publish", "checkout", v2, "-m", "second", "--json"]));
    expect(p2).toMatchObject({ version: 2 });
    expect(p2.hash).toMatch(/^sha256:/);
    const explicit = json(await cli(["publish", "checkout", v2, "-m", "second again", "--idempotency-key", "k-1", "--json"]));
    expect(explicit.version).toBe(3);

    const rejected = await cli(["publish", "checkout", bad, "-m", "bad"]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toMatch(/^ {2}\/extra: /m);
    expect((await cli(["publish", "checkout", v1])).code).toBe(2); // -m is required

    const versions = await cli(["versions", "checkout"]);
    expect(versions.code).toBe(0);
    const lines = versions.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/VERSION\s+CREATED\s+AUTHOR\s+HASH\s+MESSAGE/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["v3", "v2", "v1"]);
    expect(versions.stdout).toContain("second again");
    const limited = json(await cli(["versions", "checkout", "--limit", "2", "--json"]));
    expect(limited.versions.map((v: { version: number }) => v.version)).toEqual([3, 2]);
    expect(limited.next_cursor).not.toBeNull();
    const page2 = json(await cli(["versions", "checkout", "--limit", "2", "--cursor", String(limited.next_cursor), "--json"]));
    expect(page2.versions.map((v: { version: number }) => v.version)).toEqual([1]);

    const one = await cli(["versions", "checkout", "2"]);
    expect(one.stdout).toMatch(/message\s+second/);
    expect(one.stdout).toContain('"gamma": 1');

    const diff = await cli(["diff", "checkout", "1", "2"]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('~ /name: "a" → "b"');
    expect(diff.stdout).toContain("~ /limit: 5 → 7");
    expect(diff.stdout).toContain("~ /flags/beta: false → true");
    expect(diff.stdout).toContain("+ /flags/gamma: 1");
    const back = await cli(["diff", "checkout", "2", "1"]);
    expect(back.stdout).toContain("- /flags/gamma: 1");
    const diffJson = json(await cli(["diff", "checkout", "1", "2", "--json"]));
    expect(diffJson.patch).toEqual(expect.arrayContaining([{ op: "add", path: "/flags/gamma", value: 1 }]));
    expect((await cli(["diff", "checkout", "2", "2"])).stdout).toContain("no differences");
    // Colour only when asked for on a pipe (FORCE_COLOR), never with NO_COLOR (the runner's default).
    expect(diff.stdout).not.toContain("\x1b[");
    const coloured = await cli(["diff", "checkout", "1", "2"], { NO_COLOR: undefined, FORCE_COLOR: "1" });
    expect(coloured.stdout).toContain("\x1b[32m+ /flags/gamma: 1");
    expect(coloured.stdout).toContain("\x1b[33m~ /limit: 5 → 7");
    expect(back.stdout).toContain("- /flags/gamma");
    expect((await cli(["diff", "checkout", "2", "1"], { NO_COLOR: undefined, FORCE_COLOR: "1" })).stdout).toContain("\x1b[31m- /flags/gamma");
    expect((await cli(["diff", "checkout", "1", "99"])).code).toBe(1);
    // --no-color and --json work before the command name too, and beat FORCE_COLOR.
    expect((await cli(["--no-color", "diff", "checkout", "1", "2"], { NO_COLOR: undefined, FORCE_COLOR: "1" })).stdout).not.toContain("\x1b[");
    expect((await cli(["diff", "checkout", "1", "2", "--no-color"], { NO_COLOR: undefined, FORCE_COLOR: "1" })).stdout).not.toContain("\x1b[");
    expect(json(await cli(["--json", "diff", "checkout", "1", "2"])).patch).toEqual(diffJson.patch);
  });
});

describe("rollouts", () => {
  it("rolls out immediately and shows the status and release", async () => {
    const start = json(await cli(["rollout", "start", "checkout", "1", "--plan", "immediate", "--json"]));
    expect(start.rollout_id).toMatch(/\S/);
    expect(start.state).toBe("completed");
    const status = await cli(["rollout", "status", "checkout"]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`rollout ${start.rollout_id}`);
    expect(status.stdout).toContain("completed");
    expect(status.stdout).toMatch(/na\s+v1\s+-\s+100\.00%/);
    const release = await cli(["release", "checkout"]);
    expect(release.stdout).toMatch(/stable v1/);
    // What the edge serves a client now, and a pinned version.
    const got = await cli(["get", "checkout", "--client-id", "c-1", "--region", "eu"]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toMatch(/^version\s+v1$/m);
    expect(got.stdout).toMatch(/^etag\s+\S+/m);
    expect(got.stdout).toContain('"name": "a"');
    expect(json(await cli(["get", "checkout", "--version", "2", "--values-only"]))).toEqual({ name: "b", limit: 7, flags: { beta: true, gamma: 1 } });
    const nine = await cli(["get", "checkout", "--version", "99"]);
    expect(nine.code).toBe(1);
    expect(nine.stderr).toMatch(/HTTP 404 version_not_found/);
    expect(release.stdout).toMatch(/^eu\s+v1\s+-/m);
  });

  it("watches a short-bake rollout to completion without a TTY, one line per change", async () => {
    const plan = writeJson(dir, "plan.json", {
      stages: [
        { regions: ["eu"], percent: 50, bake_seconds: 1 },
        { regions: "*", percent: 100, bake_seconds: 1 },
      ],
    });
    const start = await cli(["rollout", "start", "checkout", "2", "--plan", plan]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toMatch(/started rollout \S+ of checkout v2 \(running\)/);
    const watch = await cli(["rollout", "status", "checkout", "--watch", "--interval", "0.3"]);
    expect(watch.code, watch.stderr).toBe(0);
    const lines = watch.stdout.trim().split("\n");
    expect(lines.every((l) => /^\d\d:\d\d:\d\d state=/.test(l))).toBe(true);
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines[lines.length - 1]).toMatch(/state=completed stage=2\/2 na=100\.00% eu=100\.00% as=100\.00%/);
    expect(watch.stdout).not.toContain("\x1b[");
    expect(watch.stderr).toContain("completed: checkout v2 everywhere");
    const rel = json(await cli(["release", "checkout", "--json"]));
    expect(rel.stable).toBe(2);
  });

  it("runs a canary with promote, pause, resume and abort; health shows in the status", async () => {
    const start = json(await cli(["rollout", "start", "checkout", "3", "--plan", "canary", "--json"]));
    const id = start.rollout_id;
    expect(start.state).toBe("running");
    const again = await cli(["rollout", "start", "checkout", "3", "--plan", "canary"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/HTTP 409 rollout_in_progress/);

    // Health reports from a client in the canary region show up per version.
    const rep = await http(server.url, "POST", "/v1/configs/checkout/reports", {
      headers: { "x-region": "na" },
      body: { reports: [{ client_id: "c1", version: 3, status: "ok" }, { client_id: "c2", version: 3, status: "error", error: "boom" }] },
    });
    expect(rep.status).toBe(202);
    const status = await cli(["rollout", "status", "checkout"]);
    expect(status.stdout).toMatch(/stage 1\/5: na at 1%, bake 10m00s — baked .* \/ 10m00s, next advance in /);
    expect(status.stdout).toMatch(/na\s+v2\s+v3\s+1\.00%/);
    expect(status.stdout).toContain("v3 (candidate): ok 1 error 1 (50.0%)");

    const promote = await cli(["rollout", "promote", "checkout"]);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stdout).toContain(`promote: rollout ${id} of checkout — now running, stage 2/5`);
    const paused = await cli(["rollout", "pause", "checkout", id]);
    expect(paused.stdout).toContain("now paused");
    expect((await cli(["rollout", "status", "checkout"])).stdout).toMatch(/paused, \S+ of bake left/);
    expect((await cli(["rollout", "pause", "checkout"])).code).toBe(1); // already paused → 409
    const resumed = json(await cli(["rollout", "resume", "checkout", "--json"]));
    expect(resumed.state).toBe("running");

    // A watcher started now ends when the rollout is aborted, with exit 1 (it did not complete).
    const watcher = cli(["rollout", "status", "checkout", id, "--watch", "--interval", "0.3"]);
    const abort = await cli(["rollout", "abort", "checkout"]);
    expect(abort.code, abort.stderr).toBe(0);
    expect(abort.stdout).toContain("now aborted");
    const watched = await watcher;
    expect(watched.code).toBe(1);
    expect(watched.stdout.trim().split("\n").pop()).toMatch(/state=aborted/);
    expect(watched.stderr).toMatch(/rollout \S+ ended aborted/);

    const rel = json(await cli(["release", "checkout", "--json"]));
    expect(Object.values(rel.regions).every((r: any) => r.stable === 2 && r.candidate === null)).toBe(true);
    const none = await cli(["rollout", "abort", "checkout"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no active rollout");
    const list = await cli(["rollout", "list", "checkout"]);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+v2 → v3\\s+aborted`));
  });

  it("rolls back automatically on a health-gate breach; the watcher exits 1 and streams JSON with --json", async () => {
    const start = await cli(["rollout", "start", "checkout", "3", "--plan", "canary", "--max-error-rate", "0.2", "--min-samples", "4", "--json"]);
    const id = json(start).rollout_id;
    const status = await cli(["rollout", "status", "checkout"]);
    expect(status.stdout).toContain("auto-rollback when error rate > 20% over ≥ 4 reports");
    const watcher = cli(["rollout", "status", "checkout", id, "--watch", "--interval", "0.3", "--json"]);
    const rep = await http(server.url, "POST", "/v1/configs/checkout/reports", {
      headers: { "x-region": "na" },
      body: { reports: [1, 2, 3, 4].map((i) => ({ client_id: `gate-${i}`, version: 3, status: i === 1 ? "ok" : "error" })) },
    });
    expect(rep.status).toBe(202);
    const watched = await watcher;
    expect(watched.code).toBe(1);
    const docs = watched.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(docs.every((d) => d.rollout_id === id)).toBe(true);
    expect(docs[docs.length - 1]).toMatchObject({ state: "rolled_back" });
    expect(docs[docs.length - 1].end_reason).toMatch(/automatic rollback/);
    expect(watched.stderr).toMatch(/ended rolled_back: automatic rollback/);
    const after = await cli(["rollout", "status", "checkout", id]);
    expect(after.stdout).toMatch(/rolled_back/);
    expect(after.stdout).toMatch(/ended: automatic rollback/);
  });

  it("redraws the watch in place with colour on a terminal", async () => {
    const hasScript = (await import("node:child_process")).spawnSync("script", ["--version"]).status === 0;
    if (!hasScript) return; // util-linux `script` provides the pseudo-terminal; nothing to check without it
    const plan = writeJson(dir, "plan-tty.json", { stages: [{ regions: ["eu"], percent: 50, bake_seconds: 1 }, { regions: "*", percent: 100, bake_seconds: 0 }] });
    const ver = writeJson(dir, "v4.json", { name: "tty" });
    const published = json(await cli(["publish", "checkout", ver, "-m", "tty", "--json"]));
    // One process starts and watches, so the 1 s stage cannot end before the watch begins (however slow the CLI starts).
    const inner = [process.execPath, CLI, "rollout", "start", "checkout", String(published.version), "--plan", plan, "--watch", "--interval", "0.3"].map((a) => `'${a}'`).join(" ");
    const tty = await runCli([], { command: ["script", "-qefc", inner, "/dev/null"], env: { EDGEPLANE_URL: server.url, EDGEPLANE_TOKEN: E2E_ADMIN_TOKEN, NO_COLOR: undefined, TERM: "xterm" } });
    expect(tty.code, tty.stdout + tty.stderr).toBe(0);
    expect(tty.stdout).toMatch(/\x1b\[\d+A/); // cursor up: the block is redrawn in place
    expect(tty.stdout).toContain("\x1b[2K");
    expect(tty.stdout).toMatch(/\x1b\[3\dm/); // colour
    expect(tty.stdout).toContain("█");
    expect(tty.stdout).toMatch(/completed/);
  });

  it("needs a second person to approve when the namespace asks for it", async () => {
    const schema = writeJson(dir, "schema2.json", SCHEMA);
    expect((await cli(["namespace", "create", "payments", "--schema", schema, "--approvals", "1"])).code).toBe(0);
    const v = writeJson(dir, "p1.json", { name: "p" });
    expect((await cli(["publish", "payments", v, "-m", "one"])).code).toBe(0);
    const start = await cli(["rollout", "start", "payments", "1", "--plan", "immediate"]);
    expect(start.stdout).toContain("(pending_approval)");
    expect(start.stderr).toContain("needs approval by another person");
    const self = await cli(["rollout", "approve", "payments"]);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/HTTP 403 self_approval/);
    const approver = json(await cli(["tokens", "create", "--name", "second pair of eyes", "--role", "approver", "--namespaces", "payments", "--json"]));
    const approved = await cli(["rollout", "approve", "payments"], { EDGEPLANE_TOKEN: approver.token });
    expect(approved.code, approved.stderr).toBe(0);
    const rel = json(await cli(["release", "payments", "--json"]));
    expect(rel.stable).toBe(1);
  });

  it("rolls back in an emergency and everything lands in a verifiable audit log", async () => {
    const rb = await cli(["rollback", "checkout", "--to", "1", "--reason", "bad limit in v2"]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(/rolled checkout back to v1 in every region \(generation \d+\)/);
    const rel = json(await cli(["release", "checkout", "--json"]));
    expect(Object.values(rel.regions).every((r: any) => r.stable === 1)).toBe(true);
    expect((await cli(["rollback", "checkout", "--to", "1"])).code).toBe(2); // --reason is required
    expect((await cli(["rollback", "checkout", "--to", "99", "--reason", "x"])).code).toBe(1);

    // Audit entries reach D1 through the coordinator's outbox: wait until every expected action is there.
    const expected = ["namespace.created", "version.created", "rollout.started", "rollout.advanced", "rollout.completed", "rollout.paused", "rollout.resumed", "rollout.promoted", "rollout.aborted", "release.rolled_back"];
    let audit: { entries: { action: string; namespace: string }[] } = { entries: [] };
    for (let i = 0; i < 50; i++) {
      audit = json(await cli(["audit", "--namespace", "checkout", "--limit", "100", "--json"]));
      if (expected.every((a) => audit.entries.some((e) => e.action === a))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const actions = audit.entries.map((e) => e.action);
    for (const a of expected) expect(actions).toContain(a);
    expect(audit.entries.every((e: { namespace: string }) => e.namespace === "checkout")).toBe(true);
    const table = await cli(["audit", "--namespace", "checkout", "--limit", "5"]);
    expect(table.stdout.split("\n")[0]).toMatch(/SEQ\s+TIME\s+ACTOR\s+ACTION/);
    expect(table.stdout.trim().split("\n").length).toBe(6);
    expect(table.stdout).toMatch(/^\d+\s+\S+ \S+\s+admin:bootstrap\s+release\.rolled_back\s+checkout\s+v1/m);

    const verify = await cli(["audit", "verify"]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit chain intact: \d+ entries/);
    expect(json(await cli(["audit", "verify", "--json"])).ok).toBe(true);
  });
});
