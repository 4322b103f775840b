// The inspection job: a durable queue on the images table itself. A worker claims one pending
// image (FOR UPDATE SKIP LOCKED, so several servers never take the same one), inspects it and
// records the result; server/jobs/guestfs-worker.ts runs it. A claim older than
// STALE_CLAIM_MINUTES was left by a crashed worker and is taken again (not reset at start:
// another server's worker may be busy with it).
import { eq, sql } from "drizzle-orm";
import { db } from "@/db/client";
import { images } from "@/db/schema";
import { inspectImageFile } from "./inspect-image";
import { storePath } from "./store";

const STALE_CLAIM_MINUTES = 30;

/** Inspects the next pending image, if any; true when one was taken. */
export async function inspectNextImage(): Promise<boolean> {
  const claimed = await db().execute<{ id: string; file: string }>(sql`
    update ${images} set inspection_state = 'running', inspection_claimed_at = now()
    where id = (
      select id from ${images}
      where inspection_state = 'pending'
         or (inspection_state = 'running' and inspection_claimed_at < now() - make_interval(mins => ${STALE_CLAIM_MINUTES}))
      -- Newest first: the image a user just made is the one they are looking at.
      order by created_at desc limit 1 for update skip locked
    )
    returning id, file`);
  const image = claimed[0];
  if (!image) return false;
  try {
    const inspection = await inspectImageFile(storePath(image.file));
    await db().update(images).set({ inspectionState: "done", inspection: { ...inspection } }).where(eq(images.id, image.id));
  } catch (error) {
    console.error(`Inspecting image ${image.id} failed:`, error);
    const message = error instanceof Error ? error.message.slice(0, 500) : String(error);
    await db().update(images).set({ inspectionState: "failed", inspection: { error: message } }).where(eq(images.id, image.id));
  }
  return true;
}
