// The installed-Debian PC fixtures (e2e/fixtures/build-debian-pc.sh) are what they claim: each has
// the partition layout fixture-image.ts describes, boots from its own boot loader (the BIOS PC from
// its MBR, the UEFI PC through shim and GRUB from the removable path, with Secure Boot on and off)
// to a login prompt on the serial console, and alice's password opens a shell there that sees the
// filesystems, hostname and documents the constants name.
import type { ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_PC_DOCUMENTS, DEBIAN_PC_USER, DEBIAN_PCS, debianPcImage, uefiPcImage, type DebianPc } from "@/server/testing/fixture-image";
import { probeKvmHere } from "@/server/tools/kvm-probe";
import { runTool, spawnTool } from "@/server/tools/run-tool";

const BUILD_TIMEOUT_MS = 45 * 60_000; // debootstrap from the mirror, when not cached yet
const LOGIN_PROMPT_TIMEOUT_MS = 10 * 60_000; // TCG with Secure Boot (SMM) is the slow case
const TEST_TIMEOUT_MS = 15 * 60_000;
const QEMU_MAX_SECONDS = TEST_TIMEOUT_MS / 1000 + 60;
const OVMF = "/usr/share/OVMF";
const MIB = 1024 ** 2;

type Boot = { pc: DebianPc; image: string; secureBoot?: boolean };

/** One QEMU run of a fixture on a throwaway overlay: serial console on stdio, also logged to a file. */
class PcVm {
  serial = "";
  /** When QEMU started: boot times count from here (firmware included). */
  readonly startedAt = Date.now();
  private qemuStderr = "";
  private exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  private constructor(
    private readonly qemu: ChildProcess,
    private readonly workDir: string,
    readonly accel: "kvm" | "tcg",
  ) {
    this.exited = new Promise((resolve) => qemu.once("exit", (code) => ((this.exitCode = code), resolve())));
    qemu.stdout!.on("data", (chunk: Buffer) => (this.serial += chunk.toString("latin1")));
    qemu.stderr!.on("data", (chunk: Buffer) => (this.qemuStderr += chunk.toString()));
  }

  static async boot({ pc, image, secureBoot = false }: Boot): Promise<PcVm> {
    const workDir = mkdtempSync(path.join(tmpdir(), `pc-fixture-${pc.hostname}-`));
    try {
      const overlay = path.join(workDir, "disk.qcow2");
      await runTool("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, overlay]);
      const accel = (await probeKvmHere()) ? "kvm" : "tcg";
      const args = [
        ...(accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg"]),
        "-m", "1024",
        "-nodefaults", // no NIC: nothing here needs one
        "-vga", "std",
        "-display", "none",
        "-no-reboot",
        "-chardev", `stdio,id=serial0,signal=off,logfile=${path.join(workDir, "serial.log")}`,
        "-serial", "chardev:serial0",
        ...(pc.firmware === "bios" ? biosMachine(overlay) : uefiMachine(overlay, workDir, secureBoot)),
      ];
      // Under coreutils' timeout, so QEMU dies even if this worker is killed before its clean-up;
      // spawnTool makes timeout the leader of a process group of its own, which stop() kills.
      const qemu = await spawnTool("timeout", ["--kill-after=5s", `${QEMU_MAX_SECONDS}s`, "qemu-system-x86_64", ...args]);
      running.add(qemu);
      qemu.once("exit", () => running.delete(qemu));
      await new Promise<void>((resolve, reject) => {
        qemu.once("spawn", resolve);
        qemu.once("error", reject);
      });
      return new PcVm(qemu, workDir, accel);
    } catch (error) {
      rmSync(workDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Waits for `pattern` in the serial output after `from`; fails early if the guest is clearly stuck. */
  async waitFor(pattern: string | RegExp, timeoutMs: number, from = 0): Promise<{ end: number; match: RegExpMatchArray }> {
    const regex = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.serial.slice(from).match(regex);
      if (match) return { end: from + match.index! + match[0].length, match };
      const stuck = /Kernel panic|\(initramfs\) |Gave up waiting for|grub rescue>|Security Violation|Emergency mode/.exec(this.serial);
      if (stuck) throw new Error(`guest failed to boot (${stuck[0]}):\n${this.serialTail()}`);
      if (this.exitCode !== undefined) throw new Error(`QEMU exited (${this.exitCode}) waiting for ${regex}:\n${this.qemuStderr}\n${this.serialTail()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${regex}:\n${this.serialTail()}`);
      await sleep(100);
    }
  }

  /** Types a line on the serial console. */
  type(line: string) {
    this.qemu.stdin!.write(`${line}\r`);
  }

  /** Logs in on the serial getty, whose prompt is at `from`; resolves at the shell prompt. */
  async logIn(user: string, password: string, hostname: string, from: number): Promise<number> {
    this.type(user);
    const asked = await this.waitFor("Password: ", 60_000, from);
    this.type(password);
    return (await this.waitFor(`${user}@${hostname}:~$ `, 120_000, asked.end)).end;
  }

  /** Types a command on the serial shell and returns the first match of `answer` in what follows. */
  async run(command: string, answer: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const from = this.serial.length;
    this.type(command);
    return (await this.waitFor(answer, timeoutMs, from)).match;
  }

  serialTail(chars = 4000) {
    return this.serial.slice(-chars);
  }

  async stop() {
    killGroup(this.qemu);
    await Promise.race([this.exited, sleep(5_000)]);
    rmSync(this.workDir, { recursive: true, force: true });
  }
}

function biosMachine(overlay: string): string[] {
  // The default PC machine (i440FX, SeaBIOS), the disk on virtio.
  return ["-machine", "pc", "-drive", `file=${overlay},format=qcow2,if=virtio`];
}

function uefiMachine(overlay: string, workDir: string, secureBoot: boolean): string[] {
  // OVMF with a fresh copy of its variables (no boot entries: the firmware finds the removable
  // path); the Microsoft-keyed variables turn Secure Boot on, and that firmware needs SMM.
  const vars = path.join(workDir, "OVMF_VARS.fd");
  copyFileSync(path.join(OVMF, secureBoot ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd"), vars);
  return [
    "-machine", "q35,smm=on",
    ...(secureBoot ? ["-global", "driver=cfi.pflash01,property=secure,value=on"] : []),
    "-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${path.join(OVMF, secureBoot ? "OVMF_CODE_4M.ms.fd" : "OVMF_CODE_4M.fd")}`,
    "-drive", `if=pflash,format=raw,unit=1,file=${vars}`,
    // The disk on q35's own SATA (AHCI) controller.
    "-drive", `if=none,id=disk0,file=${overlay},format=qcow2`,
    "-device", "ide-hd,drive=disk0,bus=ide.0",
  ];
}

// Every QEMU this file starts, so that none outlives the tests whatever happens.
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL"); // timeout's process group: timeout and QEMU
  } catch {
    child.kill("SIGKILL");
  }
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Checks the image's size and partition table (as sfdisk reads it) against what `pc` says. */
async function expectLayout(image: string, pc: DebianPc) {
  const info = await runTool("qemu-img", ["info", "--output=json", image]);
  expect((JSON.parse(info.stdout) as { "virtual-size": number })["virtual-size"]).toBe(pc.diskBytes);
  const { stdout } = await runTool("sfdisk", ["--json", image]);
  const table = (JSON.parse(stdout) as { partitiontable: { label: string; sectorsize?: number; partitions: { start: number; size: number }[] } }).partitiontable;
  const mib = (sectors: number) => (sectors * (table.sectorsize ?? 512)) / MIB;
  expect(table.label).toBe(pc.partitionTable === "mbr" ? "dos" : "gpt");
  expect(table.partitions.map((p) => mib(p.start))).toEqual(pc.filesystems.map((f) => f.startMiB));
  pc.filesystems.forEach((f, i) => {
    const { start, size } = table.partitions[i]!;
    // null: to the end of the disk (on GPT, short of the backup table, aligned down to a MiB).
    if (f.sizeMiB === null) expect(pc.diskBytes / MIB - mib(start + size)).toBeLessThanOrEqual(1);
    else expect(mib(size)).toBe(f.sizeMiB);
  });
}

/** Boots `pc`, logs alice in on the serial console and reads back what the constants promise. */
async function bootAndInspect(vm: PcVm, pc: DebianPc, label: string) {
  const prompt = await vm.waitFor(`${pc.hostname} login: `, LOGIN_PROMPT_TIMEOUT_MS);
  console.info(`${label}: login prompt ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s after QEMU started, under ${vm.accel.toUpperCase()}`);
  const shell = await vm.logIn(DEBIAN_PC_USER.name, DEBIAN_PC_USER.password, pc.hostname, prompt.end);
  expect(shell).toBeGreaterThan(prompt.end);
  // R$((6*7)) is only R42 once the shell ran it, so the echo of the command line cannot match.
  const facts = await vm.run(
    "echo R$((6*7)) host=$(hostname) id=$(id -u) docs=$(ls ~/Documents | tr '\\n' ,) " +
      "root=$(findmnt -n -o FSTYPE,UUID / | tr -s ' ' :) home=$(findmnt -n -o TARGET,FSTYPE,UUID --target ~/Documents | tr -s ' ' :) " +
      "efi=$(findmnt -n -o FSTYPE,UUID /boot/efi | tr -s ' ' :). end",
    /R42 host=(\S+) id=(\d+) docs=(\S*) root=(\S*) home=(\S*) efi=(\S*)\. end/,
  );
  const [, host, uid, docs, root, home, efi] = facts;
  const fs = (mountpoint: string) => pc.filesystems.find((f) => f.mountpoint === mountpoint);
  expect(host).toBe(pc.hostname);
  expect(Number(uid)).toBe(DEBIAN_PC_USER.uid);
  expect(docs!.split(",").filter(Boolean).sort()).toEqual([...DEBIAN_PC_DOCUMENTS].sort());
  expect(root).toBe(`ext4:${fs("/")!.uuid}`);
  const homeFs = fs("/home") ?? fs("/")!;
  expect(home).toBe(`${homeFs.mountpoint}:ext4:${homeFs.uuid}`);
  expect(efi).toBe(fs("/boot/efi") ? `vfat:${fs("/boot/efi")!.uuid}` : "");
}

describe.skipIf(process.platform !== "linux")("the installed Debian PC fixtures", () => {
  let vm: PcVm | undefined;

  afterEach(async () => {
    await vm?.stop();
    vm = undefined;
  });

  afterAll(() => {
    for (const qemu of running) killGroup(qemu);
  });

  describe("the BIOS PC", () => {
    const pc = DEBIAN_PCS.bios;
    let image: string;

    beforeAll(async () => {
      image = await debianPcImage();
    }, BUILD_TIMEOUT_MS);

    it("is cached outside the checkout: a second build returns the same image", async () => {
      expect(await debianPcImage()).toBe(image);
      expect(path.basename(image)).toMatch(/^debian-pc-bios-[0-9a-f]{16}\.raw$/);
      expect(path.relative(process.cwd(), image).startsWith("..")).toBe(true);
    });

    it("has an MBR with one partition from 1 MiB to the end of the disk", async () => {
      await expectLayout(image, pc);
    });

    it(
      "boots from GRUB in its MBR to a serial login where alice's password opens a shell",
      async () => {
        vm = await PcVm.boot({ pc, image });
        await bootAndInspect(vm, pc, "debian-pc-bios");
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe("the UEFI PC", () => {
    const pc = DEBIAN_PCS.uefi;
    let image: string;

    beforeAll(async () => {
      image = await uefiPcImage();
    }, BUILD_TIMEOUT_MS);

    it("has a GPT with the ESP, / and /home where the constants say", async () => {
      await expectLayout(image, pc);
    });

    for (const secureBoot of [true, false]) {
      it(
        `boots through shim and GRUB with Secure Boot ${secureBoot ? "on" : "off"} to a serial login where alice's password opens a shell`,
        async () => {
          vm = await PcVm.boot({ pc, image, secureBoot });
          const kernel = await vm.waitFor(/secureboot: Secure boot (enabled|disabled)/, LOGIN_PROMPT_TIMEOUT_MS);
          expect(kernel.match[1]).toBe(secureBoot ? "enabled" : "disabled");
          await bootAndInspect(vm, pc, `debian-pc-uefi (Secure Boot ${secureBoot ? "on" : "off"})`);
        },
        TEST_TIMEOUT_MS,
      );
    }
  });
});
