CREATE TYPE "public"."host_mode" AS ENUM('enabled', 'draining');--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'hypervisor_added';--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'hypervisor_mode_changed';--> statement-breakpoint
ALTER TYPE "public"."audit_action" ADD VALUE 'hypervisor_removed';--> statement-breakpoint
CREATE TABLE "hypervisor_hosts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"ssh_host" text NOT NULL,
	"ssh_port" integer DEFAULT 22 NOT NULL,
	"ssh_user" text NOT NULL,
	"ssh_private_key" text NOT NULL,
	"host_key_fingerprint" text NOT NULL,
	"libvirt_uri" text DEFAULT 'qemu:///system' NOT NULL,
	"mode" "host_mode" DEFAULT 'enabled' NOT NULL,
	"reachable" boolean DEFAULT true NOT NULL,
	"problem" text,
	"checked_at" timestamp with time zone,
	"cpus" integer NOT NULL,
	"memory_bytes" bigint NOT NULL,
	"kvm" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "hypervisor_hosts_name_idx" ON "hypervisor_hosts" USING btree ("name");