import { describe, expect, it } from "vitest";
import { kvmProbeArgv, probeKvmOnHost, type RemoteShell } from "./kvm-probe";

/** A host that answers the kernel look-up with `kernel` (exit 3 when empty) and the probe with `probeCode`. */
function fakeHost(kernel: string, probeCode: number): RemoteShell & { calls: { argv: string[]; timeoutMs?: number }[] } {
  const calls: { argv: string[]; timeoutMs?: number }[] = [];
  return {
    calls,
    exec(argv, options) {
      calls.push({ argv, timeoutMs: options?.timeoutMs });
      if (argv[0] === "sh") return Promise.resolve(kernel ? { code: 0, stdout: kernel } : { code: 3, stdout: "" });
      return Promise.resolve({ code: probeCode, stdout: "" });
    },
  };
}

describe("probeKvmOnHost", () => {
  it("boots the host's newest kernel under KVM within 20 s, and KVM works when QEMU exits 0", async () => {
    const host = fakeHost("/boot/vmlinuz-6.1.0-18-amd64", 0);
    expect(await probeKvmOnHost(host)).toBe(true);
    expect(host.calls[1]).toEqual({ argv: ["timeout", "20", ...kvmProbeArgv("/boot/vmlinuz-6.1.0-18-amd64")], timeoutMs: 30_000 });
  });

  it("says no when QEMU fails or times out, and without running it when there is no kernel or /dev/kvm", async () => {
    expect(await probeKvmOnHost(fakeHost("/boot/vmlinuz-6.1.0-18-amd64", 124))).toBe(false);
    const bare = fakeHost("", 0);
    expect(await probeKvmOnHost(bare)).toBe(false);
    expect(bare.calls).toHaveLength(1);
  });
});
