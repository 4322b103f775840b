// The inspection job: every new image is inspected once with libguestfs (inspect-image.ts), the
// newest first — the image a user just made is the one they are looking at. The image's own row
// says where it stands (inspection_state) for the timeline; the job holds the claim and the tries.
import { and, eq } from "drizzle-orm";
import { z } from "zod";
import { db } from "@/db/client";
import { images, machines } from "@/db/schema";
import { ConflictError, NotFoundError } from "@/server/errors";
import { defineJob } from "@/server/jobs/define-job";
import { inspectImageFile } from "./inspect-image";
import { storePath } from "./store";

const ZInspectImagePayload = z.object({ imageId: z.uuid() });

export const inspectImageJob = defineJob({
  name: "inspect-image",
  schema: ZInspectImagePayload,
  key: ({ imageId }) => imageId,
  // One appliance launch: about 10 s under TCG for a small disk, minutes for an installed OS's
  // thousands of packages; an appliance that never comes up is stopped here.
  deadlineMs: 15 * 60_000,
  attempts: 3,
  concurrency: 1,
  appliance: true,
  newestFirst: true,
  async handle({ imageId }, job) {
    const [image] = await db().select({ file: images.file }).from(images).where(eq(images.id, imageId));
    if (!image) return; // deleted since: nothing to inspect
    await job.transaction((tx) => tx.update(images).set({ inspectionState: "running", inspectionClaimedAt: new Date() }).where(eq(images.id, imageId)));
    const inspection = await inspectImageFile(storePath(image.file));
    await job.transaction((tx) => tx.update(images).set({ inspectionState: "done", inspection: { ...inspection } }).where(eq(images.id, imageId)));
  },
  async onFailure({ imageId }, { attempts, reason, tx }) {
    const error = `Inspecting this image failed ${attempts === 1 ? "once" : `${attempts} times`} (${failureDetail(reason)}), so its OS and applications are not known. The image itself is fine and can be started. Retry from the timeline; if it fails again, an administrator finds the whole reason in the server log.`;
    await tx.update(images).set({ inspectionState: "failed", inspection: { error } }).where(eq(images.id, imageId));
  },
});

/**
 * The gist of a failure for its owner: libguestfs' own message where there is one ("error: …"),
 * without the server's file paths, in one short line.
 */
export function failureDetail(reason: string): string {
  const gist = /error: (.+)$/m.exec(reason)?.[1] ?? reason.split("\n")[0] ?? reason;
  const plain = gist.replace(/(^|[\s=:'"(])\/[^\s'")]+/g, "$1…").replace(/\s+/g, " ").trim();
  return plain.length > 200 ? `${plain.slice(0, 199)}…` : plain || "no reason given";
}

/** Queues the inspection of one of the user's images again (after a failure). */
export async function retryInspection(userId: string, imageId: string): Promise<void> {
  await db().transaction(async (tx) => {
    const [image] = await tx
      .select({ state: images.inspectionState })
      .from(images)
      .innerJoin(machines, eq(machines.id, images.machineId))
      .where(and(eq(images.id, imageId), eq(machines.ownerId, userId)))
      .for("update", { of: images });
    if (!image) throw new NotFoundError("No such image. It may have been deleted.");
    if (image.state !== "failed") throw new ConflictError("This image is inspected already, or being inspected; there is nothing to retry.");
    await tx.update(images).set({ inspectionState: "pending", inspection: null }).where(eq(images.id, imageId));
    await inspectImageJob.enqueue({ imageId }, { executor: tx });
  });
}
