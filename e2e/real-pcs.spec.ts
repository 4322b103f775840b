// The whole loop on two realistic office PCs (e2e/fixtures/build-debian-pc.sh): an installed
// Debian 12 with systemd on a BIOS PC (MBR, GRUB, one filesystem) and on a UEFI PC (GPT, shim and
// GRUB, / and a separate /home). For each, a copy of its disk is the physical computer: its agent
// sends it, and the timeline shows what inspection found (OS, hostname, filesystems, what it boots
// with) with the firmware preset from the disk. A session starts with that firmware; alice logs in
// on the VGA console through noVNC and adds, changes and deletes documents while one of them
// changes at home too. Saved, the change list is exactly hers (a booted systemd's noise hidden);
// the changes go home automatically, then again when the person at the computer says yes, the
// conflict kept beside, landing on the filesystem that holds /home, each time undone exactly. The
// saved image restored to a blank disk is identical and boots. The UEFI PC also starts with
// "UEFI with Secure Boot" chosen, and its kernel says Secure Boot is on.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { and, eq } from "drizzle-orm";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { applyRequests, fileChanges, images, sessions } from "@/db/schema";
import { storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { DEBIAN_PC_USER, DEBIAN_PCS, debianPcImageFor, type DebianPcFirmware } from "@/server/testing/fixture-image";
import { isNoise } from "@/wire/changes";
import { VM_FIRMWARE_LABELS } from "@/wire/firmware";
import { attachPartition, freshDiskCopy, mountPartition, runAgent, startAgent } from "./agent-backup";
import { bootUntilSerialLine } from "./boot-disk";
import { usePoolHost } from "./pool-host";
import { APP_URL, launchChromium, newContext, screenshot, signIn } from "./support";
import { expectSameTree, treeSnapshot } from "./tree-snapshot";
import { firmwareChoice, logInOnConsole, runOnConsole, saveIncremental, selectImage, serialLine, serialLog, startSelected, typeLine } from "./vm-session";

usePoolHost("e2e-realpcs");
const browserPromise = launchChromium();
const cleanups: (() => void)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // best effort: a failed test may have left it half set up
    }
  }
  await (await browserPromise).close();
});

/** A TCG boot of these PCs takes about half a minute on an idle machine; a busy one, and Secure Boot (SMM), take longer. */
const BOOT_TIMEOUT_MS = 10 * 60_000;
/** Inspecting and listing the changes of a 4 GiB installed system in a TCG appliance. */
const APPLIANCE_TIMEOUT_MS = 15 * 60_000;
const DOCS = `${DEBIAN_PC_USER.home}/Documents`;
const BUDGET_AT_HOME = "item,q1,q2,q3\nrent,3000,3000,3000\nsalaries,42000,42000,45000\ncoffee,120,135,150\nprinter,0,0,400\n";
const REPORT_AT_HOME = "Quarterly report - Q3, edited at home\n";

function e2fsckClean(disk: string, partition: number) {
  const loop = attachPartition(disk, partition);
  try {
    const check = spawnSync("e2fsck", ["-fn", loop], { encoding: "utf8" });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  } finally {
    execFileSync("losetup", ["--detach", loop]);
  }
}

function describePc(firmware: DebianPcFirmware) {
  const pc = DEBIAN_PCS[firmware];
  const rootFs = pc.filesystems.find((f) => f.mountpoint === "/")!;
  /** The filesystem alice's home is on: /home's own on the UEFI PC, / on the BIOS one. */
  const homeFs = pc.filesystems.find((f) => f.mountpoint === "/home") ?? rootFs;
  const device = (fs: { partition: number }) => `/dev/sda${fs.partition}`;
  /** A path in the PC as the change list gives it: within the filesystem that holds it. */
  const inHomeFs = (file: string) => (homeFs.mountpoint === "/" ? file : file.slice(homeFs.mountpoint.length));
  const name = `${pc.hostname} (${firmware})`;
  const shot = (page: Page, step: string) => screenshot(page, `real-pcs-${firmware}-${step}`);

  // Shared by the tests below, in order.
  let owner: Awaited<ReturnType<typeof createTestUser>>;
  let context: BrowserContext;
  let page: Page;
  let machineId: string;
  let computer: { dir: string; disk: string; mnt: string; config: string };
  let unmountAll: () => void;
  let sessionId: string;
  let beforeApply: ReturnType<typeof treeSnapshot>;
  let homeMount: string;
  let agent: ReturnType<typeof startAgent>;
  let agentOutput = "";

  /** The computer's filesystems mounted as its fstab mounts them (the ESP aside: this host may have no vfat). */
  function mountAtHome() {
    const { disk, mnt } = computer;
    const unmounts = [mountPartition(disk, mnt, rootFs.partition)];
    if (homeFs !== rootFs) unmounts.push(mountPartition(disk, path.join(mnt, "home"), homeFs.partition));
    let mounted = true;
    unmountAll = () => {
      if (mounted) for (const unmount of [...unmounts].reverse()) unmount();
      mounted = false;
    };
    cleanups.push(() => unmountAll());
    homeMount = homeFs === rootFs ? mnt : path.join(mnt, "home");
  }

  describe(`the ${firmware.toUpperCase()} PC, ${pc.hostname}`, () => {
    it("is backed up by its agent: the timeline shows Debian 12, its hostname, filesystems, what it boots with, and presets the firmware", async () => {
      owner = await createTestUser();
      const created = await createMachine({ ownerId: owner.id, name }, undefined, false);
      machineId = created.machine.id;
      const { dir, disk } = freshDiskCopy(await debianPcImageFor(firmware));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const config = path.join(dir, "agent.json");
      computer = { dir, disk, mnt: path.join(dir, "mnt"), config };
      const enrolled = runAgent(["enroll", "--server", APP_URL, "--token", created.enrollmentToken, "--config", config]);
      expect(enrolled.status, enrolled.stderr).toBe(0);
      writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), stateDir: path.join(dir, "state") }));

      const backup = runAgent(["backup", "--config", config, "--device", disk, "--json"], 900_000);
      expect(backup.status, backup.stderr).toBe(0);
      const sent = JSON.parse(backup.stdout) as { imageId: string; kind: string };
      expect(sent.kind).toBe("base");
      mountAtHome();

      context = await newContext(await browserPromise, "desktop");
      page = await context.newPage();
      await signIn(page, owner);
      await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();
      // Changes go home by themselves (a sensitive choice: the password).
      await page.goto(`/machines/${machineId}`);
      await page.getByRole("radio", { name: /Automatic/ }).click();
      await page.getByLabel("Your password").fill(owner.password);
      await page.getByRole("button", { name: "Turn automatic on" }).click();
      await expect.poll(() => page.getByRole("radio", { name: /Automatic/ }).isChecked()).toBe(true);

      const inspected = async () => (await db().select().from(images).where(eq(images.id, sent.imageId)))[0]!;
      await expect.poll(async () => (await inspected()).inspectionState, { timeout: APPLIANCE_TIMEOUT_MS, interval: 2000 }).toMatch(/done|failed/);
      expect((await inspected()).inspectionState, JSON.stringify((await inspected()).inspection)).toBe("done");

      await selectImage(page, machineId);
      const selected = page.getByLabel("Selected image");
      const details = (await selected.textContent())!;
      expect(details).toMatch(/SystemDebian GNU\/Linux 12/);
      expect(details).toContain(`Hostname${pc.hostname}`);
      for (const fs of pc.filesystems) expect(details).toMatch(new RegExp(`${device(fs)}${fs.mountpoint}, ${fs.type}, [\\d.]+ [KMGT]?i?B used of`));
      expect(details).toContain(firmware === "uefi" ? "Boots withUEFI (/EFI/BOOT/BOOTX64.EFI), GPT partitions" : "Boots withBIOS, MBR partitions");
      expect(details).not.toContain("Not read");
      // The firmware the disk boots with is preset, and says why.
      const preset = firmwareChoice(page, firmware);
      expect(await preset.isChecked()).toBe(true);
      expect(await page.locator("label", { has: preset }).textContent()).toContain(`${VM_FIRMWARE_LABELS[firmware]} (found)`);
      expect(details).toContain(firmware === "uefi" ? "The disk boots with UEFI (/EFI/BOOT/BOOTX64.EFI)." : "The disk boots with BIOS (boot code in its master boot record).");
      await shot(page, "timeline");
    }, 1_800_000);

    it(`starts a session as ${firmware.toUpperCase()}; alice logs in on the console and changes her documents; saved, the change list is exactly hers`, async () => {
      // The computer's agent, listening for apply-back requests.
      agent = startAgent(["run", "--config", computer.config, "--root", computer.mnt]);
      agent.stdout.on("data", (chunk: Buffer) => (agentOutput += chunk.toString()));
      agent.stderr.on("data", (chunk: Buffer) => (agentOutput += chunk.toString()));
      cleanups.push(() => agent.kill("SIGKILL"));

      await selectImage(page, machineId);
      sessionId = await startSelected(page);
      const [session] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
      expect(session!.firmware).toBe(firmware);
      expect(await page.getByText(VM_FIRMWARE_LABELS[firmware], { exact: true }).count()).toBeGreaterThan(0);

      await serialLine(machineId, sessionId, `${pc.hostname} login:`, BOOT_TIMEOUT_MS);
      await shot(page, "login-prompt");
      await logInOnConsole(page, { name: DEBIAN_PC_USER.name, password: DEBIAN_PC_USER.password });
      await shot(page, "logged-in");
      await typeLine(page, "cd Documents");
      await typeLine(page, "echo plan for Q4 > plan.txt");
      await typeLine(page, "echo Q4,900 >> budget.csv");
      await typeLine(page, "rm meeting-notes.txt");
      await runOnConsole(page, "ls; sync", "brown");
      await shot(page, "typed");

      // Meanwhile, at home: the document the session changed, and another.
      writeFileSync(path.join(computer.mnt, DOCS, "budget.csv"), BUDGET_AT_HOME);
      writeFileSync(path.join(computer.mnt, DOCS, "report.txt"), REPORT_AT_HOME);
      beforeApply = treeSnapshot(computer.mnt);

      await saveIncremental(page, sessionId);
      const counts = page.getByTestId("change-counts");
      await counts.filter({ hasText: "added" }).waitFor({ timeout: APPLIANCE_TIMEOUT_MS });
      const rows = await db().select().from(fileChanges).where(eq(fileChanges.sessionId, sessionId));
      const noise = rows.filter((r) => isNoise(r.path));
      console.info(`${name}: ${rows.length} changes, ${noise.length} of them noise:\n${rows.map((r) => `  ${r.change} ${r.filesystem} ${r.path}${isNoise(r.path) ? " (noise)" : ""}`).join("\n")}`);
      expect(await counts.textContent()).toBe("1 added · 1 modified · 1 deleted");
      const listed = async () => (await page.getByTestId("change").evaluateAll((items) => items.map((r) => r.getAttribute("data-path")))).sort();
      expect(await listed()).toEqual([`${DOCS}/budget.csv`, `${DOCS}/meeting-notes.txt`, `${DOCS}/plan.txt`].map(inHomeFs));
      // Hers, on the filesystem that holds /home; the rest is the booted system's noise.
      expect(rows.filter((r) => !isNoise(r.path)).map((r) => `${r.change} ${r.filesystem}:${r.path}`).sort()).toEqual(
        [`modified ${device(homeFs)}:${inHomeFs(`${DOCS}/budget.csv`)}`, `deleted ${device(homeFs)}:${inHomeFs(`${DOCS}/meeting-notes.txt`)}`, `added ${device(homeFs)}:${inHomeFs(`${DOCS}/plan.txt`)}`].sort(),
      );
      // Each filesystem's changes under where the PC mounts it; each box names the path on the PC.
      expect(await page.getByTestId("change-filesystem").allTextContents()).toEqual([`${homeFs.mountpoint} on ${device(homeFs)}`]);
      expect(await page.getByRole("checkbox", { name: `Send ${DOCS}/plan.txt home` }).isChecked()).toBe(true);
      // The noise is listed too, behind the filter (a folder with changes in it is a branch, not a row).
      if (noise.length > 0) {
        await page.getByLabel(/Show system noise/).check();
        const leaves = rows.filter((r) => !rows.some((other) => other.path.startsWith(`${r.path}/`))).map((r) => r.path);
        expect(await listed()).toEqual(leaves.sort());
        await page.getByLabel(/Show system noise/).uncheck();
      }
      await shot(page, "changes");
    }, 1_800_000);

    it("brings the changes home by itself: applied on the filesystem that holds /home, the conflict kept beside, undone exactly", async () => {
      const request = page.getByTestId("apply-request").first();
      await expect.poll(() => request.getAttribute("data-state"), { timeout: 300_000 }).toBe("applied_with_conflicts");
      const tag = sessionId.slice(0, 8);
      expect(await request.textContent()).toMatch(/2 applied, 0 already so, 1 conflict, 0 skipped/);
      // Paths as they are on the PC (its fstab's mount point in front of the path within the filesystem).
      const budget = `${DOCS}/budget.csv`;
      expect(await request.getByTestId("apply-exception").textContent()).toContain(`conflict: ${budget} — the session’s version is at ${budget}.twinboot-${tag}`);
      await shot(page, "applied");

      // What changed at home is exactly hers, and it is on the /home filesystem (its own mount here on the UEFI PC).
      const afterApply = treeSnapshot(computer.mnt);
      const changed = [...new Set([...Object.keys(beforeApply), ...Object.keys(afterApply)])].filter((p) => JSON.stringify(beforeApply[p]) !== JSON.stringify(afterApply[p])).sort();
      const docs = DOCS.slice(1);
      expect(changed).toEqual([`${docs}/budget.csv.twinboot-${tag}`, `${docs}/meeting-notes.txt`, `${docs}/plan.txt`]);
      const plan = path.join(computer.mnt, DOCS, "plan.txt");
      expect(readFileSync(plan, "utf8")).toBe("plan for Q4\n");
      expect(execFileSync("findmnt", ["-n", "-o", "TARGET", "--target", plan], { encoding: "utf8" }).trim()).toBe(homeMount);
      expect(existsSync(path.join(computer.mnt, DOCS, "meeting-notes.txt"))).toBe(false);
      expect(readFileSync(path.join(computer.mnt, DOCS, "budget.csv"), "utf8")).toBe(BUDGET_AT_HOME);
      expect(readFileSync(path.join(computer.mnt, DOCS, `budget.csv.twinboot-${tag}`), "utf8")).toMatch(/coffee,120,135,150\nQ4,900\n$/);
      expect(readFileSync(path.join(computer.mnt, DOCS, "report.txt"), "utf8")).toBe(REPORT_AT_HOME);

      const [applied] = await db().select().from(applyRequests).where(eq(applyRequests.sessionId, sessionId));
      const undo = runAgent(["apply", "--undo", applied!.id, "--config", computer.config]);
      expect(undo.status, undo.stderr).toBe(0);
      expectSameTree(treeSnapshot(computer.mnt), beforeApply);
      const putBack = /Put back (\d+) path/.exec(undo.stdout)?.[1];
      expect(putBack, undo.stdout).toBeDefined();
      await page.reload();
      const undone = page.locator('[data-testid="apply-request"][data-state="undone"]');
      await undone.waitFor();
      expect(await undone.textContent()).toMatch(new RegExp(`^Undone at the computer \\d.*${putBack} paths? put back as they were`));
      await shot(page, "undone");
    }, 600_000);

    it("asks first once the machine is set so: sent again, the person at the computer sees the list, says yes; undone exactly again", async () => {
      await page.goto(`/machines/${machineId}`);
      await page.getByRole("radio", { name: /Ask first/ }).click();
      await expect.poll(() => page.getByRole("radio", { name: /Ask first/ }).isChecked()).toBe(true);
      await page.goto(`/sessions/${sessionId}`);
      const undone = page.locator('[data-testid="apply-request"][data-state="undone"]');
      await undone.getByRole("button", { name: "Send again…" }).click();
      await undone.getByLabel("Your password").fill(owner.password);
      await undone.getByRole("button", { name: "Send again", exact: true }).click();
      await expect.poll(() => page.getByTestId("apply-request").count(), { timeout: 10_000 }).toBe(2);
      const [sentAgain] = await db()
        .select()
        .from(applyRequests)
        .where(and(eq(applyRequests.sessionId, sessionId), eq(applyRequests.automatic, false)));
      // The listening agent tells the person at the computer, and applies nothing by itself.
      await expect.poll(() => agentOutput, { timeout: 60_000 }).toContain(`Request ${sentAgain!.id} waits for you: 3 changes`);
      expect(existsSync(path.join(computer.mnt, DOCS, "plan.txt"))).toBe(false);

      // Without a terminal, `apply` lists the changes and asks for --yes.
      const asked = runAgent(["apply", "--config", computer.config, "--root", computer.mnt]);
      expect(asked.status, asked.stderr).toBe(2);
      expect(asked.stdout).toContain(`${device(homeFs)} goes to ${homeMount}`);
      expect(asked.stdout).toContain(`+ ${inHomeFs(`${DOCS}/plan.txt`)} (12 bytes)`);
      expect(asked.stderr).toContain("run again with --yes to apply, or --decline to refuse");
      const yes = runAgent(["apply", "--yes", "--config", computer.config, "--root", computer.mnt]);
      expect(yes.status, yes.stderr).toBe(0);
      expect(yes.stdout).toContain("Done: 2 applied, 0 already so, 1 conflict, 0 skipped.");
      expect(readFileSync(path.join(computer.mnt, DOCS, "plan.txt"), "utf8")).toBe("plan for Q4\n");
      await expect.poll(() => page.getByTestId("apply-request").first().getAttribute("data-state"), { timeout: 30_000 }).toBe("applied_with_conflicts");
      await shot(page, "applied-when-asked");

      const undo = runAgent(["apply", "--undo", sentAgain!.id, "--config", computer.config]);
      expect(undo.status, undo.stderr).toBe(0);
      expectSameTree(treeSnapshot(computer.mnt), beforeApply);
      const stopped = new Promise((resolve) => agent.once("exit", resolve));
      if (agent.exitCode === null && agent.kill("SIGTERM")) await stopped;
      unmountAll();
      for (const fs of pc.filesystems) if (fs.type === "ext4") e2fsckClean(computer.disk, fs.partition);
    }, 600_000);

    it("restores the saved image to a blank disk: identical, and it boots to a login prompt", async () => {
      const [saved] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
      const [image] = await db().select().from(images).where(eq(images.id, saved!.savedImageId!));
      const blank = path.join(computer.dir, "replacement.raw");
      const restored = runAgent(["restore", "--image", image!.id, "--device", blank, "--config", computer.config], 900_000);
      expect(restored.status, restored.stderr).toBe(0);
      expect(restored.stdout).toMatch(/written to .*every extent checked/);
      const compare = spawnSync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", storePath(image!.file), blank], { encoding: "utf8" });
      expect(compare.status, compare.stdout + compare.stderr).toBe(0);
      expect(compare.stdout).toContain("Images are identical.");
      const serial = await bootUntilSerialLine(blank, firmware, `${pc.hostname} login:`, BOOT_TIMEOUT_MS);
      expect(serial).toContain(`Debian GNU/Linux 12 ${pc.hostname} ttyS0`); // the getty's /etc/issue
    }, 1_200_000);

    if (firmware === "uefi") {
      it("starts with UEFI with Secure Boot when chosen: the kernel says Secure Boot is on", async () => {
        await selectImage(page, machineId);
        await firmwareChoice(page, "uefi-secure-boot").check();
        await shot(page, "start-secure-boot");
        const secureSession = await startSelected(page);
        const [session] = await db().select().from(sessions).where(eq(sessions.id, secureSession));
        expect(session!.firmware).toBe("uefi-secure-boot");
        expect(await page.getByText("UEFI with Secure Boot", { exact: true }).count()).toBeGreaterThan(0);
        await serialLine(machineId, secureSession, "Secure boot enabled", BOOT_TIMEOUT_MS);
        expect(serialLog(machineId, secureSession)).not.toContain("Secure boot disabled");
        await page.getByRole("button", { name: "Finish…" }).click();
        page.once("dialog", (dialog) => void dialog.accept());
        await page.getByRole("button", { name: "Discard" }).click();
        await expect.poll(() => page.getByRole("status").textContent(), { timeout: 90_000 }).toBe("Discarded");
      }, 1_200_000);
    }

    afterAll(async () => {
      await context?.close();
    });
  });
}

describePc("bios");
describePc("uefi");
