// Test helper: the office-PC fixture disk (e2e/fixtures) as a ready base image of a machine, in
// the store and in the database, as if its agent had sent it (already inspected, so the worker
// leaves it alone).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync } from "node:fs";
import { db } from "@/db/client";
import { images } from "@/db/schema";
import { ensureMachineDir, imageFileName, storePath } from "@/server/images/store";

const FIXTURE_BYTES = 256 * 1024 ** 2;

/** The fixture disk (raw), built if it is not cached yet. */
export function fixtureImagePath(): string {
  return execFileSync("bash", ["e2e/fixtures/build-office-pc.sh"], { encoding: "utf8" }).trim().split("\n").at(-1)!;
}

export async function addFixtureImage(machineId: string): Promise<string> {
  await ensureMachineDir(machineId);
  const fixture = fixtureImagePath();
  const imageId = randomUUID();
  const file = imageFileName(machineId, imageId);
  execFileSync("qemu-img", ["convert", "-O", "qcow2", fixture, storePath(file)]);
  chmodSync(storePath(file), 0o444);
  await recordBaseImage({ machineId, imageId, file, virtualSize: FIXTURE_BYTES });
  return imageId;
}

/**
 * Records a qcow2 file already in the store as a machine's base image, sent by its agent and
 * already inspected (so the worker leaves it alone), from a one-vCPU, 1 GiB, BIOS machine.
 */
export async function recordBaseImage(image: { machineId: string; imageId: string; file: string; virtualSize: number; bytesStored?: number }) {
  const profile = { firmware: "bios", partitionTable: "mbr", diskBytes: image.virtualSize, cpus: 1, memoryBytes: 1024 ** 3, nics: [] };
  await db().insert(images).values({
    id: image.imageId,
    machineId: image.machineId,
    kind: "base",
    origin: "agent",
    file: image.file,
    virtualSize: image.virtualSize,
    bytesStored: image.bytesStored ?? 0,
    profile,
    takenAt: new Date(),
    inspectionState: "done",
    inspection: { os: null, filesystems: [] },
  });
}
