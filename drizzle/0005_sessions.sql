CREATE TYPE "public"."finish_mode" AS ENUM('incremental', 'independent', 'discard');--> statement-breakpoint
CREATE TYPE "public"."session_state" AS ENUM('requested', 'provisioning', 'running', 'stopping', 'saving', 'saved', 'discarded', 'failed', 'host_lost');--> statement-breakpoint
CREATE TYPE "public"."vm_type" AS ENUM('compatible', 'fast');--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"machine_id" uuid NOT NULL,
	"image_id" uuid NOT NULL,
	"host_id" uuid,
	"vm_type" "vm_type" NOT NULL,
	"state" "session_state" DEFAULT 'requested' NOT NULL,
	"finish_mode" "finish_mode",
	"cpus" integer,
	"memory_bytes" bigint,
	"overlay_file" text,
	"vnc_socket_path" text,
	"saved_image_id" uuid,
	"problem" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"running_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"last_input_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_host_id_hypervisor_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hypervisor_hosts"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_saved_image_id_images_id_fk" FOREIGN KEY ("saved_image_id") REFERENCES "public"."images"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "sessions_user_idx" ON "sessions" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "sessions_host_state_idx" ON "sessions" USING btree ("host_id","state");