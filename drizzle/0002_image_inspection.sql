CREATE TYPE "public"."inspection_state" AS ENUM('pending', 'running', 'done', 'failed');--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "inspection_state" "inspection_state" DEFAULT 'pending' NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "inspection_claimed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "inspection" jsonb;