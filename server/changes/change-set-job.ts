// The change-set job: a saved session's file-level diff with the image it started from
// (diff-images.ts), recorded in one transaction — all of its rows or none — that also records an
// automatic apply-back request when the machine asks for one. The change_sets row says where it
// stands for the session page; the job holds the claim and the tries.
import { and, eq } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { z } from "zod";
import { db } from "@/db/client";
import { changeSets, fileChanges, images } from "@/db/schema";
import { queueAutomaticApplyBack } from "@/server/apply-back/apply-requests";
import { ConflictError, NotFoundError } from "@/server/errors";
import { storePath } from "@/server/images/store";
import { defineJob, PermanentJobError } from "@/server/jobs/define-job";
import { diffImages } from "./diff-images";

const ROWS_PER_INSERT = 1000;

const ZListChangesPayload = z.object({ sessionId: z.uuid() });

export const listChangesJob = defineJob({
  name: "list-changes",
  schema: ZListChangesPayload,
  key: ({ sessionId }) => sessionId,
  // Both images in one appliance; an installed OS has hundreds of thousands of files.
  deadlineMs: 30 * 60_000,
  attempts: 3,
  concurrency: 1,
  appliance: true,
  async handle({ sessionId }, job) {
    const baseImage = alias(images, "base_image");
    const [files] = await db()
      .select({ base: baseImage.file, next: images.file })
      .from(changeSets)
      .innerJoin(baseImage, eq(baseImage.id, changeSets.baseImageId))
      .innerJoin(images, eq(images.id, changeSets.imageId))
      .where(eq(changeSets.sessionId, sessionId));
    if (!files) throw new PermanentJobError("its change set or one of its images is gone");
    await job.transaction((tx) => tx.update(changeSets).set({ state: "running", claimedAt: new Date(), problem: null }).where(eq(changeSets.sessionId, sessionId)));
    const diff = await diffImages({ file: storePath(files.base), format: "qcow2" }, { file: storePath(files.next), format: "qcow2" });
    await job.transaction(async (tx) => {
      await tx.delete(fileChanges).where(eq(fileChanges.sessionId, sessionId)); // an earlier attempt's rows, if any
      for (let i = 0; i < diff.changes.length; i += ROWS_PER_INSERT) {
        await tx.insert(fileChanges).values(diff.changes.slice(i, i + ROWS_PER_INSERT).map((change) => ({ sessionId, ...change })));
      }
      await tx
        .update(changeSets)
        .set({ state: "done", filesystems: diff.filesystems, finishedAt: new Date() })
        .where(eq(changeSets.sessionId, sessionId));
      await queueAutomaticApplyBack(tx, sessionId);
    });
  },
  async onFailure({ sessionId }, { attempts, tx }) {
    // The detail (tool output, store paths) is for the administrator's log, not the user's page.
    const problem = `Listing the changes failed: the images could not be read (${attempts === 1 ? "once" : `${attempts} times`}). The saved image itself is kept. Retry from this page; if it fails again, an administrator finds the reason in the server log.`;
    await tx.update(changeSets).set({ state: "failed", problem, finishedAt: new Date() }).where(eq(changeSets.sessionId, sessionId));
  },
});

/** Queues the listing of one of the user's change sets again, after it failed. */
export async function retryChangeListing(userId: string, sessionId: string): Promise<void> {
  await db().transaction(async (tx) => {
    const [changeSet] = await tx
      .select({ state: changeSets.state })
      .from(changeSets)
      .where(and(eq(changeSets.sessionId, sessionId), eq(changeSets.userId, userId)))
      .for("update");
    if (!changeSet) throw new NotFoundError("No such change set.");
    if (changeSet.state !== "failed") throw new ConflictError("The changes are listed already, or are being listed; there is nothing to retry.");
    await tx.update(changeSets).set({ state: "pending", problem: null, finishedAt: null }).where(eq(changeSets.sessionId, sessionId));
    await listChangesJob.enqueue({ sessionId }, { executor: tx });
  });
}
