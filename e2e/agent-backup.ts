// Helpers for specs that play the physical computer: the fixture disk, its partition mounted
// through a loop device, and the agent CLI run as a real process.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
export const PARTITION_OFFSET = 1024 * 1024;

/** Builds (or takes from the cache) the "office PC" fixture and returns a private copy of it. */
export function freshFixtureDisk(): { dir: string; disk: string } {
  const build = spawnSync("bash", [path.join(root, "e2e/fixtures/build-office-pc.sh")], { encoding: "utf8", timeout: 600_000 });
  if (build.status !== 0) throw new Error(`fixture build failed:\n${build.stderr}`);
  const fixture = build.stdout.trim().split("\n").at(-1)!;
  const dir = mkdtempSync(path.join(tmpdir(), "twinboot-agent-"));
  const disk = path.join(dir, "disk.raw");
  execFileSync("cp", ["--sparse=always", fixture, disk]);
  return { dir, disk };
}

/** Mounts the disk's partition read-write (no partition scanning here: a loop device at its offset). */
export function mountPartition(disk: string, mountPoint: string): () => void {
  execFileSync("mkdir", ["-p", mountPoint]);
  const loop = execFileSync("losetup", ["--find", "--show", "--offset", String(PARTITION_OFFSET), disk], { encoding: "utf8" }).trim();
  execFileSync("mount", [loop, mountPoint]);
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
