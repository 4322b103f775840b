// The disk the agent images: its size, partition table, and whether a mounted filesystem on it
// makes a plain read inconsistent.
import { open, readFile, readdir, realpath, stat } from "node:fs/promises";
import { runTool } from "./run-tool";

export async function deviceSize(device: string): Promise<number> {
  const info = await stat(device);
  if (info.isFile()) return info.size;
  if (!info.isBlockDevice()) throw new Error(`${device} is neither a block device nor a disk image file.`);
  const { stdout } = await runTool("blockdev", ["--getsize64", device]);
  return Number(stdout.trim());
}

export async function partitionTable(device: string): Promise<"mbr" | "gpt" | "none" | "unknown"> {
  const handle = await open(device, "r");
  try {
    const head = Buffer.alloc(1024);
    await handle.read(head, 0, head.length, 0);
    if (head.subarray(512, 520).toString("latin1") === "EFI PART") return "gpt";
    if (head[510] === 0x55 && head[511] === 0xaa) return "mbr";
    return "none";
  } catch {
    return "unknown";
  } finally {
    await handle.close();
  }
}

export interface MountedFilesystem {
  source: string;
  mountPoint: string;
  readWrite: boolean;
}

/** Block devices that stand for `device`: itself, or loop devices whose backing file it is. */
async function devicesFor(device: string): Promise<Set<string>> {
  const target = await realpath(device);
  const names = new Set<string>();
  const info = await stat(target);
  if (info.isBlockDevice()) names.add(target.replace(/^\/dev\//, ""));
  for (const loop of await readdir("/sys/block").catch(() => [])) {
    if (!loop.startsWith("loop")) continue;
    const backing = await readFile(`/sys/block/${loop}/loop/backing_file`, "utf8").catch(() => "");
    if (backing.trim() === target) names.add(loop);
  }
  return names;
}

/**
 * Filesystems mounted from the disk: from the device itself, its partitions, or loop devices
 * over it (a disk image file attached with losetup, with or without an offset).
 */
export async function mountedFilesystems(device: string): Promise<MountedFilesystem[]> {
  const names = await devicesFor(device);
  const mounts = await readFile("/proc/self/mountinfo", "utf8");
  const found: MountedFilesystem[] = [];
  for (const line of mounts.split("\n")) {
    const [left, right] = line.split(" - ");
    if (!left || !right) continue;
    const fields = left.split(" ");
    const [, source] = right.split(" ");
    const mountPoint = fields[4];
    const options = fields[5] ?? "";
    if (!source || !mountPoint) continue;
    // /dev/mapper/vg-lv and /dev/vg/lv are links to /dev/dm-N, the name the device goes by.
    const name = (source.startsWith("/dev/") ? await realpath(source).catch(() => source) : source).replace(/^\/dev\//, "");
    const onDisk = [...names].some((n) => name === n || (name.startsWith(n) && /^p?\d+$/.test(name.slice(n.length))));
    if (onDisk) found.push({ source, mountPoint, readWrite: options.split(",").includes("rw") });
  }
  return found;
}

export async function freezeFilesystems(mountPoints: string[]): Promise<() => Promise<void>> {
  const frozen: string[] = [];
  const thaw = async () => {
    for (const mountPoint of frozen.splice(0).reverse()) await runTool("fsfreeze", ["--unfreeze", mountPoint]).catch(() => undefined);
  };
  try {
    for (const mountPoint of mountPoints) {
      await runTool("fsfreeze", ["--freeze", mountPoint]);
      frozen.push(mountPoint);
    }
  } catch (error) {
    await thaw();
    throw error;
  }
  return thaw;
}
