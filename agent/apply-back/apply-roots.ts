// Where each filesystem of a change set goes on this computer. The decision is made from the
// change set's filesystems, never from the subset one request's entries are in: a request holding
// only /home's files must not land in / because it happens to name one filesystem. The server's
// mount points (the image's fstab) are suggestions this computer must confirm: a compromised server
// must not be able to send a filesystem's files into /etc, /root/.ssh or /proc.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { TApplyFilesystem } from "@/wire/apply-back";
import type { AgentConfig } from "../config";
import { ApplyBackError } from "./apply-back-error";

/** A mount on this computer, from /proc/self/mountinfo. */
export interface Mount {
  mountPoint: string;
  fsType: string;
}

/**
 * Filesystems that live on a disk. A suggested mount point must be one of these here: a proc,
 * sysfs, devtmpfs, tmpfs or network mount is a real mount point too, and never a place for files
 * from an image.
 */
const DISK_FILESYSTEMS = new Set(["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "exfat", "ntfs", "ntfs3", "fuseblk", "f2fs", "jfs", "reiserfs", "zfs", "bcachefs", "hfsplus"]);

/** The names one kind of filesystem is mounted under (libguestfs says "ntfs"; Linux mounts it as ntfs3 or through FUSE). */
function sameKind(imageType: string, mountType: string): boolean {
  const family = (type: string) => (/^ext[234]$/.test(type) ? "ext" : ["ntfs", "ntfs3", "fuseblk"].includes(type) ? "ntfs" : type);
  return imageType === "" || family(imageType) === family(mountType);
}

/** mountinfo escapes space, tab, newline and backslash as octal (\040). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mounts of a mountinfo text (proc(5)): field 5 is the mount point; after " - " come the type and source. */
export function parseMountInfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split("\n")) {
    const [before, after] = line.split(" - ");
    const fields = before?.split(" ") ?? [];
    const fsType = after?.split(" ")[0];
    if (fields.length < 5 || !fsType) continue;
    mounts.push({ mountPoint: unescapeMountField(fields[4]!), fsType: unescapeMountField(fsType) });
  }
  return mounts;
}

/** This computer's mounts; none where there is no /proc (then only "/" can be confirmed). */
export async function readMounts(): Promise<Mount[]> {
  return parseMountInfo(await readFile("/proc/self/mountinfo", "utf8").catch(() => ""));
}

/** A mount point as an fstab gives it: absolute, normalised, no "." or ".." segment, no NUL. */
function isPlainMountPoint(mountPoint: string): boolean {
  return mountPoint.startsWith("/") && !mountPoint.includes("\0") && path.posix.normalize(mountPoint) === mountPoint && !mountPoint.split("/").some((s) => s === "." || s === "..") && (mountPoint === "/" || !mountPoint.endsWith("/"));
}

/**
 * Where the suggested mount point of `filesystem` is under `root`, if this computer confirms it:
 * "/" is the root itself; anything else must be, under the root, a mount point here of a disk
 * filesystem of the same kind (the one visible there, when mounts are stacked). Otherwise why not.
 */
function confirmSuggestion(filesystem: TApplyFilesystem, root: string, mounts: Mount[]): { folder: string } | { refused: string } {
  const suggested = filesystem.mountPoint;
  if (suggested === null) return { refused: "" };
  if (!isPlainMountPoint(suggested)) return { refused: ` (the image's fstab gives ${JSON.stringify(suggested)}, which is not a plain mount point)` };
  if (suggested === "/") return { folder: root };
  const folder = path.join(root, suggested);
  const mount = mounts.findLast((m) => m.mountPoint === folder);
  if (!mount) return { refused: ` (the image's fstab mounts it at ${suggested}, but ${folder} is not a mount point on this computer)` };
  if (!DISK_FILESYSTEMS.has(mount.fsType) || !sameKind(filesystem.type, mount.fsType)) {
    return { refused: ` (the image's fstab mounts it at ${suggested}, but ${folder} here is ${mount.fsType}, not ${filesystem.type || "a disk filesystem"})` };
  }
  return { folder };
}

/**
 * Where each filesystem in `needed` (those the request's entries are in) goes, decided from the
 * change set's `filesystems`: the configuration's "applyRoots" (device in the image → folder here)
 * first; else `root` (--root, default /) when the change set has one filesystem; else the image's
 * own mount point under `root` when this computer confirms it, and no other filesystem goes
 * there. Otherwise it fails, saying what to add to the configuration.
 */
export function chooseRoots(options: {
  filesystems: TApplyFilesystem[];
  needed: string[];
  root: string;
  config: Pick<AgentConfig, "applyRoots">;
  mounts: Mount[];
}): Record<string, string> {
  const { config, mounts } = options;
  const root = path.resolve(options.root);
  // A device the request names but the list left out still counts: the count is never smaller than the truth.
  const all = [...options.filesystems];
  for (const device of options.needed) if (!all.some((fs) => fs.device === device)) all.push({ device, type: "", mountPoint: null });
  const devices = [...new Set(all.map((fs) => fs.device))];

  // Where each filesystem of the change set would go; two in one place is a contradiction
  // (an fstab read wrongly, or a server lying) and places neither by suggestion.
  const places = new Map<string, { folder: string } | { refused: string }>();
  // A lone filesystem goes to the root only when it is the image's / (or its place is unknown): a
  // change set in which only /boot or /boot/efi could be compared must not land in /.
  const configuredFor = (device: string) => (Object.hasOwn(config.applyRoots, device) ? config.applyRoots[device] : undefined);
  for (const filesystem of all) {
    const configured = configuredFor(filesystem.device);
    const lone = devices.length === 1 && (filesystem.mountPoint === null || filesystem.mountPoint === "/");
    places.set(filesystem.device, configured ? { folder: path.resolve(configured) } : lone ? { folder: root } : confirmSuggestion(filesystem, root, mounts));
  }
  const goesTo = (device: string, folder: string) => {
    const place = places.get(device);
    return place !== undefined && "folder" in place && place.folder === folder;
  };
  const roots: Record<string, string> = {};
  for (const device of options.needed) {
    const configured = configuredFor(device);
    const place = places.get(device)!;
    const other = "folder" in place ? devices.find((d) => d !== device && goesTo(d, place.folder)) : undefined;
    if (configured) roots[device] = configured;
    else if ("folder" in place && !other) roots[device] = place.folder;
    else {
      const why = "folder" in place ? ` (the image's fstab puts it at ${place.folder}, where ${other} goes)` : place.refused;
      throw new ApplyBackError(
        `The changes are in ${devices.length} filesystems (${devices.join(", ")}); say where ${device} is on this computer${why} with "applyRoots": { "${device}": "/its/mount/point" } in the agent configuration.`,
      );
    }
  }
  return roots;
}
