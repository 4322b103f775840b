import { describe, expect, it } from "vitest";
import { RemoteCommandError } from "./remote-command";
import { VirshError } from "./virsh";

describe("RemoteCommandError", () => {
  it("names the host, the command and what the tool said, on one line", () => {
    const error = new RemoteCommandError({
      host: "hv1",
      command: "virsh dominfo",
      result: { code: 1, stdout: "", stderr: "error: failed to get domain 'x'\nerror: Domain not found\n" },
    });
    expect(error.message).toBe("virsh dominfo on host hv1 failed: failed to get domain 'x' Domain not found");
    expect(error).toMatchObject({ host: "hv1", command: "virsh dominfo", exitCode: 1 });
    expect(error.stderr).toContain("Domain not found");
  });

  it("falls back to stdout, then the exit code, and adds a hint", () => {
    expect(new RemoteCommandError({ host: "hv1", command: "qemu-img create", result: { code: 1, stdout: "out\n", stderr: "" } }).message).toBe(
      "qemu-img create on host hv1 failed: out",
    );
    expect(new RemoteCommandError({ host: "hv1", command: "virsh nodeinfo", result: { code: 127, stdout: "", stderr: "" }, hint: "Is it installed?" }).message).toBe(
      "virsh nodeinfo on host hv1 failed: exit code 127. Is it installed?",
    );
  });

  it("is what a VirshError is", () => {
    const error = new VirshError({ host: "hv1", command: "virsh create", result: { code: 1, stdout: "", stderr: "no" } });
    expect(error).toBeInstanceOf(RemoteCommandError);
    expect(error).toBeInstanceOf(Error);
  });
});
