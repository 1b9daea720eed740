import { canonicalJson, sha256Hex } from "./canonical-json";

/** The fields of an audit entry that the chain hash covers (everything but the hash itself). */
export interface AuditFields {
  seq: number;
  ts: string;
  actor: string;
  action: string;
  namespace: string | null;
  version: number | null;
  rollout_id: string | null;
  details: unknown;
}

export const GENESIS_HASH = "sha256:" + "0".repeat(64);

/** hash_n = sha256(hash_{n-1} + "\n" + canonical(entry_n)) */
export async function chainHash(prevHash: string, entry: AuditFields): Promise<string> {
  const body = canonicalJson({
    seq: entry.seq,
    ts: entry.ts,
    actor: entry.actor,
    action: entry.action,
    namespace: entry.namespace,
    version: entry.version,
    rollout_id: entry.rollout_id,
    details: entry.details ?? null,
  });
  return "sha256:" + (await sha256Hex(prevHash + "\n" + body));
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  head: string;
  first_bad_seq: number | null;
  reason: string | null;
}

/** Walks entries in seq order (starting at seq 1 or after a known-good anchor) and recomputes every link. */
export async function verifyChain(
  entries: Iterable<AuditFields & { hash: string }>,
  anchor: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): Promise<VerifyResult> {
  let prev = anchor.hash;
  let expectedSeq = anchor.seq + 1;
  let checked = 0;
  for (const e of entries) {
    if (e.seq !== expectedSeq) {
      return { ok: false, checked, head: prev, first_bad_seq: expectedSeq, reason: `missing or reordered entry: expected seq ${expectedSeq}, found ${e.seq}` };
    }
    const want = await chainHash(prev, e);
    if (want !== e.hash) {
      return { ok: false, checked, head: prev, first_bad_seq: e.seq, reason: `hash mismatch at seq ${e.seq}` };
    }
    prev = e.hash;
    expectedSeq++;
    checked++;
  }
  return { ok: true, checked, head: prev, first_bad_seq: null, reason: null };
}
