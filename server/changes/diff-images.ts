// What a session changed, file by file: the image it started from and the image it became, both
// attached to one libguestfs appliance. Every filesystem of every partition is compared (no OS
// inspection, which a disk without a known OS fails): each one's files are listed on both sides
// (find0), their lstat read in bulk (lstatnslist, a directory at a time), and the files whose
// size, times or inode differ are hashed on both sides (sha256), so that a file only touched is
// not reported, and one rewritten with the same size and times is. Directories report mode and
// owner changes only: their own times change whenever an entry does.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Guestfish, quoteArg, type GuestfishDisk } from "@/server/tools/guestfish";
import type { ChangeKind, ChangedAspect, FileState, FileType } from "@/wire/changes";

export interface FileChange {
  /** The filesystem's device as libguestfs names it on the first disk, e.g. /dev/sda1. */
  filesystem: string;
  /** Absolute within that filesystem, e.g. /etc/hostname. */
  path: string;
  change: ChangeKind;
  aspects: ChangedAspect[];
  before: FileState | null;
  after: FileState | null;
}

export interface ImageDiff {
  filesystems: { device: string; type: string; compared: boolean; note?: string }[];
  changes: FileChange[];
}

interface Stat {
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  ino: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

const BASE_MOUNT = "/twinboot-base";
const NEW_MOUNT = "/twinboot-new";
/** Names that can go in a guestfish string list (split on whitespace, no quoting). */
const LISTABLE_NAME = /^[^\s"'\\]+$/;
/**
 * The longest script line sent: guestfish rejects lines of about 8 KiB ("unterminated double
 * quote"), so lists are cut by bytes, never by a count of names (500 of /var/lib/dpkg/info's
 * names make 11 KB).
 */
export const MAX_SCRIPT_LINE_BYTES = 4096;
const lineBytes = (line: string) => Buffer.byteLength(line);

/**
 * Whether a path's longest command (a checksum, under the longer of the two mounts) would exceed
 * a line: decided on the path alone, so that both sides leave out the same paths (otherwise one
 * near the limit would be seen on one side only, and reported as added or deleted).
 */
function tooLongForScript(relative: string): boolean {
  const longestMount = BASE_MOUNT.length > NEW_MOUNT.length ? BASE_MOUNT : NEW_MOUNT;
  return lineBytes(`checksum sha256 ${quoteArg(longestMount + relative)}`) > MAX_SCRIPT_LINE_BYTES;
}

function fileType(mode: number): FileType {
  switch (mode & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "directory";
    case 0o120000:
      return "symlink";
    default:
      return "other";
  }
}

/** One `lstatns` struct as guestfish prints it ("st_mode: 33188" lines); null for a missing file. */
function parseStat(text: string): Stat | null {
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(-?\\d+)$`, "m").exec(text)?.[1];
  const number = (name: string) => Number(field(name) ?? NaN);
  const ino = number("st_ino");
  if (!(ino >= 0)) return null; // lstatnslist gives st_ino -1 for a name that is not there
  const mode = number("st_mode");
  const ns = (which: string) => BigInt(field(`st_${which}_sec`) ?? 0) * 1_000_000_000n + BigInt(field(`st_${which}_nsec`) ?? 0);
  return { type: fileType(mode), mode: mode & 0o7777, uid: number("st_uid"), gid: number("st_gid"), size: number("st_size"), ino, mtimeNs: ns("mtime"), ctimeNs: ns("ctime") };
}

/** lstatnslist output: "[0] = {…}" blocks, in the order of the names. */
function parseStatList(text: string): (Stat | null)[] {
  return text.split(/^\[\d+\] = \{$/m).slice(1).map(parseStat);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads find0's NUL-separated list (paths relative to the directory, with or without a leading
 * /). Names that are not valid UTF-8 cannot be carried through to the app and the agent: they are
 * counted, and reported as left out.
 */
async function listed(file: string): Promise<{ paths: string[]; notUtf8: number }> {
  const bytes = await readFile(file);
  const paths: string[] = [];
  let notUtf8 = 0;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0) continue;
    if (i > start) {
      try {
        paths.push(`/${strictUtf8.decode(bytes.subarray(start, i)).replace(/^\/+/, "")}`);
      } catch {
        notUtf8 += 1;
      }
    }
    start = i + 1;
  }
  return { paths, notUtf8 };
}

/**
 * lstat of every path under `mount`, a directory at a time, in one script. A path too long for a
 * script line even on its own (deep trees near PATH_MAX) cannot be read: it is returned apart.
 */
async function statAll(fish: Guestfish, mount: string, paths: string[]): Promise<{ stats: Map<string, Stat>; tooLong: string[] }> {
  const byDir = new Map<string, string[]>();
  const single: string[] = [];
  const tooLong: string[] = [];
  for (const p of paths) {
    const name = path.posix.basename(p);
    if (tooLongForScript(p)) {
      tooLong.push(p);
      continue;
    }
    if (!LISTABLE_NAME.test(name)) {
      single.push(p);
      continue;
    }
    const dir = path.posix.dirname(p);
    const names = byDir.get(dir);
    if (names) names.push(name);
    else byDir.set(dir, [name]);
  }
  const commands: string[] = [];
  const batches: string[][] = [];
  for (const [dir, names] of byDir) {
    const head = `lstatnslist ${quoteArg(path.posix.join(mount, dir))} `;
    let batch: string[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      commands.push(head + quoteArg(batch.join(" ")));
      batches.push(batch.map((name) => path.posix.join(dir, name)));
      batch = [];
    };
    for (const name of names) {
      if (batch.length > 0 && lineBytes(head + quoteArg([...batch, name].join(" "))) > MAX_SCRIPT_LINE_BYTES) flush();
      batch.push(name);
    }
    flush();
  }
  for (const p of single) {
    commands.push(`lstatns ${quoteArg(mount + p)}`);
    batches.push([p]);
  }
  const outputs = await fish.script(commands);
  const stats = new Map<string, Stat>();
  // Every path was just listed on a read-only mount: one that cannot be read is an error, never
  // taken for a deleted file.
  outputs.forEach((output, i) => {
    const batch = batches[i]!;
    const parsed = output === null ? [] : output.startsWith("[") ? parseStatList(output) : [parseStat(output)];
    if (parsed.length !== batch.length) throw new Error(`could not read the attributes of ${batch[0]}${batch.length > 1 ? ` and ${batch.length - 1} more` : ""} under ${mount}`);
    batch.forEach((p, j) => {
      const stat = parsed[j];
      if (!stat) throw new Error(`${p} was listed under ${mount} but cannot be read`);
      stats.set(p, stat);
    });
  });
  return { stats, tooLong };
}

/** sha256 of files, and targets of symlinks, under `mount`, in one script. */
async function contentsOf(fish: Guestfish, mount: string, files: string[], links: string[]) {
  const outputs = await fish.script([
    ...files.map((p) => `checksum sha256 ${quoteArg(mount + p)}`),
    ...links.map((p) => `readlink ${quoteArg(mount + p)}`),
  ]);
  const sha256 = new Map<string, string>();
  const target = new Map<string, string>();
  files.forEach((p, i) => {
    const out = outputs[i]?.trim();
    if (!out || !/^[0-9a-f]{64}$/.test(out)) throw new Error(`could not compute the sha256 of ${p} under ${mount}`);
    sha256.set(p, out);
  });
  links.forEach((p, i) => {
    const out = outputs[files.length + i];
    if (out == null) throw new Error(`could not read the symlink ${p} under ${mount}`);
    target.set(p, out.replace(/\n$/, ""));
  });
  return { sha256, target };
}

function state(stat: Stat, sha256?: string, target?: string): FileState {
  return {
    type: stat.type,
    mode: stat.mode,
    uid: stat.uid,
    gid: stat.gid,
    size: stat.type === "file" ? stat.size : null,
    mtime: new Date(Number(stat.mtimeNs / 1_000_000n)).toISOString(),
    sha256: sha256 ?? null,
    target: target ?? null,
  };
}

/**
 * Pairs the first disk's filesystems with the second's: /dev/sda1 with /dev/sdb1, /dev/sda with
 * /dev/sdb. Others (LVM volumes, RAID: both disks carry the same names) are returned apart, to
 * be reported as not compared.
 */
function pairFilesystems(listing: string): { pairs: { base: string; next: string; type: string }[]; others: { device: string; type: string }[] } {
  const all = listing
    .split("\n")
    .map((line) => /^(\S+):\s*(\S*)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ device: m[1]!, type: m[2]! }));
  const pairs = all
    .filter((fs) => /^\/dev\/sda\d*$/.test(fs.device))
    .map((fs) => ({ base: fs.device, next: fs.device.replace(/^\/dev\/sda/, "/dev/sdb"), type: fs.type }))
    .filter((pair) => all.some((fs) => fs.device === pair.next));
  const paired = new Set(pairs.flatMap((p) => [p.base, p.next]));
  const others = all.filter((fs) => !paired.has(fs.device) && !/^\/dev\/sdb\d*$/.test(fs.device));
  return { pairs, others };
}

async function diffFilesystem(fish: Guestfish, device: string, work: string): Promise<{ changes: FileChange[]; notUtf8: number; tooLong: number }> {
  await fish.call("find0", BASE_MOUNT, path.join(work, "base.list"));
  await fish.call("find0", NEW_MOUNT, path.join(work, "new.list"));
  const baseListing = await listed(path.join(work, "base.list"));
  const newListing = await listed(path.join(work, "new.list"));
  const basePaths = baseListing.paths;
  const newPaths = newListing.paths;
  const { stats: before, tooLong: tooLongBefore } = await statAll(fish, BASE_MOUNT, basePaths);
  const { stats: after, tooLong: tooLongAfter } = await statAll(fish, NEW_MOUNT, newPaths);

  // Files whose content may differ are hashed on both sides; symlinks have their targets read.
  const hashBefore: string[] = [];
  const hashAfter: string[] = [];
  const linkBefore: string[] = [];
  const linkAfter: string[] = [];
  for (const [p, a] of after) {
    const b = before.get(p);
    const contentMayDiffer = !b || b.type !== a.type || b.size !== a.size || b.mtimeNs !== a.mtimeNs || b.ctimeNs !== a.ctimeNs || b.ino !== a.ino;
    if (a.type === "file" && contentMayDiffer) hashAfter.push(p);
    if (b?.type === "file" && contentMayDiffer) hashBefore.push(p);
    if (a.type === "symlink" && contentMayDiffer) linkAfter.push(p);
    if (b?.type === "symlink" && contentMayDiffer) linkBefore.push(p);
  }
  for (const [p, b] of before) {
    if (after.has(p)) continue;
    if (b.type === "file") hashBefore.push(p);
    if (b.type === "symlink") linkBefore.push(p);
  }
  const old = await contentsOf(fish, BASE_MOUNT, hashBefore, linkBefore);
  const now = await contentsOf(fish, NEW_MOUNT, hashAfter, linkAfter);

  const changes: FileChange[] = [];
  const sides = (p: string, b: Stat | undefined, a: Stat | undefined) => ({
    before: b ? state(b, old.sha256.get(p), old.target.get(p)) : null,
    after: a ? state(a, now.sha256.get(p), now.target.get(p)) : null,
  });
  for (const [p, a] of after) {
    const b = before.get(p);
    if (!b) {
      changes.push({ filesystem: device, path: p, change: "added", aspects: [], ...sides(p, b, a) });
      continue;
    }
    const aspects: ChangedAspect[] = [];
    if (b.type !== a.type) aspects.push("type");
    else if (a.type === "file" && (old.sha256.get(p) ?? "") !== (now.sha256.get(p) ?? "")) aspects.push("content");
    else if (a.type === "symlink" && (old.target.get(p) ?? "") !== (now.target.get(p) ?? "")) aspects.push("target");
    if (b.mode !== a.mode) aspects.push("mode");
    if (b.uid !== a.uid || b.gid !== a.gid) aspects.push("owner");
    if (aspects.length > 0) changes.push({ filesystem: device, path: p, change: "modified", aspects, ...sides(p, b, a) });
  }
  for (const [p, b] of before) {
    if (!after.has(p)) changes.push({ filesystem: device, path: p, change: "deleted", aspects: [], ...sides(p, b, undefined) });
  }
  changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return { changes, notUtf8: Math.max(baseListing.notUtf8, newListing.notUtf8), tooLong: new Set([...tooLongBefore, ...tooLongAfter]).size };
}

/** Compares `base` (the image a session started from) with `next` (the image it became). */
export async function diffImages(base: GuestfishDisk, next: GuestfishDisk): Promise<ImageDiff> {
  const work = await mkdtemp(path.join(tmpdir(), "twinboot-diff-"));
  const fish = await Guestfish.open([base, next]);
  try {
    const result: ImageDiff = { filesystems: [], changes: [] };
    const { pairs, others } = pairFilesystems(await fish.call("list-filesystems"));
    for (const fs of others) result.filesystems.push({ device: fs.device, type: fs.type, compared: false, note: "not on a partition of its own (LVM or RAID): not compared yet" });
    await fish.call("mkmountpoint", BASE_MOUNT);
    await fish.call("mkmountpoint", NEW_MOUNT);
    for (const pair of pairs) {
      if (["swap", "unknown", ""].includes(pair.type)) {
        result.filesystems.push({ device: pair.base, type: pair.type, compared: false, note: "no files (swap or unknown)" });
        continue;
      }
      // A filesystem that does not mount (damaged, or of a kind the appliance cannot read) is
      // reported as not compared; the others still are. (A failed call would end the appliance:
      // mount in a script, then ask what is mounted.)
      // Both copies of an XFS carry the same UUID: the second mounts only with nouuid.
      const options = pair.type === "xfs" ? "ro,nouuid" : "ro";
      await fish.script([`mount-options ${options} ${quoteArg(pair.base)} ${BASE_MOUNT}`, `mount-options ${options} ${quoteArg(pair.next)} ${NEW_MOUNT}`]);
      const mounted = await fish.call("mountpoints");
      if (!mounted.includes(`: ${BASE_MOUNT}\n`) || !mounted.includes(`: ${NEW_MOUNT}\n`)) {
        result.filesystems.push({ device: pair.base, type: pair.type, compared: false, note: "does not mount" });
      } else {
        const { changes, notUtf8, tooLong } = await diffFilesystem(fish, pair.base, work);
        const notes = [
          ...(notUtf8 > 0 ? [`${notUtf8} name(s) that are not valid UTF-8 were left out`] : []),
          ...(tooLong > 0 ? [`${tooLong} path(s) too long to be read by the appliance were left out`] : []),
        ];
        result.filesystems.push({ device: pair.base, type: pair.type, compared: true, ...(notes.length > 0 ? { note: notes.join("; ") } : {}) });
        result.changes.push(...changes);
      }
      await fish.script([`umount ${BASE_MOUNT}`, `umount ${NEW_MOUNT}`]);
    }
    return result;
  } finally {
    await fish.close();
    await rm(work, { recursive: true, force: true });
  }
}
