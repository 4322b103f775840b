CREATE TYPE "public"."image_kind" AS ENUM('base', 'incremental', 'independent');--> statement-breakpoint
CREATE TYPE "public"."image_origin" AS ENUM('agent', 'session');--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'machine_enrolled';--> statement-breakpoint
CREATE TABLE "image_uploads" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"machine_id" uuid NOT NULL,
	"parent_id" uuid,
	"kind" "image_kind" NOT NULL,
	"file" text NOT NULL,
	"virtual_size" bigint NOT NULL,
	"committed_offset" bigint DEFAULT 0 NOT NULL,
	"bytes_received" bigint DEFAULT 0 NOT NULL,
	"profile" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"taken_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_activity_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "images" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"machine_id" uuid NOT NULL,
	"parent_id" uuid,
	"kind" "image_kind" NOT NULL,
	"origin" "image_origin" NOT NULL,
	"file" text NOT NULL,
	"virtual_size" bigint NOT NULL,
	"bytes_stored" bigint NOT NULL,
	"profile" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"taken_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "agent_credential_hash" text;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "last_agent_image_id" uuid;--> statement-breakpoint
ALTER TABLE "image_uploads" ADD CONSTRAINT "image_uploads_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "image_uploads" ADD CONSTRAINT "image_uploads_parent_id_images_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_parent_id_images_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."images"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "images_machine_taken_idx" ON "images" USING btree ("machine_id","taken_at");--> statement-breakpoint
CREATE INDEX "images_parent_idx" ON "images" USING btree ("parent_id");--> statement-breakpoint
CREATE UNIQUE INDEX "machines_agent_credential_key" ON "machines" USING btree ("agent_credential_hash");