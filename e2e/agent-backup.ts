// Helpers for specs that play the physical computer: a private copy of a fixture disk, its
// partitions attached through loop devices at the offsets its partition table gives (this kind of
// host has no partition scanning: no /dev/loopNp1) and mounted, and the agent CLI run as a real process.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");

/** A private, sparse copy of the disk image `fixture`, in a folder of its own. */
export function freshDiskCopy(fixture: string): { dir: string; disk: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "twinboot-agent-"));
  const disk = path.join(dir, "disk.raw");
  execFileSync("cp", ["--sparse=always", fixture, disk]);
  return { dir, disk };
}

/** Builds (or takes from the cache) the "office PC" fixture and returns a private copy of it. */
export function freshFixtureDisk(): { dir: string; disk: string } {
  const build = spawnSync("bash", [path.join(root, "e2e/fixtures/build-office-pc.sh")], { encoding: "utf8", timeout: 600_000 });
  if (build.status !== 0) throw new Error(`fixture build failed:\n${build.stderr}`);
  return freshDiskCopy(build.stdout.trim().split("\n").at(-1)!);
}

/** Where partition `partition` (numbered from 1, as in sda1) of the disk image is, in bytes, as sfdisk reads its table. */
export function partitionExtent(disk: string, partition: number): { offset: number; size: number } {
  const { partitiontable: table } = JSON.parse(execFileSync("sfdisk", ["--json", disk], { encoding: "utf8" })) as {
    partitiontable: { device: string; sectorsize?: number; partitions: { node: string; start: number; size: number }[] };
  };
  const sector = table.sectorsize ?? 512;
  // Nodes are named <disk><n>, or <disk>p<n> when the disk's name ends in a digit.
  const found = table.partitions.find((p) => p.node === `${table.device}${partition}` || p.node === `${table.device}p${partition}`);
  if (!found) throw new Error(`${disk} has no partition ${partition}`);
  return { offset: found.start * sector, size: found.size * sector };
}

/** The partition attached read-write to a loop device of its own (detach it with `losetup --detach`). */
export function attachPartition(disk: string, partition = 1): string {
  const { offset, size } = partitionExtent(disk, partition);
  return execFileSync("losetup", ["--find", "--show", "--offset", String(offset), "--sizelimit", String(size), disk], { encoding: "utf8" }).trim();
}

/** Mounts partition `partition` of the disk image read-write at `mountPoint`; returns how to unmount it. */
export function mountPartition(disk: string, mountPoint: string, partition = 1): () => void {
  execFileSync("mkdir", ["-p", mountPoint]);
  const loop = attachPartition(disk, partition);
  try {
    execFileSync("mount", [loop, mountPoint]);
  } catch (error) {
    execFileSync("losetup", ["--detach", loop]);
    throw error;
  }
  return () => {
    execFileSync("umount", [mountPoint]);
    execFileSync("losetup", ["--detach", loop]);
  };
}

export interface AgentRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runAgent(args: string[], timeout = 300_000): AgentRun {
  const result = spawnSync(process.execPath, [path.join(root, "bin/twinboot-agent.mjs"), ...args], { encoding: "utf8", timeout });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function startAgent(args: string[]) {
  return spawn(process.execPath, [path.join(root, "bin/twinboot-agent.mjs"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/** How many bytes differ between two equal-sized buffers. */
export function changedBytes(before: Buffer, after: Buffer): number {
  let changed = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) changed++;
  return changed;
}
