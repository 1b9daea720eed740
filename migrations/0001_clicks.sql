CREATE TABLE `click_counts` (
	`window_start` integer NOT NULL,
	`campaign_id` text NOT NULL,
	`ad_id` text NOT NULL,
	`region` text NOT NULL,
	`clicks` integer NOT NULL,
	PRIMARY KEY(`window_start`, `campaign_id`, `ad_id`, `region`)
);
--> statement-breakpoint
CREATE INDEX `click_counts_campaign_idx` ON `click_counts` (`campaign_id`,`window_start`);--> statement-breakpoint
CREATE TABLE `click_flush_ledger` (
	`source` text NOT NULL,
	`flush_id` integer NOT NULL,
	`flushed_at` text NOT NULL,
	`cells` integer DEFAULT 0 NOT NULL,
	`clicks` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`source`, `flush_id`)
);
--> statement-breakpoint
CREATE TABLE `ingest_stats` (
	`window_start` integer NOT NULL,
	`source` text NOT NULL,
	`accepted` integer DEFAULT 0 NOT NULL,
	`duplicates` integer DEFAULT 0 NOT NULL,
	`too_late` integer DEFAULT 0 NOT NULL,
	`future` integer DEFAULT 0 NOT NULL,
	`invalid` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`window_start`, `source`)
);
