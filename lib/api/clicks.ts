// Clicks: POST /v1/clicks, the metrics API (/api/v1/clicks/*) and signed links (/admin/v1/click-links).
// The Worker validates these inputs with its own parsers (lib/clicks/validate.ts event by event,
// lib/clicks/metrics-query.ts for repeated query parameters, workers/click-links.ts for link bodies);
// the schemas below describe the same inputs for clients and the OpenAPI document, and
// test/workerd/openapi.test.ts sends their examples to the routes.
import { z } from "zod";
import { Timestamp } from "./common.ts";

// ------------------------------------------------------------------ ingest

export const ClickEvent = z
  .object({
    click_id: z.string().regex(/^[A-Za-z0-9_\-:.]{8,128}$/).meta({ description: "the idempotency key of the click (8-128 of A-Z a-z 0-9 _ - : .)" }),
    campaign_id: z.string().min(1).max(64),
    ad_id: z.string().min(1).max(64),
    ts: z.number().int().meta({ description: "event time, epoch milliseconds" }),
    region: z.string().optional(),
  })
  .meta({ id: "ClickEvent" });
export const ClickBatch = z.object({ events: z.array(ClickEvent).min(1).max(1000) });
export const IngestResult = z.object({
  accepted: z.number().int(),
  rejected: z.array(z.object({ index: z.number().int(), code: z.enum(["invalid", "too_late", "future"]), message: z.string() })),
  duplicates: z.number().int().optional(),
});

// ------------------------------------------------------------------ metrics

const Instant = z.string().meta({ description: "RFC 3339 timestamp or epoch milliseconds" });
const Granularity = z.enum(["minute", "hour", "day"]);
const IdFilter = z.union([z.string(), z.array(z.string())]).meta({ description: "repeat the parameter for several values (at most 20)" });

export const MetricsParams = z.object({
  from: Instant.optional(),
  to: Instant.optional(),
  granularity: Granularity.optional(),
  group_by: z.string().meta({ description: "comma-separated: campaign, ad, region", example: "campaign,region" }).optional(),
  campaign_id: IdFilter.optional(),
  ad_id: IdFilter.optional(),
  region: IdFilter.optional(),
});
export const TopParams = z.object({
  from: Instant.optional(),
  to: Instant.optional(),
  by: z.enum(["campaign", "ad"]).optional(),
  limit: z.string().regex(/^\d{1,4}$/).meta({ description: "1-100, default 10" }).optional(),
  campaign_id: IdFilter.optional(),
  ad_id: IdFilter.optional(),
  region: IdFilter.optional(),
});
export const IngestStatsParams = z.object({ from: Instant.optional(), to: Instant.optional(), granularity: Granularity.optional() });

const DailyBefore = Timestamp.nullable().meta({
  description:
    "Minute cells of days before this instant were rolled up into whole days (CLICK_MINUTE_RETENTION_DAYS): windows before it are whole UTC days whatever the granularity, and from/to are widened to whole days there. Null when no day was rolled up yet.",
});

export const MetricsSeries = z.object({
  granularity: Granularity,
  from: Timestamp,
  to: Timestamp,
  daily_before: DailyBefore,
  group_by: z.array(z.enum(["campaign", "ad", "region"])),
  series: z.array(
    z.object({ window_start: Timestamp, campaign_id: z.string().optional(), ad_id: z.string().optional(), region: z.string().optional(), clicks: z.number().int() }),
  ),
});
export const TopClicks = z.object({
  by: z.enum(["campaign", "ad"]),
  from: Timestamp,
  to: Timestamp,
  daily_before: DailyBefore,
  items: z.array(z.object({ campaign_id: z.string(), ad_id: z.string().optional(), clicks: z.number().int() })),
});
const IngestCounts = { accepted: z.number().int(), duplicates: z.number().int(), too_late: z.number().int(), future: z.number().int(), invalid: z.number().int() };
export const IngestStats = z.object({
  granularity: Granularity,
  from: Timestamp,
  to: Timestamp,
  totals: z.object(IngestCounts),
  series: z.array(z.object({ window_start: Timestamp, ...IngestCounts })),
});

/**
 * GET /api/v1/clicks/pipeline: the shard epochs (CLICK_SHARDS history) and what waits at each hop —
 * buffers, shards, aggregators. All zero: every acknowledged click is in D1.
 */
export const PipelineState = z.object({
  epochs: z.array(z.object({ epoch: z.number().int(), shards: z.number().int(), since: Timestamp.nullable().meta({ description: "when the epoch began; null for the first" }) })),
  buffers: z
    .array(
      z.object({
        name: z.string(),
        pending_clicks: z.number().int().meta({ description: "acknowledged, not yet forwarded to the shards" }),
        pending_batches: z.number().int(),
        frozen_forward: z.number().int().nullable().meta({ description: "a forward some shards have not acknowledged yet" }),
      }),
    )
    .meta({ description: "CLICK_BUFFERS per location group, and the extra ones the answering isolate spread over under load (other isolates' extra buffers are not listed)" }),
  shards: z
    .array(
      z.object({
        name: z.string(),
        epoch: z.number().int(),
        open_entries: z.number().int().meta({ description: "counted cells not yet handed off to the aggregators" }),
        open_stats: z.number().int().meta({ description: "ingest-statistics rows not yet handed off" }),
        frozen_handoff: z.number().int().nullable().meta({ description: "a hand-off some aggregators have not acknowledged yet" }),
        dedup_keys: z.number().int(),
      }),
    )
    .meta({ description: "every shard of every epoch listed" }),
  aggregators: z
    .array(
      z.object({
        name: z.string(),
        open_cells: z.number().int(),
        open_stats: z.number().int(),
        frozen_flush: z.number().int().nullable(),
        ae_outbox: z.number().int(),
        sources: z.number().int().meta({ description: "shards that handed off to it" }),
      }),
    )
    .meta({ description: "one per CLICK_AGGREGATORS: cells waiting for D1 (a D1 outage shows here)" }),
});

// ------------------------------------------------------------------ signed links

export const CreateClickLink = z.object({
  campaign_id: z.string().min(1).max(64),
  ad_id: z.string().min(1).max(64),
  url: z.string().meta({ description: "the landing page (http or https)", example: "https://example.com/landing" }),
  ttl_seconds: z.number().int().min(1).max(30 * 86_400).optional().meta({ description: "default 7 days" }),
  click_id: z.string().regex(/^[A-Za-z0-9_\-:.]{8,128}$/).optional(),
});
export const ClickLinkCreated = z.object({
  url: z.string(),
  click_id: z.string(),
  expires_at: Timestamp,
  campaign_id: z.string(),
  ad_id: z.string(),
  landing_url: z.string(),
});

export type ClickEvent = z.infer<typeof ClickEvent>;
export type IngestResult = z.infer<typeof IngestResult>;
export type MetricsParams = z.input<typeof MetricsParams>;
export type TopParams = z.input<typeof TopParams>;
export type IngestStatsParams = z.input<typeof IngestStatsParams>;
export type MetricsSeries = z.infer<typeof MetricsSeries>;
export type TopClicks = z.infer<typeof TopClicks>;
export type IngestStats = z.infer<typeof IngestStats>;
export type PipelineState = z.infer<typeof PipelineState>;
/** @deprecated The same as PipelineState (named when the endpoint showed only the shard epochs); removed in the next release. */
export type PipelineEpochs = PipelineState;
export type CreateClickLinkBody = z.input<typeof CreateClickLink>;
export type ClickLinkCreated = z.infer<typeof ClickLinkCreated>;
