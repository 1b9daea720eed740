import { describe, expect, it } from "vitest";
import { api, tokenFor } from "./helpers";
import { createNamespace, publish, read, release, rollout, startRollout, uniqueNs } from "./config-helpers";

/**
 * Issue 9 §4: emergency rollback may only return to a version that has been released before (stable
 * in some region). Anything else would skip the namespace's approvals, so it is a 409.
 */
const LONG = 3600;

async function rollback(ns: string, to: number, token?: string) {
  return api("POST", `/admin/v1/namespaces/${ns}/rollback`, { body: { to_version: to, reason: "attack" }, token });
}

/** Namespace needing one approval, v1 released everywhere (approved by someone else), v2 published. */
async function guarded(prefix: string): Promise<{ ns: string; publisher: string; approver: string }> {
  const ns = uniqueNs(prefix);
  await createNamespace(ns, { approvals_required: 1 });
  const publisher = await tokenFor("publisher", [ns]);
  const approver = await tokenFor("approver", [ns]);
  await publish(ns, { feature: false, name: "one" }, publisher);
  const r = await startRollout(ns, 1, "immediate", publisher);
  expect(r.body.state).toBe("pending_approval");
  expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${r.body.rollout_id}/approve`, { token: approver })).status).toBe(200);
  expect((await release(ns)).stable).toBe(1);
  await publish(ns, { feature: true, name: "two" }, publisher);
  return { ns, publisher, approver };
}

async function expectRefused(ns: string, to: number, token?: string): Promise<void> {
  const before = await release(ns);
  const r = await rollback(ns, to, token);
  expect(r.status, JSON.stringify(r.body)).toBe(409);
  expect(r.body.error.code).toBe("version_never_released");
  expect(r.body.error.details).toMatchObject({ version: to });
  // Nothing changed: same release, and no region serves the refused version.
  const after = await release(ns);
  expect(after.generation).toBe(before.generation);
  expect(after.stable).toBe(before.stable);
  for (const region of ["na", "eu", "as"]) {
    const got = await read(ns, { region, client: "c1", gen: after.generation });
    if (got.status === 200) expect(got.body.version).not.toBe(to);
  }
}

describe("rollback only to released versions", () => {
  it("refuses a published, never rolled-out version (the approval bypass)", async () => {
    const { ns, publisher } = await guarded("never");
    await expectRefused(ns, 2, publisher);
    await expectRefused(ns, 2); // not even the admin: it is a rollout, with its approvals
  });

  it("refuses the version of a rollout waiting for approval, and leaves that rollout waiting", async () => {
    const { ns, publisher } = await guarded("pending");
    const r = await startRollout(ns, 2, "immediate", publisher);
    expect(r.body.state).toBe("pending_approval");
    await expectRefused(ns, 2, publisher);
    expect((await rollout(ns, r.body.rollout_id)).state).toBe("pending_approval");
  });

  it("refuses a candidate that never reached 100 % anywhere (approved, running at 10 %)", async () => {
    const { ns, publisher, approver } = await guarded("partial");
    const plan = { stages: [{ regions: ["eu"], percent: 10, bake_seconds: LONG }, { regions: "*", percent: 100, bake_seconds: 0 }] };
    const r = await startRollout(ns, 2, plan, publisher);
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${r.body.rollout_id}/approve`, { token: approver })).status).toBe(200);
    await expectRefused(ns, 2, publisher);
    // Aborting it does not make it released either.
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${r.body.rollout_id}/abort`, { token: publisher })).status).toBe(200);
    await expectRefused(ns, 2, publisher);
  });

  it("refuses every version of a namespace that has released nothing, with or without approvals", async () => {
    for (const approvals of [0, 1]) {
      const ns = uniqueNs(`fresh${approvals}`);
      await createNamespace(ns, { approvals_required: approvals });
      await publish(ns, { feature: true });
      await expectRefused(ns, 1);
    }
  });

  it("allows the stable version, earlier stable versions and a candidate that was at 100 % in a region", async () => {
    const ns = uniqueNs("allowed");
    await createNamespace(ns);
    for (let i = 1; i <= 4; i++) await publish(ns, { feature: i % 2 === 0, name: `v${i}` });
    expect((await startRollout(ns, 1, "immediate")).body.state).toBe("completed");
    expect((await startRollout(ns, 2, "immediate")).body.state).toBe("completed");
    // v3 reaches 100 % in eu only, then the rollout is aborted.
    const r3 = await startRollout(ns, 3, { stages: [{ regions: ["eu"], percent: 100, bake_seconds: LONG }, { regions: "*", percent: 100, bake_seconds: 0 }] });
    expect((await api("POST", `/admin/v1/namespaces/${ns}/rollouts/${r3.body.rollout_id}/abort`)).status).toBe(200);
    for (const to of [2, 1, 3, 2]) {
      const r = await rollback(ns, to);
      expect(r.status, `rollback to ${to}: ${JSON.stringify(r.body)}`).toBe(200);
      expect(r.body.stable).toBe(to);
    }
    await expectRefused(ns, 4);
  });
});
