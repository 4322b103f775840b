CREATE TYPE "public"."apply_request_state" AS ENUM('pending', 'notified', 'applying', 'applied', 'applied_with_conflicts', 'failed', 'declined');--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'apply_back_requested';--> statement-breakpoint
CREATE TABLE "apply_requests" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"session_id" uuid NOT NULL,
	"machine_id" uuid NOT NULL,
	"excluded_change_ids" uuid[] DEFAULT '{}' NOT NULL,
	"state" "apply_request_state" DEFAULT 'pending' NOT NULL,
	"automatic" boolean DEFAULT false NOT NULL,
	"report" jsonb,
	"problem" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"notified_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "apply_requests" ADD CONSTRAINT "apply_requests_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "apply_requests" ADD CONSTRAINT "apply_requests_session_id_change_sets_session_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."change_sets"("session_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "apply_requests" ADD CONSTRAINT "apply_requests_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "apply_requests_machine_state_idx" ON "apply_requests" USING btree ("machine_id","state");--> statement-breakpoint
CREATE INDEX "apply_requests_session_idx" ON "apply_requests" USING btree ("session_id");