import { drizzle } from "drizzle-orm/d1";
import { namespaces as namespacesTable } from "../../db/schema";
import { appendAudit } from "../../lib/audit-store";
import { releaseKey, versionKey } from "../../lib/config/kv-keys";
import type { OutboxSinks } from "../../lib/config/outbox";
import type { ReleaseState } from "../../lib/config/release";
import type { VersionBlob } from "../../lib/config/types";
import type { CoordinatorStore } from "./store";

/**
 * Where the coordinator's outbox delivers (lib/config/outbox.ts): version blobs and the release state
 * to KV, the namespace read model and the audit chain to D1. Each writes the coordinator's *current*
 * state, so a late or repeated delivery never moves a reader backwards.
 */
export function coordinatorSinks(
  env: Env,
  ns: string,
  store: CoordinatorStore,
  view: { releaseState(): ReleaseState; versionBlob(version: number): Promise<VersionBlob | null> },
): OutboxSinks {
  return {
    putVersionBlob: async (version) => {
      const blob = await view.versionBlob(version);
      if (blob) await env.CONFIG_KV.put(versionKey(ns, version), JSON.stringify(blob));
    },
    putRelease: () => env.CONFIG_KV.put(releaseKey(ns), JSON.stringify(view.releaseState())),
    upsertReadModel: () => upsertReadModel(env, store),
    appendAudit: async (entry) => {
      await appendAudit(env.DB, entry);
    },
  };
}

async function upsertReadModel(env: Env, store: CoordinatorStore): Promise<void> {
  const row = store.nsRow();
  if (!row) return;
  const values = {
    name: row.name,
    description: row.description,
    approvalsRequired: row.approvals_required,
    latestVersion: store.latestVersion(),
    activeRolloutId: store.activeRollout()?.id ?? null,
    generation: store.generation(),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  const { name: _n, createdAt: _c, ...update } = values;
  await drizzle(env.DB).insert(namespacesTable).values(values).onConflictDoUpdate({ target: namespacesTable.name, set: update });
}
