// Boots a disk image as the computer it was written to would: SeaBIOS, or OVMF (no Secure Boot,
// no boot entries: the firmware finds the removable-media loader), on a throwaway overlay, the
// serial port logged, until a line shows there. KVM when this machine has a working one, else TCG.
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runTool } from "@/server/tools/run-tool";
import { probeKvmHere } from "@/server/tools/kvm-probe";

const OVMF = "/usr/share/OVMF";

/** Boots `disk` (raw) with `firmware` until `line` is on its serial port; returns the serial log. */
export async function bootUntilSerialLine(disk: string, firmware: "bios" | "uefi", line: string, timeoutMs: number): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "twinboot-boot-"));
  const overlay = path.join(dir, "disk.qcow2");
  const log = path.join(dir, "serial.log");
  await runTool("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", disk, overlay]);
  const machine =
    firmware === "bios"
      ? ["-machine", "pc", "-drive", `file=${overlay},format=qcow2,if=virtio`]
      : (copyFileSync(path.join(OVMF, "OVMF_VARS_4M.fd"), path.join(dir, "vars.fd")),
        [
          "-machine", "q35",
          "-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${path.join(OVMF, "OVMF_CODE_4M.fd")}`,
          "-drive", `if=pflash,format=raw,unit=1,file=${path.join(dir, "vars.fd")}`,
          "-drive", `if=none,id=disk0,file=${overlay},format=qcow2`,
          "-device", "ide-hd,drive=disk0,bus=ide.0",
        ]);
  const accel = (await probeKvmHere()) ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg"];
  // Under coreutils' timeout, as the leader of a group of its own: nothing outlives the test.
  const qemu = spawn(
    "timeout",
    ["--kill-after=5s", `${Math.ceil(timeoutMs / 1000) + 30}s`, "qemu-system-x86_64", ...accel, "-m", "1024", "-nodefaults", "-vga", "std", "-display", "none", "-no-reboot", "-serial", `file:${log}`, ...machine],
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  let stderr = "";
  qemu.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const serial = () => {
    try {
      return readFileSync(log, "latin1");
    } catch {
      return "";
    }
  };
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = serial();
      if (text.includes(line)) return text;
      if (qemu.exitCode !== null) throw new Error(`QEMU exited (${qemu.exitCode}) before "${line}": ${stderr}\n${text.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`no "${line}" on the serial port in ${timeoutMs / 1000} s:\n${text.slice(-3000)}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    if (qemu.exitCode === null) process.kill(-qemu.pid!, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}
