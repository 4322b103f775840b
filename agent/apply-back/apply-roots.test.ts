import { describe, expect, it } from "vitest";
import type { TApplyFilesystem } from "@/wire/apply-back";
import { ZAgentConfigSchema } from "../config";
import { ApplyBackError } from "./apply-back-error";
import { chooseRoots, parseMountInfo, type Mount } from "./apply-roots";

const config = (applyRoots: Record<string, string> = {}) =>
  ZAgentConfigSchema.parse({
    server: "http://localhost:3000",
    machineId: "00000000-0000-4000-8000-000000000000",
    machineName: "pc",
    credential: "tba_x",
    applyRoots,
  });

const fs = (device: string, mountPoint: string | null, type = "ext4"): TApplyFilesystem => ({ device, type, mountPoint });
/** A disk with / on sda1 and /home on sda2, as the image's fstab says. */
const twoFilesystems = [fs("/dev/sda1", "/"), fs("/dev/sda2", "/home")];
const rootOnly: Mount[] = [{ mountPoint: "/", fsType: "ext4" }];
const withHome: Mount[] = [...rootOnly, { mountPoint: "/home", fsType: "ext4" }];

describe("where a change set's filesystems go", () => {
  it("puts the only filesystem of a change set under --root", () => {
    expect(chooseRoots({ filesystems: [fs("/dev/sda1", null)], needed: ["/dev/sda1"], root: "/mnt/pc", config: config(), mounts: [] })).toEqual({ "/dev/sda1": "/mnt/pc" });
  });

  it("never puts a lone /boot or ESP under / (the change set compared only that one)", () => {
    const choose = (filesystems: TApplyFilesystem[], mounts: Mount[]) => chooseRoots({ filesystems, needed: ["/dev/sda1"], root: "/", config: config(), mounts });
    expect(() => choose([fs("/dev/sda1", "/boot")], rootOnly)).toThrow(/the image's fstab mounts it at \/boot, but \/boot is not a mount point on this computer/);
    expect(choose([fs("/dev/sda1", "/boot")], [...rootOnly, { mountPoint: "/boot", fsType: "ext4" }])).toEqual({ "/dev/sda1": "/boot" });
    expect(choose([fs("/dev/sda1", "/")], rootOnly)).toEqual({ "/dev/sda1": "/" });
  });

  it("takes no device name for a key of Object's own (a hostile server's \"__proto__\")", () => {
    expect(() => chooseRoots({ filesystems: [fs("/dev/sda1", "/"), fs("constructor", "/x")], needed: ["constructor"], root: "/", config: config(), mounts: rootOnly })).toThrow(ApplyBackError);
  });

  it("decides from the change set, not the request: a request of /home's files alone never goes to /", () => {
    const choose = (filesystems: TApplyFilesystem[], mounts: Mount[]) => chooseRoots({ filesystems, needed: ["/dev/sda2"], root: "/", config: config(), mounts });
    expect(choose(twoFilesystems, withHome)).toEqual({ "/dev/sda2": "/home" });
    // /home is not a filesystem of its own here: nowhere is confirmed, so nothing is written.
    expect(() => choose(twoFilesystems, rootOnly)).toThrow(/say where \/dev\/sda2 is on this computer \(the image's fstab mounts it at \/home, but \/home is not a mount point on this computer\) with "applyRoots": \{ "\/dev\/sda2": "\/its\/mount\/point" \}/);
    // Nor without any suggestion (an image inspected before mount points were read).
    expect(() => choose([fs("/dev/sda1", null), fs("/dev/sda2", null)], withHome)).toThrow(/The changes are in 2 filesystems \(\/dev\/sda1, \/dev\/sda2\); say where \/dev\/sda2 is on this computer with "applyRoots"/);
    // A list that leaves out the request's own filesystem still counts it.
    expect(() => chooseRoots({ filesystems: [fs("/dev/sda1", "/")], needed: ["/dev/sda2"], root: "/", config: config(), mounts: withHome })).toThrow(ApplyBackError);
  });

  it("confirms the image's mount points under --root", () => {
    const mounts: Mount[] = [...rootOnly, { mountPoint: "/mnt/pc", fsType: "ext4" }, { mountPoint: "/mnt/pc/home", fsType: "ext4" }, { mountPoint: "/mnt/pc/boot/efi", fsType: "vfat" }];
    const filesystems = [...twoFilesystems, fs("/dev/sda3", "/boot/efi", "vfat")];
    expect(chooseRoots({ filesystems, needed: ["/dev/sda1", "/dev/sda2", "/dev/sda3"], root: "/mnt/pc/", config: config(), mounts })).toEqual({
      "/dev/sda1": "/mnt/pc",
      "/dev/sda2": "/mnt/pc/home",
      "/dev/sda3": "/mnt/pc/boot/efi",
    });
  });

  it("refuses a hostile server's mount points: not mounted here, not a disk, another kind, outside, or taken", () => {
    const mounts: Mount[] = [...withHome, { mountPoint: "/proc", fsType: "proc" }, { mountPoint: "/run", fsType: "tmpfs" }, { mountPoint: "/boot/efi", fsType: "vfat" }];
    const refused = (mountPoint: string, extra: Partial<Parameters<typeof chooseRoots>[0]> = {}) =>
      expect(() => chooseRoots({ filesystems: [fs("/dev/sda1", "/"), fs("/dev/sda2", mountPoint)], needed: ["/dev/sda2"], root: "/", config: config(), mounts, ...extra })).toThrow(ApplyBackError);
    refused("/etc"); // not a mount point here
    refused("/root/.ssh");
    refused("/proc"); // mounted, but not a disk filesystem
    refused("/run");
    refused("/boot/efi"); // a disk, but vfat where the image's filesystem is ext4
    refused("/home/../etc"); // not a plain mount point
    refused("home");
    refused("/home/");
    refused("/"); // where /dev/sda1 goes already
    refused("/home", { config: config({ "/dev/sda1": "/home" }) }); // where the configuration puts another
  });

  it("lets the configuration decide first, even for a single filesystem", () => {
    expect(chooseRoots({ filesystems: [fs("/dev/sda2", null)], needed: ["/dev/sda2"], root: "/", config: config({ "/dev/sda2": "/home" }), mounts: [] })).toEqual({ "/dev/sda2": "/home" });
    expect(chooseRoots({ filesystems: twoFilesystems, needed: ["/dev/sda1", "/dev/sda2"], root: "/", config: config({ "/dev/sda2": "/srv/home" }), mounts: rootOnly })).toEqual({
      "/dev/sda1": "/",
      "/dev/sda2": "/srv/home",
    });
    expect(() => chooseRoots({ filesystems: [fs("/dev/sda1", null), fs("/dev/sda2", null)], needed: ["/dev/sda1", "/dev/sda2"], root: "/", config: config({ "/dev/sda1": "/" }), mounts: [] })).toThrow(
      /"applyRoots": \{ "\/dev\/sda2": "\/its\/mount\/point" \}/,
    );
  });

  it("reads mountinfo, escapes and stacked mounts included", () => {
    const text = [
      "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
      "23 22 0:21 / /proc rw,nosuid - proc proc rw",
      "24 22 8:2 / /mnt/my\\040disk rw shared:2 - xfs /dev/sda2 rw",
      "25 24 0:30 / /mnt/my\\040disk rw - tmpfs tmpfs rw",
      "",
    ].join("\n");
    const mounts = parseMountInfo(text);
    expect(mounts).toEqual([
      { mountPoint: "/", fsType: "ext4" },
      { mountPoint: "/proc", fsType: "proc" },
      { mountPoint: "/mnt/my disk", fsType: "xfs" },
      { mountPoint: "/mnt/my disk", fsType: "tmpfs" },
    ]);
    // What is visible there is the tmpfs on top: refused.
    expect(() => chooseRoots({ filesystems: [fs("/dev/sda1", "/"), fs("/dev/sdb1", "/mnt/my disk", "xfs")], needed: ["/dev/sdb1"], root: "/", config: config(), mounts })).toThrow(/is tmpfs, not xfs/);
  });
});
