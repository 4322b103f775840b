import { describe, expect, it } from "vitest";
import { ZAgentConfigSchema } from "../config";
import { ApplyBackError, chooseRoots } from "./carry-out";

const config = (applyRoots: Record<string, string> = {}) =>
  ZAgentConfigSchema.parse({
    server: "http://localhost:3000",
    machineId: "00000000-0000-4000-8000-000000000000",
    machineName: "pc",
    credential: "tba_x",
    applyRoots,
  });

describe("where a change set's filesystems go", () => {
  it("puts a single filesystem under --root", () => {
    expect(chooseRoots(["/dev/sda1"], "/mnt/pc", config())).toEqual({ "/dev/sda1": "/mnt/pc" });
  });

  it("uses applyRoots for several, and names the one it cannot place", () => {
    expect(chooseRoots(["/dev/sda1", "/dev/sda2"], "/", config({ "/dev/sda1": "/", "/dev/sda2": "/home" }))).toEqual({ "/dev/sda1": "/", "/dev/sda2": "/home" });
    expect(() => chooseRoots(["/dev/sda1", "/dev/sda2"], "/", config({ "/dev/sda1": "/" }))).toThrow(ApplyBackError);
    expect(() => chooseRoots(["/dev/sda1", "/dev/sda2"], "/", config({ "/dev/sda1": "/" }))).toThrow(/"applyRoots": \{ "\/dev\/sda2": "\/its\/mount\/point" \}/);
  });

  it("prefers a configured place even for a single filesystem", () => {
    expect(chooseRoots(["/dev/sda2"], "/", config({ "/dev/sda2": "/home" }))).toEqual({ "/dev/sda2": "/home" });
  });
});
