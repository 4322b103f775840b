// Reading a disk that may be in use. A filesystem mounted read-write changes under the reader, so
// before reading the agent either finds nothing mounted read-write, or takes an LVM snapshot
// inside a brief fsfreeze and reads the snapshot, or (as the user chose) freezes the filesystems
// for the whole read, reads anyway, or refuses — and says which.
import { freezeFilesystems, mountedFilesystems, type MountedFilesystem } from "./disk-device";
import { runTool } from "./run-tool";

export const WHEN_MOUNTED = ["refuse", "freeze", "allow-inconsistent"] as const;
export type WhenMounted = (typeof WHEN_MOUNTED)[number];

export interface ConsistentRead {
  /** What to read: the device itself, or a snapshot of it. */
  device: string;
  /** One sentence for the log: how the read is made consistent, or that it is not. */
  how: string;
  /** Thaws, or removes the snapshot. Safe to call twice. */
  release(): Promise<void>;
}

export class InconsistentReadError extends Error {}

/** The commands this module runs; a test replaces them where the kernel has no device-mapper. */
export interface SnapshotTools {
  run(command: string, args: string[]): Promise<string>;
  freeze(mountPoints: string[]): Promise<() => Promise<void>>;
}

export const systemTools: SnapshotTools = {
  run: async (command, args) => (await runTool(command, args)).stdout,
  freeze: freezeFilesystems,
};

const MiB = 1024 * 1024;
/** Room for the blocks that change while the snapshot is read: a fifth of the volume, 64 MiB at least. */
const MIN_SNAPSHOT_BYTES = 64 * MiB;

interface LogicalVolume {
  vg: string;
  lv: string;
  sizeBytes: number;
  vgFreeBytes: number;
}

async function logicalVolume(tools: SnapshotTools, device: string): Promise<LogicalVolume | string> {
  let line: string;
  try {
    line = (await tools.run("lvs", ["--noheadings", "--nosuffix", "--units", "b", "-o", "vg_name,lv_name,lv_size,vg_free", device])).trim();
  } catch {
    return "it is not an LVM logical volume";
  }
  const [vg, lv, size, free] = line.split(/\s+/);
  if (!vg || !lv) return "it is not an LVM logical volume";
  return { vg, lv, sizeBytes: Number(size), vgFreeBytes: Number(free) };
}

/**
 * An LVM snapshot of `volume`, taken while `mounts` are frozen (for as long as lvcreate takes),
 * so the snapshot holds every filesystem as it was at one instant, with nothing half-written.
 */
async function snapshot(tools: SnapshotTools, volume: LogicalVolume, mounts: MountedFilesystem[]): Promise<ConsistentRead | string> {
  const cowBytes = Math.max(MIN_SNAPSHOT_BYTES, Math.ceil(volume.sizeBytes / 5 / MiB) * MiB);
  if (volume.vgFreeBytes < cowBytes) {
    return `volume group ${volume.vg} has ${Math.floor(volume.vgFreeBytes / MiB)} MiB free, and a snapshot needs ${cowBytes / MiB} MiB`;
  }
  const name = `twinboot-snap-${volume.lv}`;
  const snapshotPath = `/dev/${volume.vg}/${name}`;
  // A snapshot left by a crashed run is stale: remove it before taking a new one.
  await tools.run("lvremove", ["-f", `${volume.vg}/${name}`]).catch(() => undefined);
  const started = Date.now();
  const thaw = await tools.freeze(mounts.map((m) => m.mountPoint));
  try {
    await tools.run("lvcreate", ["--snapshot", "--size", `${cowBytes}b`, "--name", name, `${volume.vg}/${volume.lv}`]);
  } catch (error) {
    return `lvcreate failed: ${error instanceof Error ? error.message.trim() : String(error)}`;
  } finally {
    await thaw();
  }
  let removed = false;
  return {
    device: snapshotPath,
    how: `Took an LVM snapshot of ${volume.vg}/${volume.lv} inside a ${Date.now() - started} ms freeze of ${mounts.map((m) => m.mountPoint).join(", ")}; reading the snapshot.`,
    release: async () => {
      if (removed) return;
      removed = true;
      await tools.run("lvremove", ["-f", `${volume.vg}/${name}`]);
    },
  };
}

export async function prepareConsistentRead(device: string, whenMounted: WhenMounted, tools: SnapshotTools = systemTools): Promise<ConsistentRead> {
  const busy = (await mountedFilesystems(device)).filter((m) => m.readWrite);
  if (busy.length === 0) {
    return { device, how: `No filesystem on ${device} is mounted read-write: the image is consistent.`, release: async () => {} };
  }
  const where = busy.map((m) => `${m.source} on ${m.mountPoint}`).join(", ");
  const volume = await logicalVolume(tools, device);
  const snapped = typeof volume === "string" ? volume : await snapshot(tools, volume, busy);
  if (typeof snapped !== "string") return snapped;
  const noSnapshot = `no snapshot is possible (${snapped})`;

  if (whenMounted === "freeze") {
    const thaw = await tools.freeze(busy.map((m) => m.mountPoint));
    return {
      device,
      how: `Froze ${where} for the whole read (${noSnapshot}); writes there wait until the disk is read.`,
      release: thaw,
    };
  }
  if (whenMounted === "allow-inconsistent") {
    return {
      device,
      how: `Warning: ${where} is mounted read-write and ${noSnapshot}; reading anyway (allow-inconsistent): the image may be inconsistent.`,
      release: async () => {},
    };
  }
  throw new InconsistentReadError(
    `${device} holds a filesystem mounted read-write (${where}) and ${noSnapshot}; an image of it would be inconsistent. Unmount it, or use --freeze (blocks writes during the read) or --allow-inconsistent.`,
  );
}
