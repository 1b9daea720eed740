import type { NormalizedClick, RejectionCounts } from "../../lib/clicks/types";

export interface IngestResult {
  /** Duplicates, when the design knows them synchronously; undefined otherwise. */
  duplicates?: number;
}

/**
 * Makes validated clicks durable in the pipeline (a Durable Object) and resolves only when they are.
 * Shared by POST /v1/clicks and GET /c/:token. Implemented by the click-pipeline work.
 */
export async function ingestClicks(env: Env, clicks: NormalizedClick[], rejected: RejectionCounts): Promise<IngestResult> {
  void env;
  void clicks;
  void rejected;
  throw new Error("click pipeline not implemented yet");
}
