import { describe, expect, it } from "vitest";
import { isNoise, pathOnPc } from "./changes";

describe("system noise", () => {
  it("is what a booted Debian with systemd writes by itself: its journal, logins, random seed, timers' stamps, tmpfiles' folders", () => {
    for (const noise of [
      "/var/log/journal/abf77a70f4de474099519ada4ccc1e9f",
      "/var/log/journal/abf77a70f4de474099519ada4ccc1e9f/system.journal",
      "/var/log/lastlog",
      "/var/log/wtmp",
      "/var/lib/systemd/random-seed",
      "/var/lib/systemd/timers",
      "/var/lib/systemd/timers/stamp-apt-daily.timer",
      "/var/lib/systemd/timesync/clock",
      "/tmp/.X11-unix",
    ]) {
      expect(isNoise(noise), noise).toBe(true);
    }
  });

  it("is not a user's documents, nor the system's configuration", () => {
    for (const change of ["/home/alice/Documents/plan.txt", "/alice/Documents/budget.csv", "/etc/fstab", "/var/lib/systemd/timers-notes.txt", "/etc/systemd/system/backup.timer"]) {
      expect(isNoise(change), change).toBe(false);
    }
  });
});

describe("a changed path on the PC", () => {
  it("is under the mount point of its filesystem", () => {
    expect(pathOnPc("/home", "/alice/Documents/plan.txt")).toBe("/home/alice/Documents/plan.txt");
    expect(pathOnPc("/", "/etc/fstab")).toBe("/etc/fstab");
    expect(pathOnPc(undefined, "/alice/notes.txt")).toBe("/alice/notes.txt");
  });
});
