CREATE TYPE "public"."vm_firmware" AS ENUM('bios', 'uefi', 'uefi-secure-boot');--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "firmware" "vm_firmware" DEFAULT 'bios' NOT NULL;--> statement-breakpoint
-- Sessions before this ran with what their image's agent reported.
UPDATE "sessions" SET "firmware" = 'uefi' FROM "images" WHERE "images"."id" = "sessions"."image_id" AND "images"."profile"->>'firmware' = 'uefi';
