// Reading a session's changes: every query is scoped to the owner in the query itself.
import { and, asc, eq } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { db } from "@/db/client";
import { changeSets, fileChanges, images } from "@/db/schema";
import { NotFoundError } from "@/server/errors";
import { changeSetFilesystems } from "./change-set-filesystems";

const baseImage = alias(images, "base_image");

/**
 * The change set of one of the user's sessions (absent until the session is saved), with its
 * changes once listed, and where the PC mounts each filesystem they are in.
 */
export async function listChanges(ownerId: string, sessionId: string) {
  const [found] = await db()
    .select({
      state: changeSets.state,
      problem: changeSets.problem,
      filesystems: changeSets.filesystems,
      baseImageId: changeSets.baseImageId,
      imageId: changeSets.imageId,
      finishedAt: changeSets.finishedAt,
      baseInspection: baseImage.inspection,
      savedInspection: images.inspection,
    })
    .from(changeSets)
    .leftJoin(baseImage, eq(baseImage.id, changeSets.baseImageId))
    .leftJoin(images, eq(images.id, changeSets.imageId))
    .where(and(eq(changeSets.sessionId, sessionId), eq(changeSets.userId, ownerId)));
  if (!found) return null;
  const { baseInspection, savedInspection, ...set } = found;
  const changes =
    set.state === "done"
      ? await db()
          .select({
            id: fileChanges.id,
            filesystem: fileChanges.filesystem,
            path: fileChanges.path,
            change: fileChanges.change,
            aspects: fileChanges.aspects,
            before: fileChanges.before,
            after: fileChanges.after,
          })
          .from(fileChanges)
          .innerJoin(changeSets, eq(changeSets.sessionId, fileChanges.sessionId))
          .where(and(eq(fileChanges.sessionId, sessionId), eq(changeSets.userId, ownerId)))
          .orderBy(asc(fileChanges.filesystem), asc(fileChanges.path))
      : [];
  const placed = changeSetFilesystems(set.filesystems, [...new Set(changes.map((c) => c.filesystem))], { base: baseInspection, saved: savedInspection });
  const mountPoints: Record<string, string> = Object.fromEntries(placed.flatMap((fs) => (fs.mountPoint ? [[fs.device, fs.mountPoint]] : [])));
  return { ...set, changes, mountPoints };
}

/** One changed file of one of the user's sessions, and the image file holding the side asked for. */
export async function changedFileOrThrow(ownerId: string, changeId: string, side: "before" | "after") {
  const [found] = await db()
    .select({ change: fileChanges, baseImageId: changeSets.baseImageId, imageId: changeSets.imageId })
    .from(fileChanges)
    .innerJoin(changeSets, eq(changeSets.sessionId, fileChanges.sessionId))
    .where(and(eq(fileChanges.id, changeId), eq(changeSets.userId, ownerId)));
  const state = found?.change[side];
  if (!found || state?.type !== "file") throw new NotFoundError(`No such changed file ${side === "before" ? "before the session" : "after the session"}.`);
  const [image] = await db()
    .select({ file: images.file })
    .from(images)
    .where(eq(images.id, side === "before" ? found.baseImageId : found.imageId));
  if (!image) throw new NotFoundError("That image was deleted.");
  return { change: found.change, state, imageFile: image.file };
}
