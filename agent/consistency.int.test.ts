// How the agent makes a read of a busy disk consistent, on a real loop-mounted ext4 with real
// fsfreeze. This kernel has no device-mapper, so LVM cannot run here: `lvs`, `lvcreate` and
// `lvremove` are played by a fake that records its calls (the only stand-in in this test).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InconsistentReadError, prepareConsistentRead, systemTools, type SnapshotTools } from "./consistency";

let dir: string;
let disk: string;
let unmount: () => void;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "twinboot-consistency-"));
  disk = path.join(dir, "disk.img");
  execFileSync("truncate", ["-s", "32M", disk]);
  execFileSync("mkfs.ext4", ["-q", "-F", disk]);
  const mnt = path.join(dir, "mnt");
  execFileSync("mkdir", ["-p", mnt]);
  const loop = execFileSync("losetup", ["--find", "--show", disk], { encoding: "utf8" }).trim();
  execFileSync("mount", [loop, mnt]);
  unmount = () => {
    execFileSync("umount", [mnt]);
    execFileSync("losetup", ["--detach", loop]);
  };
});

afterAll(() => {
  unmount?.();
  rmSync(dir, { recursive: true, force: true });
});

/** Real fsfreeze, fake LVM: `lvs` describes the disk as vg0/root when `lvm` is given. */
function tools(lvm?: { vgFreeBytes: number; lvcreateFails?: boolean }) {
  const calls: string[] = [];
  const fake: SnapshotTools = {
    run: async (command, args) => {
      calls.push(`${command} ${args.join(" ")}`);
      if (command === "lvs") {
        if (!lvm) throw new Error(`Failed to find logical volume "${args.at(-1)}"`);
        return `  vg0 root 33554432 ${lvm.vgFreeBytes}\n`;
      }
      if (command === "lvcreate" && lvm?.lvcreateFails) throw new Error("  Snapshot origin volume vg0/root is busy.");
      return "";
    },
    freeze: async (mountPoints) => {
      calls.push(`freeze ${mountPoints.length}`);
      const thaw = await systemTools.freeze(mountPoints);
      return async () => {
        calls.push("thaw");
        await thaw();
      };
    },
  };
  return { fake, calls };
}

describe("reading a disk with a filesystem mounted read-write", () => {
  it("takes an LVM snapshot inside a brief freeze and reads the snapshot", async () => {
    const { fake, calls } = tools({ vgFreeBytes: 1 << 30 });
    const read = await prepareConsistentRead(disk, "refuse", fake);
    expect(read.device).toBe("/dev/vg0/twinboot-snap-root");
    expect(read.how).toMatch(/^Took an LVM snapshot of vg0\/root inside a \d+ ms freeze of .*mnt; reading the snapshot\.$/);
    expect(calls.slice(1)).toEqual([
      "lvremove -f vg0/twinboot-snap-root", // a stale one from a crash, if any
      "freeze 1",
      `lvcreate --snapshot --size ${64 * 1024 * 1024}b --name twinboot-snap-root vg0/root`,
      "thaw",
    ]);
    await read.release();
    await read.release();
    expect(calls.at(-1)).toBe("lvremove -f vg0/twinboot-snap-root");
    expect(calls.filter((c) => c.startsWith("lvremove")).length).toBe(2);
  });

  it("thaws even when the snapshot fails, then follows the user's choice", async () => {
    const { fake, calls } = tools({ vgFreeBytes: 1 << 30, lvcreateFails: true });
    await expect(prepareConsistentRead(disk, "refuse", fake)).rejects.toThrow(/no snapshot is possible \(lvcreate failed: Snapshot origin volume vg0\/root is busy\.\)/);
    expect(calls).toContain("thaw");
  });

  it("says when the volume group has no room for a snapshot", async () => {
    const { fake } = tools({ vgFreeBytes: 10 * 1024 * 1024 });
    await expect(prepareConsistentRead(disk, "refuse", fake)).rejects.toThrow(/volume group vg0 has 10 MiB free, and a snapshot needs 64 MiB/);
  });

  it("refuses a plain read, and says what the options are", async () => {
    const failure = prepareConsistentRead(disk, "refuse", tools().fake);
    await expect(failure).rejects.toBeInstanceOf(InconsistentReadError);
    await expect(failure).rejects.toThrow(/mounted read-write .* no snapshot is possible \(it is not an LVM logical volume\).*--freeze.*--allow-inconsistent/);
  });

  it("freezes for the whole read when asked, and thaws on release", async () => {
    const { fake, calls } = tools();
    const read = await prepareConsistentRead(disk, "freeze", fake);
    expect(read.device).toBe(disk);
    expect(read.how).toMatch(/^Froze .* for the whole read/);
    expect(calls.at(-1)).toBe("freeze 1");
    await read.release();
    expect(calls.at(-1)).toBe("thaw");
  });

  it("reads anyway when allowed, with a warning", async () => {
    const read = await prepareConsistentRead(disk, "allow-inconsistent", tools().fake);
    expect(read.how).toMatch(/^Warning: .* may be inconsistent\.$/);
  });
});
