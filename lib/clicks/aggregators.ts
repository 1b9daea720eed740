import { cyrb53 } from "../cyrb";

/**
 * Which ClickAggregator merges a cell's partial counts (docs/clicks-pipeline.md, "Shard → aggregator").
 * A cell (campaign, ad, region) belongs to one aggregator whatever its minute, so all of a cell's
 * partial counts from every shard meet in one object and reach D1 as one upsert per aggregator flush.
 * Hashing the whole (campaign, ad, region) rather than the campaign spreads a hot campaign's cells over
 * every aggregator (an aggregator's cost is per cell, and one campaign may have thousands).
 */
export function aggregatorOfCell(campaign: string, ad: string, region: string, count: number): number {
  return cyrb53(campaignAdRegion(campaign, ad, region)) % count;
}

/** One string per (campaign, ad, region): what a cell's owner hashes. */
const campaignAdRegion = (campaign: string, ad: string, region: string): string => `${campaign}\u0000${ad}\u0000${region}`;

/** The aggregator that sums one arrival minute's ingest statistics. */
export function aggregatorOfMinute(minute: number, count: number): number {
  return Math.floor(minute / 60_000) % count;
}

export const aggregatorName = (i: number): string => `agg:${i}`;
