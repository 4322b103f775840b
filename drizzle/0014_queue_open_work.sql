-- Work that was waiting in the old per-table queues becomes jobs (server/jobs), so an upgraded
-- installation loses none of it.
INSERT INTO "jobs" ("kind", "key", "payload", "max_attempts")
SELECT 'inspect-image', "id"::text, jsonb_build_object('imageId', "id"), 3 FROM "images" WHERE "inspection_state" IN ('pending', 'running')
ON CONFLICT DO NOTHING;
--> statement-breakpoint
INSERT INTO "jobs" ("kind", "key", "payload", "max_attempts")
SELECT 'list-changes', "session_id"::text, jsonb_build_object('sessionId', "session_id"), 3 FROM "change_sets" WHERE "state" IN ('pending', 'running')
ON CONFLICT DO NOTHING;
--> statement-breakpoint
INSERT INTO "jobs" ("kind", "key", "payload", "max_attempts")
SELECT 'finish-session', "id"::text, jsonb_build_object('sessionId', "id"), 3 FROM "sessions" WHERE "state" IN ('stopping', 'saving') AND "finish_mode" IS NOT NULL
ON CONFLICT DO NOTHING;
