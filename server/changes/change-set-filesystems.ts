// The filesystems of a change set, with where the PC mounts each (its fstab, as the
// inspection of the images read it): what the change list labels and where apply-back suggests
// each goes.
import { z } from "zod";
import type { ChangeSet } from "@/db/schema";
import type { TApplyFilesystem } from "@/wire/apply-back";

/**
 * What an image's inspection says of its filesystems' mount points, read leniently: images
 * inspected before inspection read the guest's fstab (or whose inspection failed) have none.
 */
const ZInspectedMountPoints = z.object({
  filesystems: z.array(z.object({ device: z.string(), mountPoint: z.string().nullish() })),
});

function mountPointsOf(inspection: unknown): Map<string, string> {
  const parsed = ZInspectedMountPoints.safeParse(inspection);
  const found = new Map<string, string>();
  for (const fs of parsed.success ? parsed.data.filesystems : []) if (fs.mountPoint) found.set(fs.device, fs.mountPoint);
  return found;
}

/**
 * The change set's filesystems (all it found, compared or not), each with the
 * mount point the inspection of the image the session started from found in its fstab, else that
 * of the saved image. A change set recorded without its list falls back to the filesystems its
 * changes are in.
 */
export function changeSetFilesystems(
  recorded: ChangeSet["filesystems"],
  changedDevices: string[],
  inspections: { base: unknown; saved: unknown },
): TApplyFilesystem[] {
  const [base, saved] = [mountPointsOf(inspections.base), mountPointsOf(inspections.saved)];
  // Compared or not: one that could not be compared still tells a lone /boot from a lone / (apply-roots.ts).
  const listed = (recorded ?? []).map((fs) => ({ device: fs.device, type: fs.type }));
  for (const device of changedDevices) if (!listed.some((fs) => fs.device === device)) listed.push({ device, type: "" });
  return listed.map((fs) => ({ ...fs, mountPoint: base.get(fs.device) ?? saved.get(fs.device) ?? null }));
}
