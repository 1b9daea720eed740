CREATE TABLE `audit_log` (
	`seq` integer PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`ts` text NOT NULL,
	`actor` text NOT NULL,
	`action` text NOT NULL,
	`namespace` text,
	`version` integer,
	`rollout_id` text,
	`details` text NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_event_idx` ON `audit_log` (`event_id`);--> statement-breakpoint
CREATE INDEX `audit_ns_idx` ON `audit_log` (`namespace`,`seq`);--> statement-breakpoint
CREATE TABLE `namespaces` (
	`name` text PRIMARY KEY NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`approvals_required` integer DEFAULT 0 NOT NULL,
	`latest_version` integer DEFAULT 0 NOT NULL,
	`active_rollout_id` text,
	`generation` integer DEFAULT 0 NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`namespaces` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_at` text NOT NULL,
	`created_by` text NOT NULL,
	`revoked_at` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash_idx` ON `tokens` (`token_hash`);