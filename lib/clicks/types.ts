/** A click that passed validation at the edge, in the shape the pipeline carries it. */
export interface NormalizedClick {
  click_id: string;
  campaign_id: string;
  ad_id: string;
  region: string;
  /** Event time, epoch milliseconds. */
  ts: number;
}

/** Per-request rejection counts, carried with the accepted clicks into the ingest statistics. */
export interface RejectionCounts {
  invalid: number;
  too_late: number;
  future: number;
}

export const NO_REJECTIONS: RejectionCounts = { invalid: 0, too_late: 0, future: 0 };
