// Test helpers for the fixture disks (e2e/fixtures): the office-PC disk as a ready base image of a
// machine, in the store and in the database, as if its agent had sent it (already inspected, so
// the worker leaves it alone); and the installed Debian PCs, with what tests may rely on in them.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync } from "node:fs";
import path from "node:path";
import { db } from "@/db/client";
import { images } from "@/db/schema";
import { ensureMachineDir, imageFileName, storePath } from "@/server/images/store";
import { runTool } from "@/server/tools/run-tool";

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

// --- Installed Debian PCs (e2e/fixtures/build-debian-pc.sh) -------------------------------------
// Two realistic office PCs, built from Debian's packages and cached outside the checkout: what
// tests may rely on about them. The script is the source of truth; these mirror it.

const DEBIAN_PC_SCRIPT = path.resolve(import.meta.dirname, "../../e2e/fixtures/build-debian-pc.sh");
/** A first build runs debootstrap from the mirror (a few minutes); a cached one answers at once. */
const DEBIAN_PC_BUILD_TIMEOUT_MS = 40 * 60_000;
const MIB = 1024 ** 2;

/** The one user on both PCs (uid 1000, in group sudo; root is locked). */
export const DEBIAN_PC_USER = { name: "alice", uid: 1000, password: "office-alice-1", home: "/home/alice" } as const;

/** What /home/alice/Documents holds on both PCs (plus Desktop/todo.txt and Pictures/dot.png). */
export const DEBIAN_PC_DOCUMENTS = ["budget.csv", "letter-to-landlord.txt", "meeting-notes.txt", "report.txt"] as const;

export type DebianPcFirmware = "bios" | "uefi";

interface PcFilesystem {
  /** Partition number on the disk: /dev/sda<n> on SATA, /dev/vda<n> on virtio. */
  partition: number;
  mountpoint: "/" | "/home" | "/boot/efi";
  type: "ext4" | "vfat";
  /** As in the fstab and blkid (a FAT volume id for vfat). */
  uuid: string;
  label: string;
  startMiB: number;
  /** null: to the end of the disk. */
  sizeMiB: number | null;
}

export interface DebianPc {
  firmware: DebianPcFirmware;
  hostname: string;
  partitionTable: "mbr" | "gpt";
  diskBytes: number;
  /** Boot loader, as the firmware finds it. */
  bootLoader: string;
  filesystems: readonly PcFilesystem[];
}

/** The two PCs, by firmware. */
export const DEBIAN_PCS: Record<DebianPcFirmware, DebianPc> = {
  bios: {
    firmware: "bios",
    hostname: "office-debian",
    partitionTable: "mbr",
    diskBytes: 4096 * MIB,
    bootLoader: "GRUB (i386-pc) in the MBR",
    filesystems: [{ partition: 1, mountpoint: "/", type: "ext4", uuid: "7e57b007-0ff1-4ce0-9c00-000000000b01", label: "root", startMiB: 1, sizeMiB: null }],
  },
  uefi: {
    firmware: "uefi",
    hostname: "office-uefi",
    partitionTable: "gpt",
    diskBytes: 4096 * MIB,
    bootLoader: "shim + GRUB (signed) at EFI/BOOT/BOOTX64.EFI",
    filesystems: [
      { partition: 1, mountpoint: "/boot/efi", type: "vfat", uuid: "7E57-0EF1", label: "ESP", startMiB: 1, sizeMiB: 100 },
      { partition: 2, mountpoint: "/", type: "ext4", uuid: "7e57b007-0ff1-4ce0-9c00-000000000e02", label: "root", startMiB: 101, sizeMiB: 3072 },
      { partition: 3, mountpoint: "/home", type: "ext4", uuid: "7e57b007-0ff1-4ce0-9c00-000000000e03", label: "home", startMiB: 3173, sizeMiB: null },
    ],
  },
};

/** The PC's disk (raw, sparse, read-only to tests: boot it through an overlay), built if not cached. */
export async function debianPcImageFor(firmware: DebianPcFirmware): Promise<string> {
  const { stdout } = await runTool("bash", [DEBIAN_PC_SCRIPT, firmware], { timeoutMs: DEBIAN_PC_BUILD_TIMEOUT_MS });
  return stdout.trim().split("\n").at(-1)!;
}

/** The installed Debian 12 PC with BIOS firmware (MBR, GRUB). */
export function debianPcImage(): Promise<string> {
  return debianPcImageFor("bios");
}

/** The Debian 12 PC with UEFI firmware (GPT, ESP, separate /home; boots with Secure Boot on or off). */
export function uefiPcImage(): Promise<string> {
  return debianPcImageFor("uefi");
}
