ALTER TYPE "public"."apply_request_state" ADD VALUE 'undone';--> statement-breakpoint
ALTER TABLE "apply_requests" ADD COLUMN "undone_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "apply_requests" ADD COLUMN "undo_counts" jsonb;