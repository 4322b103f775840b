// Inspection of an image with libguestfs, in one appliance launch (guestfish in remote mode):
// the OS, its version, hostname and applications where libguestfs recognises one; every
// filesystem with its size, use and where the guest's fstab mounts it; the partition table; and
// what the disk can boot with (an EFI loader on an EFI system partition, boot code in the MBR),
// from which the VM's firmware is decided (wire/firmware.ts). A disk with no OS, an unknown
// partition table or a filesystem that does not mount is inspected too: what cannot be read is
// said in a sentence (notes), and the rest is still listed. That is a result, never an error.
//
// Any failing guestfish call ends the appliance (remote mode), so whatever may fail on a real
// disk (a mount, an OS query) goes through script(), whose commands may each fail alone.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Guestfish, quoteArg } from "@/server/tools/guestfish";
import type { BootableWith } from "@/wire/firmware";

export interface InspectedFilesystem {
  device: string;
  type: string;
  sizeBytes: number | null;
  usedBytes: number | null;
  /** Where the guest mounts it (its fstab, as libguestfs reads it): "/", "/home", "/boot/efi"; null when not in it. */
  mountPoint: string | null;
  /** Why it could not be read, when it could not. */
  note?: string;
}

export interface ImageInspection {
  os: {
    type: string;
    distro: string;
    productName: string;
    version: string;
    hostname: string;
    applications: { name: string; version: string }[];
  } | null;
  filesystems: InspectedFilesystem[];
  /** The disk's partition table; null when there is none libguestfs recognises. */
  partitionTable: "gpt" | "mbr" | null;
  bootableWith: BootableWith;
  /** What could not be read, in sentences for the timeline. */
  notes: string[];
}

/** GPT's type GUID of an EFI system partition, and MBR's partition id for one. */
const ESP_GPT_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const ESP_MBR_ID = 0xef;
/** The loader UEFI starts when it has no boot entry (a new VM): \EFI\BOOT\BOOTX64.EFI. */
const REMOVABLE_LOADER = /^\/efi\/boot\/bootx64\.efi$/i;
const MOUNT = "/";

/** Lines of `key: value` (guestfish's way of printing structs and hashes) as pairs. */
function pairs(output: string): [string, string][] {
  return output
    .split("\n")
    .map((line) => line.match(/^\s*([^:]+):\s?(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => [m[1]!.trim(), m[2]!.trim()]);
}

const lines = (output: string | null | undefined) => (output ?? "").split("\n").filter(Boolean);

/** The names of the distributions libguestfs knows by id, for a product name that is only a version. */
const DISTRO_NAMES: Record<string, string> = {
  debian: "Debian GNU/Linux",
  ubuntu: "Ubuntu",
  linuxmint: "Linux Mint",
  fedora: "Fedora Linux",
  rhel: "Red Hat Enterprise Linux",
  centos: "CentOS",
  rocky: "Rocky Linux",
  alma: "AlmaLinux",
  opensuse: "openSUSE",
  sles: "SUSE Linux Enterprise",
  archlinux: "Arch Linux",
  alpinelinux: "Alpine Linux",
};

/**
 * The OS's name as people know it. libguestfs takes Debian's from /etc/debian_version, which holds
 * the version alone ("12.15"): such a name gets the distribution's in front.
 */
export function osProductName(productName: string, distro: string): string {
  if (/\p{L}/u.test(productName) || productName === "unknown") return productName;
  const name = DISTRO_NAMES[distro] ?? (distro === "unknown" ? null : distro);
  return name ? `${name} ${productName}` : productName;
}

class Inspector {
  constructor(
    private readonly fish: Guestfish,
    private readonly work: string,
  ) {}

  /**
   * Mounts `device` read-only at `at`; false when it does not mount (the appliance lives on).
   * Whatever is mounted at `at` counts: libguestfs names a btrfs subvolume's mount by its device.
   */
  async mount(device: string, at = MOUNT): Promise<boolean> {
    await this.fish.script([`mount-ro ${quoteArg(device)} ${quoteArg(at)}`]);
    return (await this.fish.call("mountpoints")).split("\n").some((line) => line.endsWith(`: ${at}`));
  }

  async filesystems(mountPoints: Map<string, string>): Promise<InspectedFilesystem[]> {
    const found: InspectedFilesystem[] = [];
    // "device: type", where a btrfs subvolume's device holds a colon itself (btrfsvol:/dev/sda2/root).
    const listed = lines(await this.fish.call("list-filesystems")).map((line) => [line.slice(0, line.lastIndexOf(": ")), line.slice(line.lastIndexOf(": ") + 2)] as const);
    for (const [device, type] of listed) {
      const mountPoint = mountPoints.get(device) ?? null;
      if (["swap", "unknown", ""].includes(type)) {
        found.push({ device, type, sizeBytes: null, usedBytes: null, mountPoint, ...(type === "swap" ? {} : { note: "holds no filesystem the server recognises" }) });
        continue;
      }
      if (!(await this.mount(device))) {
        await this.fish.call("umount-all");
        found.push({ device, type, sizeBytes: null, usedBytes: null, mountPoint, note: "does not mount (damaged, encrypted, or of a kind the server cannot read)" });
        continue;
      }
      const stat = Object.fromEntries(pairs(await this.fish.call("statvfs", MOUNT)).map(([k, v]) => [k, Number(v)]));
      await this.fish.call("umount-all");
      const blockSize = stat.frsize ?? 0;
      found.push({ device, type, sizeBytes: (stat.blocks ?? 0) * blockSize, usedBytes: ((stat.blocks ?? 0) - (stat.bfree ?? 0)) * blockSize, mountPoint });
    }
    return found;
  }

  /** The first disk's partition table, and what on it can boot. */
  async bootSetup(): Promise<{ partitionTable: ImageInspection["partitionTable"]; bootableWith: BootableWith }> {
    const [parttype] = await this.fish.script(["part-get-parttype /dev/sda"]);
    const partitionTable = parttype?.trim() === "gpt" ? "gpt" : parttype?.trim() === "msdos" ? "mbr" : null;
    // The MBR's first 440 bytes are boot code: zeros when nothing was installed there (a GPT
    // disk's protective MBR usually). Generic code (parted's, Windows', SYSLINUX's) only chains to
    // the active partition's own loader, so it counts when one is active; GRUB's boot.img loads
    // GRUB itself (it says "GRUB").
    const mbr = path.join(this.work, "mbr");
    await this.fish.call("download-offset", "/dev/sda", mbr, "0", "440");
    const code = await readFile(mbr);
    const partitions = partitionTable
      ? lines(await this.fish.call("part-list", "/dev/sda"))
          .map((line) => /^\s*part_num:\s*(\d+)$/.exec(line)?.[1])
          .filter((n): n is string => n !== undefined)
      : [];
    const active = partitionTable === "mbr" ? (await this.fish.script(partitions.map((n) => `part-get-bootable /dev/sda ${n}`))).some((out) => out?.trim() === "true") : false;
    const bios = code.some((byte) => byte !== 0) && (active || code.includes("GRUB"));
    let efiLoader: string | null = null;
    let espFound = false;
    if (partitionTable) {
      const typeCommand = partitionTable === "gpt" ? "part-get-gpt-type" : "part-get-mbr-id";
      const types = await this.fish.script(partitions.map((n) => `${typeCommand} /dev/sda ${n}`));
      for (const [i, n] of partitions.entries()) {
        const type = types[i]?.trim() ?? "";
        const isEsp = partitionTable === "gpt" ? type.toUpperCase() === ESP_GPT_TYPE : Number(type) === ESP_MBR_ID;
        if (!isEsp) continue;
        espFound = true;
        if (!(await this.mount(`/dev/sda${n}`))) {
          await this.fish.call("umount-all");
          continue;
        }
        // FAT is case-blind: EFI/BOOT/BOOTX64.EFI, efi/debian/shimx64.efi, EFI/Microsoft/Boot/bootmgfw.efi.
        // The removable-media path first: the one a VM with fresh UEFI variables boots.
        const loaders = lines(await this.fish.call("find", MOUNT))
          .map((p) => `/${p.replace(/^\//, "")}`)
          .filter((p) => /^\/efi\/.+\.efi$/i.test(p));
        efiLoader = loaders.find((p) => REMOVABLE_LOADER.test(p)) ?? loaders[0] ?? null;
        await this.fish.call("umount-all");
        if (efiLoader) break;
      }
    }
    // An ESP that does not mount still says UEFI, when no BIOS boot code says otherwise.
    const uefi = efiLoader !== null || (espFound && !bios);
    return {
      partitionTable,
      bootableWith: { bios, uefi, ...(efiLoader ? { efiLoader, removable: REMOVABLE_LOADER.test(efiLoader) } : {}) },
    };
  }

  /** The facts of the OS at `root`, and where it mounts its filesystems. */
  async os(root: string): Promise<{ os: NonNullable<ImageInspection["os"]>; mountPoints: Map<string, string> }> {
    const facts = ["type", "distro", "product-name", "major-version", "minor-version", "hostname"];
    const [mountpointsOut, ...values] = await this.fish.script([`inspect-get-mountpoints ${quoteArg(root)}`, ...facts.map((f) => `inspect-get-${f} ${quoteArg(root)}`)]);
    const fact = (name: string) => values[facts.indexOf(name)]?.trim() || "unknown";
    const mountPoints = new Map<string, string>(pairs(mountpointsOut ?? "").map(([mountPoint, device]) => [device, mountPoint]));
    return {
      os: {
        type: fact("type"),
        distro: fact("distro"),
        productName: osProductName(fact("product-name"), fact("distro")),
        version: `${fact("major-version")}.${fact("minor-version")}`,
        hostname: fact("hostname"),
        applications: [],
      },
      mountPoints,
    };
  }

  /**
   * The OS's applications, from its package database: its filesystems mounted first, / first.
   * Last, as the one call that may fail with nothing else to tell it from an empty list (a
   * failure ends the appliance, and nothing is left to do with it).
   */
  async applications(root: string, mountPoints: Map<string, string>, notes: string[]): Promise<{ name: string; version: string }[]> {
    const unmounted: string[] = [];
    for (const [device, mountPoint] of [...mountPoints.entries()].sort(([, a], [, b]) => a.length - b.length)) {
      if (mountPoint !== "/") await this.fish.script([`mkdir-p ${quoteArg(mountPoint)}`]);
      if (!(await this.mount(device, mountPoint))) unmounted.push(`${mountPoint} (${device})`);
    }
    if (unmounted.length > 0) notes.push(`The OS's ${unmounted.join(", ")} could not be mounted.`);
    let listed: string;
    try {
      listed = await this.fish.call("inspect-list-applications2", root);
    } catch {
      notes.push("The OS's installed applications could not be read.");
      return [];
    }
    const applications: { name: string; version: string }[] = [];
    let current: { name: string; version: string } | null = null;
    for (const [key, value] of pairs(listed)) {
      if (key === "app2_name") applications.push((current = { name: value, version: "" }));
      if (key === "app2_version" && current) current.version = value;
    }
    return applications;
  }
}

export async function inspectImageFile(file: string, format: "qcow2" | "raw" = "qcow2"): Promise<ImageInspection> {
  const work = await mkdtemp(path.join(tmpdir(), "twinboot-inspect-"));
  const fish = await Guestfish.open([{ file, format }]);
  try {
    const inspector = new Inspector(fish, work);
    const notes: string[] = [];
    const [roots] = await fish.script(["inspect-os"]);
    const root = lines(roots)[0];
    const found = root ? await inspector.os(root) : null;
    const filesystems = await inspector.filesystems(found?.mountPoints ?? new Map());
    const { partitionTable, bootableWith } = await inspector.bootSetup();
    if (root && found) found.os.applications = await inspector.applications(root, found.mountPoints, notes);
    const readable = filesystems.some((fs) => fs.sizeBytes !== null);
    if (!found) {
      notes.unshift(
        readable
          ? "No operating system was recognised on this disk; its filesystems are listed."
          : partitionTable === null && filesystems.every((fs) => fs.type === "unknown" || fs.type === "")
            ? "Nothing on this disk could be read: it has no partition table or filesystem the server recognises."
            : "No operating system was recognised, and no filesystem on this disk could be read.",
      );
    }
    for (const fs of filesystems) if (fs.note && fs.type !== "unknown") notes.push(`${fs.device} (${fs.type}) ${fs.note}.`);
    return { os: found?.os ?? null, filesystems, partitionTable, bootableWith, notes };
  } finally {
    await fish.close();
    await rm(work, { recursive: true, force: true });
  }
}
