import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, injectCoordinatorFaults, stubFor, uniqueNs } from "./config-helpers";
import { versionKey } from "../../lib/config/kv-keys";

/**
 * Fault tolerance under concurrency: many writers racing on one namespace's RolloutCoordinator, and
 * many coordinators plus token creations racing on the one global audit hash chain in D1. Every
 * expectation is computed here from what the test sent, never read back from the server first.
 */

interface Entry {
  seq: number;
  ts: string;
  action: string;
  actor: string;
  namespace: string | null;
  version: number | null;
  rollout_id: string | null;
  details: any;
  prev_hash: string;
  hash: string;
}

/** sha256:<hex> of a JSON text computed here (objects below are built with sorted keys, so JSON.stringify is canonical). */
async function sha256Of(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return "sha256:" + [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Values with keys in code-point order: feature < limits < name. */
const valuesFor = (i: number) => ({ feature: i % 2 === 0, limits: { max: i }, name: `value-${i}` });

/** Rows still waiting in a coordinator's outbox (audit, KV, read model). */
async function outboxSize(ns: string): Promise<number> {
  const run = runInDurableObject as unknown as (stub: DurableObjectStub, fn: (i: unknown, s: DurableObjectState) => number) => Promise<number>;
  return run(stubFor(ns), (_i, state) => Number(state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n));
}

/** Runs each coordinator's alarm (as the runtime would after a failed or deferred drain) until its outbox is empty. */
async function drainOutboxes(namespaces: string[]): Promise<void> {
  let left = namespaces;
  for (let round = 0; round < 50 && left.length > 0; round++) {
    const sizes = await Promise.all(left.map(outboxSize));
    left = left.filter((_, i) => sizes[i] > 0);
    await Promise.all(left.map((ns) => runDurableObjectAlarm(stubFor(ns))));
    if (left.length > 0) await new Promise((r) => setTimeout(r, 200)); // KV release writes are spaced ≥ 1 s apart
  }
  for (const ns of namespaces) expect(await outboxSize(ns), `outbox of ${ns} drained`).toBe(0);
}

/** The whole audit log, oldest first, through the API (paged with `after`). */
async function wholeAudit(): Promise<Entry[]> {
  const all: Entry[] = [];
  let after = 0;
  for (;;) {
    const r = await api("GET", `/admin/v1/audit?after=${after}&limit=1000`);
    expect(r.status).toBe(200);
    all.push(...r.body.entries);
    if (r.body.next_after === null) return all;
    after = r.body.next_after;
  }
}

async function nsAudit(ns: string): Promise<Entry[]> {
  const r = await api("GET", `/admin/v1/audit?namespace=${ns}&limit=1000`);
  expect(r.status).toBe(200);
  return r.body.entries;
}

/** The chain verifies, seqs are 1..n without gaps, and each entry links to the one before it. */
async function expectSoundChain(): Promise<Entry[]> {
  const all = await wholeAudit();
  const v = await api("GET", "/admin/v1/audit/verify");
  expect(v.status).toBe(200);
  expect(v.body).toMatchObject({ ok: true, checked: all.length, first_bad_seq: null });
  expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
  for (let i = 1; i < all.length; i++) expect(all[i].prev_hash).toBe(all[i - 1].hash);
  expect(v.body.head).toBe(all[all.length - 1].hash);
  return all;
}

const LONG_BAKE_PLAN = { stages: [{ regions: ["eu"], percent: 10, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 0 }] };

describe("concurrent publishers on one namespace", () => {
  it("30 concurrent publishes from several tokens get versions 1..30, each with the values and hash posted", async () => {
    const ns = uniqueNs("race");
    await createNamespace(ns);
    const tokens = await Promise.all([tokenFor("publisher", [ns]), tokenFor("publisher", ["*"]), tokenFor("admin", [ns])]);
    const N = 30;
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        api("POST", `/admin/v1/namespaces/${ns}/versions`, { token: tokens[i % tokens.length], body: { values: valuesFor(i), message: `publisher ${i}` } }),
      ),
    );
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(201);
    const versions = answers.map((a) => a.body.version as number);
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1));

    // Each version holds exactly what its publisher posted, under the hash computed here.
    for (let i = 0; i < N; i++) {
      const expectedHash = await sha256Of(JSON.stringify(valuesFor(i)));
      expect(answers[i].body.hash).toBe(expectedHash);
      const got = await api("GET", `/admin/v1/namespaces/${ns}/versions/${versions[i]}`);
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ version: versions[i], hash: expectedHash, values: valuesFor(i), message: `publisher ${i}` });
    }
    const listed = await api("GET", `/admin/v1/namespaces/${ns}/versions?limit=100`);
    expect(listed.body.versions.map((v: { version: number }) => v.version)).toEqual(Array.from({ length: N }, (_, i) => N - i));
    expect((await api("GET", `/admin/v1/namespaces/${ns}`)).body.latest_version).toBe(N);

    // One version.created per version, in version order within the global chain.
    await drainOutboxes([ns]);
    const created = (await nsAudit(ns)).filter((e) => e.action === "version.created");
    expect(created.map((e) => e.version)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    for (const e of created) expect(e.details.hash).toBe(answers[versions.indexOf(e.version!)].body.hash);
    await expectSoundChain();
  });

  it("concurrent retries with one Idempotency-Key create exactly one version; a different body under that key is refused", async () => {
    const ns = uniqueNs("idem-race");
    await createNamespace(ns);
    const same = { values: valuesFor(1), message: "deploy 7" };
    const other = { values: valuesFor(2), message: "deploy 7, edited" };
    const key = "deploy-7";
    // 15 identical retries interleaved with 5 requests reusing the key for a different body.
    const bodies = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? other : same));
    const answers = await Promise.all(
      bodies.map((body) => api("POST", `/admin/v1/namespaces/${ns}/versions`, { body, headers: { "idempotency-key": key } })),
    );
    const winners = answers.filter((a) => a.status === 201);
    const losers = answers.filter((a) => a.status !== 201);
    // Whichever body committed first owns the key; every request with that body names the same version.
    expect(new Set(winners.map((a) => a.body.version))).toEqual(new Set([1]));
    const winningBody = bodies[answers.indexOf(winners[0])];
    expect(winners.length).toBe(bodies.filter((b) => b === winningBody).length);
    for (const l of losers) {
      expect(l.status).toBe(422);
      expect(l.body.error).toMatchObject({ code: "idempotency_key_reused", details: { version: 1 } });
    }
    expect(winners.filter((a) => a.headers.get("idempotency-replayed") !== "true").length).toBe(1);
    expect(winners[0].body.hash).toBe(await sha256Of(JSON.stringify(winningBody.values)));

    const listed = await api("GET", `/admin/v1/namespaces/${ns}/versions`);
    expect(listed.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
    await drainOutboxes([ns]);
    expect((await nsAudit(ns)).filter((e) => e.action === "version.created").length).toBe(1);
  });

  it("concurrent rollout starts: exactly one 201, every other 409 rollout_in_progress naming the winner", async () => {
    const ns = uniqueNs("start-race");
    await createNamespace(ns);
    const tokens = await Promise.all([tokenFor("publisher", [ns]), tokenFor("publisher", [ns]), tokenFor("admin", ["*"])]);
    for (let i = 1; i <= 3; i++) {
      expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: valuesFor(i) } })).status).toBe(201);
    }
    const N = 12;
    const answers = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { token: tokens[i % 3], body: { version: 1 + (i % 3), plan: LONG_BAKE_PLAN } }),
      ),
    );
    const won = answers.filter((a) => a.status === 201);
    expect(won.length).toBe(1);
    const winner = won[0].body;
    expect(winner.state).toBe("running");
    for (const a of answers.filter((x) => x.status !== 201)) {
      expect(a.status).toBe(409);
      expect(a.body.error).toMatchObject({ code: "rollout_in_progress", details: { rollout_id: winner.rollout_id, state: "running" } });
    }
    const current = await api("GET", `/admin/v1/namespaces/${ns}/rollouts/current`);
    expect(current.body).toMatchObject({ rollout_id: winner.rollout_id, state: "running" });
    const all = await api("GET", `/admin/v1/namespaces/${ns}/rollouts`);
    expect(all.body.rollouts.length).toBe(1);

    await drainOutboxes([ns]);
    const audit = await nsAudit(ns);
    expect(audit.filter((e) => e.action === "version.created").map((e) => e.version)).toEqual([1, 2, 3]);
    expect(audit.filter((e) => e.action === "rollout.started").map((e) => e.rollout_id)).toEqual([winner.rollout_id]);
    await expectSoundChain();
  });
});

describe("other races on one namespace", () => {
  it("concurrent PUTs of a new namespace: one 201, the rest 200, one namespace.created", async () => {
    const ns = uniqueNs("put-race");
    const schema = { type: "object", properties: { feature: { type: "boolean" } }, required: ["feature"] };
    const answers = await Promise.all(Array.from({ length: 10 }, () => api("PUT", `/admin/v1/namespaces/${ns}`, { body: { schema, description: "same" } })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    for (const a of answers) expect(a.body).toMatchObject({ name: ns, description: "same", latest_version: 0 });
    await drainOutboxes([ns]);
    // identical bodies: one creation and no updates
    expect((await nsAudit(ns)).map((e) => e.action)).toEqual(["namespace.created"]);
    await expectSoundChain();
  });

  it("concurrent pause/resume/promote/abort: every 200 is one audit entry, every refusal is a 409 invalid_state, and the end state is consistent", async () => {
    const ns = uniqueNs("ctl-race");
    await createNamespace(ns);
    for (let i = 1; i <= 2; i++) expect((await api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: valuesFor(i) } })).status).toBe(201);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: 1, plan: "immediate" } })).body.state).toBe("completed");
    const plan = { stages: [{ regions: ["eu"], percent: 10, bake_seconds: 3600 }, { regions: ["na"], percent: 50, bake_seconds: 3600 }, { regions: "*", percent: 100, bake_seconds: 3600 }] };
    const id = (await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: 2, plan } })).body.rollout_id as string;
    const actions = ["pause", "resume", "promote", "pause", "resume", "promote", "pause", "resume", "abort", "promote", "resume", "pause"];
    const answers = await Promise.all(actions.map((a) => api("POST", `/admin/v1/namespaces/${ns}/rollouts/${id}/${a}`)));
    const applied: string[] = [];
    answers.forEach((r, i) => {
      if (r.status === 200) applied.push(actions[i]);
      else {
        expect(r.status, JSON.stringify(r.body)).toBe(409);
        expect(r.body.error.code).toBe("invalid_state");
      }
    });
    await drainOutboxes([ns]);
    const audit = (await nsAudit(ns)).filter((e) => e.rollout_id === id);
    const past = { pause: "rollout.paused", resume: "rollout.resumed", promote: "rollout.promoted", abort: "rollout.aborted" } as Record<string, string>;
    const controlEntries = audit.filter((e) => Object.values(past).includes(e.action)).map((e) => e.action);
    expect([...controlEntries].sort()).toEqual(applied.map((a) => past[a]).sort());
    const final = await api("GET", `/admin/v1/namespaces/${ns}/rollouts/${id}`);
    const release = await api("GET", `/admin/v1/namespaces/${ns}/release`);
    if (applied.includes("abort")) {
      expect(final.body.state).toBe("aborted");
      expect(controlEntries[controlEntries.length - 1]).toBe("rollout.aborted");
      for (const r of Object.values(release.body.regions) as { candidate: number | null }[]) expect(r.candidate).toBeNull();
    } else if (applied.filter((a) => a === "promote").length === plan.stages.length) {
      // promoting past the last stage completes the rollout
      expect(final.body.state).toBe("completed");
      for (const r of Object.values(release.body.regions) as { stable: number; candidate: number | null }[]) expect(r).toMatchObject({ stable: 2, candidate: null });
    } else {
      expect(["running", "paused"]).toContain(final.body.state);
    }
    // promotes that were applied advanced the stage (at most to the last one)
    const advanced = audit.filter((e) => e.action === "rollout.advanced").length;
    expect(advanced).toBeLessThanOrEqual(applied.filter((a) => a === "promote").length);
    await expectSoundChain();
  });

  it("concurrent revocations of one token: all answer 200 with the stored revocation time, one token.revoked", async () => {
    const created = await api("POST", "/admin/v1/tokens", { body: { name: "revoke-race", role: "reader", namespaces: ["*"] } });
    expect(created.status).toBe(201);
    const answers = await Promise.all(Array.from({ length: 8 }, () => api("DELETE", `/admin/v1/tokens/${created.body.id}`)));
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(200);
    const revoked = (await wholeAudit()).filter((e) => e.action === "token.revoked" && e.details.token_id === created.body.id);
    expect(revoked.length).toBe(1);
    const stored = (await api("GET", "/admin/v1/tokens?limit=1000")).body.tokens.find((t: { id: string }) => t.id === created.body.id);
    expect(stored.revoked_at).toBe(revoked[0].ts);
    for (const a of answers) expect(a.body.revoked_at).toBe(stored.revoked_at);
    expect((await api("GET", "/v1/configs/anything", { token: created.body.token })).status).toBe(401);
    await expectSoundChain();
  });
});

describe("concurrent publishers while deliveries fail and the coordinator is evicted", () => {
  it("every version commits; after eviction and the retries, KV holds every blob and the audit each version once, in order", async () => {
    const ns = uniqueNs("faulty-race");
    await createNamespace(ns);
    await drainOutboxes([ns]);
    // The next KV writes and D1 audit appends fail (wrapped bindings of the live instance, in memory only).
    await injectCoordinatorFaults(ns, { kv: 10_000, d1: 10_000 });

    const post = (i: number) => api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: valuesFor(i), message: `m${i}` } });
    const first = await Promise.all(Array.from({ length: 12 }, (_, i) => post(i)));
    // committed, but nothing delivered: every row waits in the outbox
    expect(await outboxSize(ns)).toBeGreaterThanOrEqual(12 * 2);
    expect(await env.CONFIG_KV.get(versionKey(ns, 1))).toBeNull();
    // eviction drops the instance (and its in-memory fault counters), not the outbox
    await evictDurableObject(stubFor(ns));
    const second = await Promise.all(Array.from({ length: 12 }, (_, i) => post(12 + i)));
    const answers = [...first, ...second];
    for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBe(201);
    const versions = answers.map((a) => a.body.version as number);
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));

    await drainOutboxes([ns]);
    for (let i = 0; i < answers.length; i++) {
      const blob = JSON.parse((await env.CONFIG_KV.get(versionKey(ns, versions[i])))!);
      expect(blob).toMatchObject({ namespace: ns, version: versions[i], hash: await sha256Of(JSON.stringify(valuesFor(i))), values: valuesFor(i) });
    }
    const created = (await nsAudit(ns)).filter((e) => e.action === "version.created");
    expect(created.map((e) => e.version)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    expect((await api("GET", `/admin/v1/namespaces/${ns}`)).body.latest_version).toBe(24);
    await expectSoundChain();
  });
});

describe("the audit hash chain under concurrency", () => {
  it("changes in many namespaces and token creations at once: chain verifies, seqs contiguous, each event exactly once", async () => {
    const namespaces = Array.from({ length: 12 }, () => uniqueNs("chain"));
    const VERSIONS = 4;
    const TOKENS = 30;
    const before = (await wholeAudit()).length;

    // Every namespace: create, then publish concurrently, then start a rollout — all namespaces and
    // all token creations at the same time.
    const perNamespace = namespaces.map(async (ns) => {
      await createNamespace(ns);
      const pubs = await Promise.all(
        Array.from({ length: VERSIONS }, (_, i) => api("POST", `/admin/v1/namespaces/${ns}/versions`, { body: { values: valuesFor(i), message: `m${i}` } })),
      );
      for (const p of pubs) expect(p.status, JSON.stringify(p.body)).toBe(201);
      const ro = await api("POST", `/admin/v1/namespaces/${ns}/rollouts`, { body: { version: 1, plan: LONG_BAKE_PLAN } });
      expect(ro.status, JSON.stringify(ro.body)).toBe(201);
      return ro.body.rollout_id as string;
    });
    const tokenAnswers = Array.from({ length: TOKENS }, (_, i) =>
      api("POST", "/admin/v1/tokens", { body: { name: `chain-token-${i}`, role: i % 2 ? "reader" : "viewer", namespaces: [namespaces[i % namespaces.length]] } }),
    );
    const rollouts = await Promise.all(perNamespace);
    const tokens = await Promise.all(tokenAnswers);
    for (const t of tokens) expect(t.status, JSON.stringify(t.body)).toBe(201);

    await drainOutboxes(namespaces);
    const all = await expectSoundChain();
    const added = all.slice(before);

    // Per namespace: exactly the events its changes produced, in the order they happened.
    for (const [k, ns] of namespaces.entries()) {
      const mine = added.filter((e) => e.namespace === ns);
      expect(mine.map((e) => e.action)).toEqual(["namespace.created", ...Array(VERSIONS).fill("version.created"), "rollout.started"]);
      expect(mine.filter((e) => e.action === "version.created").map((e) => e.version)).toEqual([1, 2, 3, 4]);
      expect(mine[mine.length - 1].rollout_id).toBe(rollouts[k]);
    }
    // Every token creation exactly once, and nothing else appeared.
    const created = added.filter((e) => e.action === "token.created").map((e) => e.details.token_id as string);
    expect([...created].sort()).toEqual(tokens.map((t) => t.body.id as string).sort());
    expect(added.length).toBe(namespaces.length * (VERSIONS + 2) + TOKENS);
  });
});
