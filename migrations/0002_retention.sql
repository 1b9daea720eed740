CREATE TABLE `click_counts_daily` (
	`day` integer NOT NULL,
	`campaign_id` text NOT NULL,
	`ad_id` text NOT NULL,
	`region` text NOT NULL,
	`clicks` integer NOT NULL,
	PRIMARY KEY(`day`, `campaign_id`, `ad_id`, `region`)
);
--> statement-breakpoint
CREATE INDEX `click_counts_daily_campaign_idx` ON `click_counts_daily` (`campaign_id`,`day`);--> statement-breakpoint
CREATE INDEX `click_flush_ledger_flushed_idx` ON `click_flush_ledger` (`flushed_at`);