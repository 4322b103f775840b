ALTER TABLE "users" ADD COLUMN "idle_timeout_minutes" integer DEFAULT 60;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "default_finish_mode" "finish_mode" DEFAULT 'incremental' NOT NULL;