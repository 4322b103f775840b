// Whether KVM really works on this machine: /dev/kvm can exist while nested KVM aborts. The probe
// boots the host's kernel under KVM with nothing to mount; it panics and, with -no-reboot, QEMU
// exits 0 within a second or two. Anything else means: use TCG.
import { readdir } from "node:fs/promises";
import { runTool, ToolError } from "./run-tool";

let probed: Promise<boolean> | undefined;

async function probe(): Promise<boolean> {
  const kernel = (await readdir("/boot").catch(() => [])).filter((f) => f.startsWith("vmlinuz-")).sort().at(-1);
  if (!kernel) return false;
  try {
    await runTool(
      "qemu-system-x86_64",
      ["-accel", "kvm", "-cpu", "host", "-m", "64", "-nodefaults", "-display", "none", "-no-reboot", "-serial", "none",
        "-kernel", `/boot/${kernel}`, "-append", "panic=-1"],
      { timeoutMs: 15_000 },
    );
    return true;
  } catch (error) {
    if (error instanceof ToolError) return false;
    throw error;
  }
}

export function kvmWorks(): Promise<boolean> {
  probed ??= probe();
  return probed;
}
