import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UnsafePathError, assertConfined, resolveUnder } from "./confine";

const root = mkdtempSync(path.join(tmpdir(), "twinboot-confine-"));
const outside = mkdtempSync(path.join(tmpdir(), "twinboot-outside-"));
mkdirSync(path.join(root, "etc"));
symlinkSync(outside, path.join(root, "escape"));
symlinkSync("/etc", path.join(root, "absolute"));
symlinkSync("etc", path.join(root, "inside"));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe("keeping a change set inside its root", () => {
  it("places a machine path under the root", () => {
    expect(resolveUnder(root, "/etc/hostname")).toBe(path.join(root, "etc/hostname"));
  });

  it("refuses relative paths, .. and . segments, empty segments and NUL", () => {
    for (const bad of ["etc/hostname", "/etc/../../x", "/./etc", "/etc//x", "/etc/\0x", ""]) {
      expect(() => resolveUnder(root, bad), bad).toThrow(UnsafePathError);
    }
  });

  it("refuses a path through a symlink that leads outside, and allows one that stays inside", async () => {
    await expect(assertConfined(root, resolveUnder(root, "/escape/x"))).rejects.toThrow(/leads to .*, outside/);
    await expect(assertConfined(root, resolveUnder(root, "/absolute/passwd"))).rejects.toThrow(UnsafePathError);
    await expect(assertConfined(root, resolveUnder(root, "/inside/hostname"))).resolves.toBeUndefined();
    await expect(assertConfined(root, resolveUnder(root, "/new/dir/file"))).resolves.toBeUndefined();
    // The target itself may be a symlink: it is replaced, never followed.
    await expect(assertConfined(root, resolveUnder(root, "/escape"))).resolves.toBeUndefined();
  });
});
