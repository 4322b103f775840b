// A machine's images for its owner, newest first. The owner is part of every query.
import { and, desc, eq } from "drizzle-orm";
import { db } from "@/db/client";
import { images, machines } from "@/db/schema";
import { NotFoundError } from "@/server/errors";

const imageColumns = {
  id: images.id,
  machineId: images.machineId,
  parentId: images.parentId,
  kind: images.kind,
  origin: images.origin,
  virtualSize: images.virtualSize,
  bytesStored: images.bytesStored,
  takenAt: images.takenAt,
  profile: images.profile,
  inspectionState: images.inspectionState,
  inspection: images.inspection,
};

export async function listMachineImages(ownerId: string, machineId: string) {
  return db()
    .select(imageColumns)
    .from(images)
    .innerJoin(machines, eq(machines.id, images.machineId))
    .where(and(eq(images.machineId, machineId), eq(machines.ownerId, ownerId)))
    .orderBy(desc(images.takenAt));
}

export async function getImageOrThrow(ownerId: string, imageId: string) {
  const [image] = await db()
    .select(imageColumns)
    .from(images)
    .innerJoin(machines, eq(machines.id, images.machineId))
    .where(and(eq(images.id, imageId), eq(machines.ownerId, ownerId)));
  if (!image) throw new NotFoundError("No such image. It may have been deleted.");
  return image;
}
