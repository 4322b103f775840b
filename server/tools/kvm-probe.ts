// Whether KVM really works on a machine: /dev/kvm can exist while nested KVM aborts. The probe
// boots that machine's newest kernel under KVM with nothing to mount; it panics and, with
// -no-reboot, QEMU exits 0 within a second or two. Anything else means: use TCG.
//
// The one probe, with two runners: here (before libguestfs' own, appliance-backend.ts) and on a hypervisor host over
// an SSH connection (server/pool/hosts.ts, at registration). What is booted and for how long is
// decided in this file only.
import { readdir } from "node:fs/promises";
import { runTool, ToolError } from "./run-tool";

/** How long QEMU may take before the probe counts as failed, here and on a host. */
export const KVM_PROBE_DEADLINE_MS = { here: 15_000, onHost: 20_000 } as const;
/** The SSH command's own limit on a host: the probe's deadline and the connection's slack. */
const ON_HOST_COMMAND_TIMEOUT_MS = 30_000;

/** The probe: `kernel` booted under KVM, exiting 0 when it panics. */
export function kvmProbeArgv(kernel: string): string[] {
  return ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "64", "-nodefaults", "-display", "none", "-no-reboot", "-serial", "none",
    "-kernel", kernel, "-append", "panic=-1"];
}

/** Runs the probe on this machine: true when QEMU exited 0 within the deadline. */
export async function probeKvmHere(): Promise<boolean> {
  const kernel = (await readdir("/boot").catch(() => [])).filter((f) => f.startsWith("vmlinuz-")).sort().at(-1);
  if (!kernel) return false;
  const [command, ...args] = kvmProbeArgv(`/boot/${kernel}`);
  try {
    await runTool(command!, args, { timeoutMs: KVM_PROBE_DEADLINE_MS.here });
    return true;
  } catch (error) {
    if (error instanceof ToolError) return false;
    throw error;
  }
}

/** What probeKvmOnHost needs of a connection (an SshConnection): argv in, exit code out. */
export interface RemoteShell {
  exec(argv: string[], options?: { timeoutMs?: number }): Promise<{ code: number; stdout: string }>;
}

/** The host's newest kernel, printed when it is readable and /dev/kvm is writable; exit 3 otherwise. */
const NEWEST_KERNEL_SCRIPT = `k=$(ls /boot/vmlinuz-* 2>/dev/null | sort | tail -n 1); [ -r "$k" ] && [ -w /dev/kvm ] || exit 3; printf %s "$k"`;

/** Runs the probe on a host over `connection`: true when QEMU exited 0 within the deadline. */
export async function probeKvmOnHost(connection: RemoteShell): Promise<boolean> {
  const found = await connection.exec(["sh", "-c", NEWEST_KERNEL_SCRIPT]);
  if (found.code !== 0 || !found.stdout) return false;
  const deadlineSeconds = String(KVM_PROBE_DEADLINE_MS.onHost / 1000);
  return (await connection.exec(["timeout", deadlineSeconds, ...kvmProbeArgv(found.stdout)], { timeoutMs: ON_HOST_COMMAND_TIMEOUT_MS })).code === 0;
}
