// Inspection of disks that are not a tidy installed OS, on real images: a disk with no OS, one
// with no partition table anyone knows (random bytes), and one whose second filesystem is damaged
// so that it does not mount. Each is inspected (a result with sentences, never an error), and
// what can be read is still compared by the change listing. The busybox office PC shows an OS
// found, its fstab's mount points and its BIOS boot code.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffImages } from "@/server/changes/diff-images";
import { debianPcImage, fixtureImagePath, uefiPcImage } from "@/server/testing/fixture-image";
import { Guestfish } from "@/server/tools/guestfish";
import { inspectImageFile } from "./inspect-image";

let dir: string;
const SECOND_PARTITION_SECTOR = 65_536;

/** A raw disk of `mib` MiB, partitioned and filled through a writable appliance. */
async function makeDisk(name: string, mib: number, commands: string[]): Promise<string> {
  const file = path.join(dir, name);
  execFileSync("truncate", ["-s", `${mib}M`, file]);
  const fish = await Guestfish.open([{ file, format: "raw" }], { writable: true });
  try {
    for (const command of commands) await fish.call(...command.split(" "));
  } finally {
    await fish.close();
  }
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "twinboot-inspect-test-"));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("inspection", () => {
  it("finds the office PC's OS, where its fstab mounts its filesystem, and its BIOS boot code", async () => {
    const inspection = await inspectImageFile(fixtureImagePath(), "raw");
    expect(inspection).toMatchObject({
      os: { type: "linux", hostname: "office-pc" },
      filesystems: [{ device: "/dev/sda1", type: "ext4", mountPoint: "/" }],
      partitionTable: "mbr",
      bootableWith: { bios: true, uefi: false },
      notes: [],
    });
  }, 300_000);

  it("finds the installed Debian PC: version, hostname, its packages, / in its fstab, GRUB in the MBR", async () => {
    const inspection = await inspectImageFile(await debianPcImage(), "raw");
    expect(inspection).toMatchObject({
      os: { type: "linux", distro: "debian", hostname: "office-debian" },
      filesystems: [{ device: "/dev/sda1", type: "ext4", mountPoint: "/" }],
      partitionTable: "mbr",
      bootableWith: { bios: true, uefi: false },
      notes: [],
    });
    expect(inspection.os!.version).toMatch(/^12\.\d+$/);
    expect(inspection.os!.applications.map((a) => a.name)).toEqual(expect.arrayContaining(["systemd", "linux-image-amd64", "grub-pc"]));
  }, 600_000);

  it("finds the UEFI PC's ESP, root and separate /home by its fstab, and its removable-path loader", async () => {
    const inspection = await inspectImageFile(await uefiPcImage(), "raw");
    expect(inspection).toMatchObject({
      os: { distro: "debian", hostname: "office-uefi" },
      partitionTable: "gpt",
      bootableWith: { bios: false, uefi: true, efiLoader: expect.stringMatching(/^\/EFI\/BOOT\/BOOTX64\.EFI$/i), removable: true },
      notes: [],
    });
    expect(inspection.filesystems.map((fs) => [fs.device, fs.type, fs.mountPoint])).toEqual([
      ["/dev/sda1", "vfat", "/boot/efi"],
      ["/dev/sda2", "ext4", "/"],
      ["/dev/sda3", "ext4", "/home"],
    ]);
    expect(inspection.os!.applications.map((a) => a.name)).toEqual(expect.arrayContaining(["shim-signed", "grub-efi-amd64-signed"]));
  }, 600_000);

  it("says there is no OS on a disk of documents, and lists its filesystem", async () => {
    const disk = await makeDisk("documents.raw", 64, ["part-disk /dev/sda mbr", "mkfs ext4 /dev/sda1", "mount /dev/sda1 /", "mkdir /Documents", "write /Documents/notes.txt hello"]);
    const inspection = await inspectImageFile(disk, "raw");
    expect(inspection.os).toBeNull();
    expect(inspection.filesystems).toEqual([{ device: "/dev/sda1", type: "ext4", sizeBytes: expect.any(Number), usedBytes: expect.any(Number), mountPoint: null }]);
    expect(inspection.bootableWith).toEqual({ bios: false, uefi: false });
    expect(inspection.notes).toEqual(["No operating system was recognised on this disk; its filesystems are listed."]);
  }, 300_000);

  it("says in a sentence that nothing can be read on a disk of random bytes", async () => {
    const disk = path.join(dir, "random.raw");
    writeFileSync(disk, randomBytes(32 * 1024 ** 2));
    const inspection = await inspectImageFile(disk, "raw");
    expect(inspection).toMatchObject({ os: null, partitionTable: null });
    expect(inspection.notes).toEqual(["Nothing on this disk could be read: it has no partition table or filesystem the server recognises."]);
  }, 300_000);

  it("lists a filesystem that does not mount as such, and the change listing still compares the others", async () => {
    const disk = await makeDisk("damaged.raw", 96, [
      "part-init /dev/sda mbr",
      `part-add /dev/sda p 2048 ${SECOND_PARTITION_SECTOR - 1}`,
      `part-add /dev/sda p ${SECOND_PARTITION_SECTOR} -2048`,
      "mkfs ext4 /dev/sda1 blocksize:4096",
      "mkfs ext4 /dev/sda2 blocksize:4096",
      "mount /dev/sda1 /",
      "write /kept.txt readable",
    ]);
    // The second filesystem's group descriptors (block 1) zeroed: its superblock still says ext4, it does not mount.
    execFileSync("dd", ["if=/dev/zero", `of=${disk}`, "bs=4096", "count=1", `seek=${(SECOND_PARTITION_SECTOR * 512) / 4096 + 1}`, "conv=notrunc", "status=none"]);
    const inspection = await inspectImageFile(disk, "raw");
    expect(inspection.filesystems.map((fs) => [fs.device, fs.type, fs.sizeBytes === null ? "unread" : "read"])).toEqual([
      ["/dev/sda1", "ext4", "read"],
      ["/dev/sda2", "ext4", "unread"],
    ]);
    expect(inspection.notes).toEqual([
      "No operating system was recognised on this disk; its filesystems are listed.",
      "/dev/sda2 (ext4) does not mount (damaged, encrypted, or of a kind the server cannot read).",
    ]);

    const next = path.join(dir, "damaged-next.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", disk, next]);
    const fish = await Guestfish.open([{ file: next, format: "qcow2" }], { writable: true });
    try {
      await fish.call("mount", "/dev/sda1", "/");
      await fish.call("write", "/new.txt", "from the VM");
    } finally {
      await fish.close();
    }
    const diff = await diffImages({ file: disk, format: "raw" }, { file: next, format: "qcow2" });
    expect(diff.changes.map((c) => `${c.change} ${c.filesystem}${c.path}`)).toEqual(["added /dev/sda1/new.txt"]);
    expect(diff.filesystems).toEqual([
      { device: "/dev/sda1", type: "ext4", compared: true },
      { device: "/dev/sda2", type: "ext4", compared: false, note: "does not mount" },
    ]);
  }, 600_000);
});
