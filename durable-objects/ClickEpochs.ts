import { DurableObject } from "cloudflare:workers";
import { EPOCH_MARGIN_MS, type Epoch } from "../lib/clicks/epochs";
import { isBufferName } from "../lib/clicks/buffer-choice";
import { clickSettings } from "../lib/clicks/settings";
import { migrateSqlSchema } from "../lib/sql-migrations";

const MIGRATIONS = [
  `CREATE TABLE epochs (epoch INTEGER PRIMARY KEY, shards INTEGER NOT NULL, since INTEGER NOT NULL, version_ts INTEGER NOT NULL);`,
  // v2: the buffers that have forwarded lately, so that the pipeline view can list every one of them
  `CREATE TABLE buffers (name TEXT PRIMARY KEY, seen INTEGER NOT NULL);`,
];

/** A buffer is listed until it has not asked for the epochs for this long (it asks ≤ every 10 s while forwarding). */
export const BUFFER_LISTED_MS = 7 * 86_400_000;

/** What a Worker version proposes: its CLICK_SHARDS, and when that version was uploaded. */
export interface EpochProposal {
  shards: number;
  /** CF_VERSION_METADATA.timestamp as epoch ms (0 when unknown). */
  versionTs: number;
  /** The asking ClickBuffer's name: recorded, so that GET /api/v1/clicks/pipeline lists it. */
  buffer?: string | null;
}

/** The single registry object's name. */
export const EPOCHS_OBJECT = "click-epochs";

/**
 * The durable history of CLICK_SHARDS. Buffers propose their version's count when they plan forwards;
 * a proposal starts a new epoch only when its count differs and its Worker version is newer than the
 * one that set the current epoch. So during a gradual deployment the old version's proposals are
 * ignored (everyone plans in the registry's newest epoch, whatever its own var says), and a rollback to
 * an older version does not flip the count back. Read rarely: every caller caches the list for 10 s.
 */
export class ClickEpochs extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      migrateSqlSchema(this.sql, MIGRATIONS);
    });
  }

  epochs(proposal?: EpochProposal): Epoch[] {
    const now = Date.now();
    if (proposal && Number.isInteger(proposal.shards) && proposal.shards >= 1) {
      const ts = Number.isFinite(proposal.versionTs) ? proposal.versionTs : 0;
      const cur = this.sql
        .exec<{ epoch: number; shards: number; version_ts: number }>("SELECT epoch, shards, version_ts FROM epochs ORDER BY epoch DESC LIMIT 1")
        .toArray()[0];
      if (!cur) {
        this.sql.exec("INSERT INTO epochs (epoch, shards, since, version_ts) VALUES (1, ?, 0, ?)", proposal.shards, ts);
      } else if (ts > cur.version_ts) {
        if (proposal.shards !== cur.shards) {
          this.sql.exec("INSERT INTO epochs (epoch, shards, since, version_ts) VALUES (?, ?, ?, ?)", cur.epoch + 1, proposal.shards, now, ts);
        } else {
          this.sql.exec("UPDATE epochs SET version_ts = ? WHERE epoch = ?", ts, cur.epoch);
        }
      }
    }
    if (isBufferName(proposal?.buffer)) {
      this.sql.exec("INSERT INTO buffers (name, seen) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seen = excluded.seen", proposal.buffer, now);
    }
    this.prune(now);
    return this.sql.exec<{ epoch: number; shards: number; since: number }>("SELECT epoch, shards, since FROM epochs ORDER BY epoch").toArray();
  }

  /**
   * The buffers that asked for the epochs within BUFFER_LISTED_MS: every buffer that forwarded lately,
   * including those that isolates spread over under load (an isolate knows only its own slots).
   */
  buffers(): string[] {
    this.sql.exec("DELETE FROM buffers WHERE seen < ?", Date.now() - BUFFER_LISTED_MS);
    return this.sql.exec<{ name: string }>("SELECT name FROM buffers ORDER BY name").toArray().map((r) => r.name);
  }

  /** Forgets epochs retired for more than a day (their successor started > horizon + margin + 1 day ago). */
  private prune(now: number): void {
    const cutoff = now - clickSettings(this.env).horizonMs - EPOCH_MARGIN_MS - 86_400_000;
    this.sql.exec("DELETE FROM epochs WHERE epoch < (SELECT max(epoch) FROM epochs WHERE since < ?)", cutoff);
  }
}

/** When this Worker version was uploaded (epoch ms), 0 when the runtime does not say. */
export function versionTimestamp(env: Env): number {
  const ts = Date.parse((env as { CF_VERSION_METADATA?: { timestamp?: string } }).CF_VERSION_METADATA?.timestamp ?? "");
  return Number.isFinite(ts) ? ts : 0;
}

/**
 * A loader for EpochCache: asks the registry (proposing this version's CLICK_SHARDS when `propose`,
 * and naming the asking buffer when `buffer` gives one).
 */
export function epochLoader(env: Env, propose: boolean, buffer?: () => string | null): () => Promise<Epoch[]> {
  return async () => {
    const stub = env.CLICK_EPOCHS.get(env.CLICK_EPOCHS.idFromName(EPOCHS_OBJECT));
    const list = await stub.epochs(propose ? { shards: clickSettings(env).shards, versionTs: versionTimestamp(env), buffer: buffer?.() ?? null } : undefined);
    return list.map((e) => ({ epoch: e.epoch, shards: e.shards, since: e.since }));
  };
}
