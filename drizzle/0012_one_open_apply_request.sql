CREATE UNIQUE INDEX "apply_requests_one_open_idx" ON "apply_requests" USING btree ("session_id","machine_id") WHERE state in ('pending', 'notified', 'applying');--> statement-breakpoint
-- Automatic apply-back now needs the password to turn on: machines set to it before, without
-- that confirmation, go back to asking first.
UPDATE "machines" SET "apply_back_mode" = 'prompt' WHERE "apply_back_mode" = 'auto';
