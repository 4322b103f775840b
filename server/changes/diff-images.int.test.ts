// The file-level diff on real images: the office-PC fixture as the base, and a qcow2 on top of it
// changed through libguestfs as a session would change it — then diffImages compared with what
// was done, exactly: nothing missed, nothing extra (a file only touched is not a change).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Guestfish, quoteArg } from "@/server/tools/guestfish";
import { diffImages, type ImageDiff } from "./diff-images";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
let dir: string;
let diff: ImageDiff;
let hostnameBefore: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "twinboot-diff-test-"));
  const fixture = execFileSync("bash", ["e2e/fixtures/build-office-pc.sh"], { encoding: "utf8" }).trim().split("\n").at(-1)!;
  const base = path.join(dir, "base.qcow2");
  const next = path.join(dir, "next.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", fixture, base]);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, next]);

  const fish = await Guestfish.open([{ file: next, format: "qcow2" }], { writable: true });
  try {
    await fish.call("mount", "/dev/sda1", "/");
    hostnameBefore = (await fish.call("cat", "/etc/hostname")).slice(0, -1); // guestfish adds a newline
    const done = await fish.script([
      `write "/root/report.txt" "quarterly figures\\n"`,
      `write-append /etc/hostname "-vm"`,
      `rm /etc/fstab`,
      `mkdir /root/projects`,
      `ln-s /root/report.txt /root/latest`,
      `chmod 0600 /etc/passwd`,
      `chown 1000 1000 /etc/group`,
      // Touched only: its times change, its content does not; not a change.
      `touch /etc/profile`,
      `write ${quoteArg("/root/name with space\nand newline")} "odd"`,
      `mkdir-p /var/log`,
      `write /var/log/messages "noise"`,
    ].map((command) => `${command}\necho ok`));
    expect(done.every((output) => output?.trim() === "ok")).toBe(true);
  } finally {
    await fish.close();
  }
  diff = await diffImages({ file: base, format: "qcow2" }, { file: next, format: "qcow2" });
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the file-level diff of two images", () => {
  it("compares every filesystem it can read", () => {
    expect(diff.filesystems).toEqual([{ device: "/dev/sda1", type: "ext4", compared: true }]);
  });

  it("finds exactly what was added, modified and deleted, and nothing only touched", () => {
    const summary = diff.changes.map((c) => `${c.change} ${c.path}${c.aspects.length ? ` (${c.aspects.join(", ")})` : ""}`);
    expect(summary.sort()).toEqual(
      [
        "added /root/report.txt",
        "added /root/projects",
        "added /root/latest",
        "added /root/name with space\nand newline",
        "modified /etc/hostname (content)",
        "modified /etc/passwd (mode)",
        "modified /etc/group (owner)",
        "deleted /etc/fstab",
        // /var/log exists in the fixture or not; the file in it is new either way.
        ...diff.changes.filter((c) => c.path === "/var/log").map(() => "added /var/log"),
        "added /var/log/messages",
      ].sort(),
    );
  });

  it("records size and sha256 on both sides, and symlink targets", () => {
    const byPath = new Map(diff.changes.map((c) => [c.path, c]));
    expect(byPath.get("/root/report.txt")!.after).toMatchObject({ type: "file", size: 18, sha256: sha256("quarterly figures\n") });
    const hostname = byPath.get("/etc/hostname")!;
    expect(hostname.before).toMatchObject({ size: hostnameBefore.length, sha256: sha256(hostnameBefore) });
    expect(hostname.after).toMatchObject({ size: hostnameBefore.length + 3, sha256: sha256(`${hostnameBefore}-vm`) });
    expect(byPath.get("/etc/fstab")!.before?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(byPath.get("/etc/fstab")!.after).toBeNull();
    expect(byPath.get("/root/latest")!.after).toMatchObject({ type: "symlink", target: "/root/report.txt" });
    expect(byPath.get("/etc/passwd")!.after?.mode).toBe(0o600);
    expect(byPath.get("/etc/group")!.after).toMatchObject({ uid: 1000, gid: 1000 });
  });
});
