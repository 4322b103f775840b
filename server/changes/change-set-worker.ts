// The change-set job: a durable queue on the change_sets table. A worker claims one pending
// change set (FOR UPDATE SKIP LOCKED, so several servers never take the same one), diffs the
// session's two images (diff-images.ts) and records every change in one transaction, so a crash
// leaves either no rows or all of them. A claim older than STALE_CLAIM_MINUTES was left by a
// crashed worker and is taken again.
import { and, eq, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { db } from "@/db/client";
import { changeSets, fileChanges, images } from "@/db/schema";
import { queueAutomaticApplyBack } from "@/server/apply-back/apply-requests";
import { storePath } from "@/server/images/store";
import { diffImages } from "./diff-images";

const STALE_CLAIM_MINUTES = 30;
const ROWS_PER_INSERT = 1000;

/** Makes the next pending change set, if any; true when one was taken. */
export async function diffNextChangeSet(): Promise<boolean> {
  const claimed = await db().execute<{ session_id: string; claimed_ms: string }>(sql`
    update ${changeSets} set state = 'running', claimed_at = date_trunc('milliseconds', now()) -- a JavaScript Date holds it exactly
    where session_id = (
      select session_id from ${changeSets}
      where state = 'pending'
         or (state = 'running' and claimed_at < now() - make_interval(mins => ${STALE_CLAIM_MINUTES}))
      order by created_at limit 1 for update skip locked
    )
    returning session_id, (extract(epoch from claimed_at) * 1000)::bigint::text as claimed_ms`);
  const sessionId = claimed[0]?.session_id;
  // Every write below holds only while this claim is the current one: a worker that took longer
  // than STALE_CLAIM_MINUTES and was overtaken by another leaves its result unwritten.
  const claimedAt = new Date(Number(claimed[0]?.claimed_ms));
  if (!sessionId) return false;
  const baseImage = alias(images, "base_image");
  const [files] = await db()
    .select({ base: baseImage.file, next: images.file })
    .from(changeSets)
    .innerJoin(baseImage, eq(baseImage.id, changeSets.baseImageId))
    .innerJoin(images, eq(images.id, changeSets.imageId))
    .where(eq(changeSets.sessionId, sessionId));
  try {
    if (!files) throw new Error("its images are gone");
    const diff = await diffImages({ file: storePath(files.base), format: "qcow2" }, { file: storePath(files.next), format: "qcow2" });
    await db().transaction(async (tx) => {
      const [mine] = await tx
        .select({ sessionId: changeSets.sessionId })
        .from(changeSets)
        .where(and(eq(changeSets.sessionId, sessionId), eq(changeSets.state, "running"), eq(changeSets.claimedAt, claimedAt)))
        .for("update");
      if (!mine) return;
      await tx.delete(fileChanges).where(eq(fileChanges.sessionId, sessionId)); // a crashed worker's rows, if any
      for (let i = 0; i < diff.changes.length; i += ROWS_PER_INSERT) {
        await tx.insert(fileChanges).values(diff.changes.slice(i, i + ROWS_PER_INSERT).map((change) => ({ sessionId, ...change })));
      }
      await tx
        .update(changeSets)
        .set({ state: "done", filesystems: diff.filesystems, finishedAt: new Date() })
        .where(eq(changeSets.sessionId, sessionId));
      await queueAutomaticApplyBack(tx, sessionId);
    });
  } catch (error) {
    // The detail (tool output, store paths) is for the administrator's log, not the user's page.
    console.error(`Listing the changes of session ${sessionId} failed:`, error);
    const problem = "Listing the changes failed: the images could not be read. The saved image itself is kept; an administrator can find the reason in the server log.";
    await db()
      .update(changeSets)
      .set({ state: "failed", problem, finishedAt: new Date() })
      .where(and(eq(changeSets.sessionId, sessionId), eq(changeSets.state, "running"), eq(changeSets.claimedAt, claimedAt)));
  }
  return true;
}
