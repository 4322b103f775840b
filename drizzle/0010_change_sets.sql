CREATE TYPE "public"."change_kind" AS ENUM('added', 'modified', 'deleted');--> statement-breakpoint
CREATE TYPE "public"."change_set_state" AS ENUM('pending', 'running', 'done', 'failed');--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'changed_file_downloaded';--> statement-breakpoint
CREATE TABLE "change_sets" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"machine_id" uuid NOT NULL,
	"base_image_id" uuid NOT NULL,
	"image_id" uuid NOT NULL,
	"state" "change_set_state" DEFAULT 'pending' NOT NULL,
	"claimed_at" timestamp with time zone,
	"filesystems" jsonb,
	"problem" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "file_changes" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"session_id" uuid NOT NULL,
	"filesystem" text NOT NULL,
	"path" text NOT NULL,
	"change" "change_kind" NOT NULL,
	"aspects" text[] NOT NULL,
	"before" jsonb,
	"after" jsonb
);
--> statement-breakpoint
ALTER TABLE "change_sets" ADD CONSTRAINT "change_sets_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "change_sets" ADD CONSTRAINT "change_sets_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "change_sets" ADD CONSTRAINT "change_sets_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "change_sets" ADD CONSTRAINT "change_sets_base_image_id_images_id_fk" FOREIGN KEY ("base_image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "change_sets" ADD CONSTRAINT "change_sets_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "file_changes" ADD CONSTRAINT "file_changes_session_id_change_sets_session_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."change_sets"("session_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "change_sets_state_idx" ON "change_sets" USING btree ("state","created_at");--> statement-breakpoint
CREATE INDEX "change_sets_user_idx" ON "change_sets" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "file_changes_session_idx" ON "file_changes" USING btree ("session_id");