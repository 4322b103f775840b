CREATE TYPE "public"."vm_network" AS ENUM('none', 'nat');--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'vm_network_changed';--> statement-breakpoint
CREATE TABLE "app_settings" (
	"id" boolean PRIMARY KEY DEFAULT true NOT NULL,
	"vm_network" "vm_network" DEFAULT 'none' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "app_settings_one_row" CHECK ("app_settings"."id")
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "network" "vm_network" DEFAULT 'none' NOT NULL;