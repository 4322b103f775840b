// Apply-back, end to end: the office-PC fixture disk, loop-mounted read-write, is the physical
// computer, with its agent (`twinboot-agent run`) listening. A session started from its image
// creates, changes and deletes files; meanwhile the same and another file change at home. Saved,
// the changes are listed exactly (system noise hidden by the filter), sent home automatically,
// applied where untouched, the conflict kept with the incoming copy beside it, the report shown;
// `apply --undo` puts the computer back byte for byte, the page shows it undone and sends it again;
// e2fsck finds the filesystem clean. Then
// the same changes go by hand to a second computer with one file left out: the agent killed in
// the middle leaves nothing half-written and the next run finishes. A change set that leads
// outside the root is refused with nothing written. A saved image is restored to a blank disk
// image (qemu-img compare: identical), and a mounted disk is refused.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { and, eq, inArray } from "drizzle-orm";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { db } from "@/db/client";
import { applyRequests, fileChanges, images, sessions } from "@/db/schema";
import { requestApplyBack } from "@/server/apply-back/apply-requests";
import { storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { inImage } from "@/server/testing/image-files";
import { attachPartition, freshFixtureDisk, mountPartition, runAgent, startAgent } from "./agent-backup";
import { usePoolHost } from "./pool-host";
import { expectSameTree, sha256, treeSnapshot } from "./tree-snapshot";
import { APP_URL, launchChromium, newContext, SCREENSHOTS, signIn } from "./support";
import { guestShell, saveIncremental, serialLine, startFromTimeline, typeLine } from "./vm-session";

usePoolHost("e2e-apply");
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

/** A new computer: a fresh copy of the fixture disk, its partition mounted, its agent enrolled (state kept beside it). */
async function physicalComputer(ownerId: string, name: string) {
  const { machine, enrollmentToken } = await createMachine({ ownerId, name }, undefined, false);
  const { dir, disk } = freshFixtureDisk();
  const mnt = path.join(dir, "mnt");
  const unmount = mountPartition(disk, mnt);
  let mounted = true;
  const release = () => {
    if (mounted) unmount();
    mounted = false;
  };
  cleanups.push(release);
  const config = path.join(dir, "agent.json");
  const enrolled = runAgent(["enroll", "--server", APP_URL, "--token", enrollmentToken, "--config", config]);
  expect(enrolled.status, enrolled.stderr).toBe(0);
  const stateDir = path.join(dir, "state");
  writeFileSync(config, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), stateDir }));
  return { machine, dir, disk, mnt, config, stateDir, unmount: release };
}

function e2fsckClean(disk: string) {
  const loop = attachPartition(disk);
  try {
    const check = spawnSync("e2fsck", ["-fn", loop], { encoding: "utf8" });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
  } finally {
    execFileSync("losetup", ["--detach", loop]);
  }
}

const DOCS = "home/alice/Documents";
const BUDGET_AT_HOME = "item,q1,q2,q3\nrent,3000,3000,3000\nsalaries,42000,42000,45000\ncoffee,120,135,150\nprinter,0,0,400\n";
const REPORT_AT_HOME = "Quarterly report - Q3, edited at home\n";

// Shared by the tests below, in order: one VM session serves them all.
let owner: Awaited<ReturnType<typeof createTestUser>>;
let context: BrowserContext;
let page: Page;
let sessionId: string;
let office: Awaited<ReturnType<typeof physicalComputer>>;

describe("apply-back", () => {
  it("brings a session's changes home: untouched files applied, a conflict kept beside, undo, e2fsck clean", async () => {
    owner = await createTestUser();
    office = await physicalComputer(owner.id, "Office PC");
    await addFixtureImage(office.machine.id);
    context = await newContext(await browserPromise, "desktop");
    page = await context.newPage();
    await signIn(page, owner);
    await page.getByRole("heading", { name: "Machines", exact: true }).waitFor();

    // Automatic apply-back is a sensitive choice: it asks for the password.
    await page.goto(`/machines/${office.machine.id}`);
    await page.getByRole("radio", { name: /Automatic/ }).click(); // not checked until confirmed
    await page.getByLabel("Your password").fill(owner.password);
    await page.getByRole("button", { name: "Turn automatic on" }).click();
    await expect.poll(() => page.getByRole("radio", { name: /Automatic/ }).isChecked()).toBe(true);

    const agent = startAgent(["run", "--config", office.config, "--root", office.mnt]);
    let agentOutput = "";
    agent.stdout.on("data", (chunk: Buffer) => (agentOutput += chunk.toString()));
    agent.stderr.on("data", (chunk: Buffer) => (agentOutput += chunk.toString()));
    cleanups.push(() => agent.kill("SIGKILL"));

    sessionId = await startFromTimeline(page, office.machine.id);
    await guestShell(page, office.machine.id, sessionId);
    await page.getByTestId("console-screen").locator("canvas").click();
    await typeLine(page, "cd /home/alice/Documents");
    await typeLine(page, "echo plan for Q4 > plan.txt; echo Q4,900 >> budget.csv");
    await typeLine(page, "rm ../Desktop/todo.txt; echo noise >> /var/log/messages");
    await typeLine(page, "dd if=/dev/urandom of=../big.bin bs=1M count=24; sync; echo twinboot-e2e-typed > /dev/ttyS0");
    await serialLine(office.machine.id, sessionId, "twinboot-e2e-typed").finally(() => page.screenshot({ path: path.join(SCREENSHOTS, "apply-back-typed.png") }));

    // Meanwhile, at home: another file, and one the session changed too.
    writeFileSync(path.join(office.mnt, DOCS, "report.txt"), REPORT_AT_HOME);
    writeFileSync(path.join(office.mnt, DOCS, "budget.csv"), BUDGET_AT_HOME);
    const beforeApply = treeSnapshot(office.mnt);

    const savedImage = await saveIncremental(page, sessionId);
    const changes = page.getByTestId("change");
    await page.getByTestId("change-counts").filter({ hasText: "added" }).waitFor({ timeout: 300_000 });
    expect(await page.getByTestId("change-counts").textContent()).toBe("2 added · 1 modified · 1 deleted");
    const listed = async () => (await changes.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path")))).sort();
    expect(await listed()).toEqual(["/home/alice/Desktop/todo.txt", "/home/alice/Documents/budget.csv", "/home/alice/Documents/plan.txt", "/home/alice/big.bin"]);
    // The noise is listed too, behind the filter.
    await page.getByLabel(/Show system noise/).check();
    expect(await listed()).toContain("/var/log/messages");
    await page.getByLabel(/Show system noise/).uncheck();

    // Sent home by itself (the machine is automatic), applied by the agent, reported back.
    const request = page.getByTestId("apply-request").first();
    await expect.poll(() => request.getAttribute("data-state"), { timeout: 300_000 }).toBe("applied_with_conflicts");
    const tag = sessionId.slice(0, 8);
    expect(await request.textContent()).toMatch(/3 applied, 0 already so, 1 conflict, 0 skipped/);
    expect(await request.getByTestId("apply-exception").textContent()).toContain(`conflict: /home/alice/Documents/budget.csv — the session’s version is at /home/alice/Documents/budget.csv.twinboot-${tag}`);
    await page.screenshot({ path: path.join(SCREENSHOTS, "apply-back-report.png"), fullPage: true });

    const home = (file: string) => path.join(office.mnt, file);
    expect(readFileSync(home(`${DOCS}/plan.txt`), "utf8")).toBe("plan for Q4\n");
    expect(existsSync(home("home/alice/Desktop/todo.txt"))).toBe(false);
    expect(statSync(home("home/alice/big.bin")).size).toBe(24 * 2 ** 20);
    expect(readFileSync(home(`${DOCS}/budget.csv`), "utf8")).toBe(BUDGET_AT_HOME);
    expect(readFileSync(home(`${DOCS}/budget.csv.twinboot-${tag}`), "utf8")).toMatch(/coffee,120,135,150\nQ4,900\n$/);
    expect(readFileSync(home(`${DOCS}/report.txt`), "utf8")).toBe(REPORT_AT_HOME);
    expect(existsSync(home("var/log/messages"))).toBe(false); // noise is not sent home
    const [applied] = await db().select().from(applyRequests).where(eq(applyRequests.sessionId, sessionId));
    expect(agentOutput).toContain(`Request ${applied!.id} done: 3 applied, 0 already so, 1 conflict, 0 skipped.`);
    // What the agent wrote is what the VM wrote.
    const bigInImage = (await inImage(savedImage, ["checksum", "sha256", "/home/alice/big.bin"])).trim();
    expect(sha256(readFileSync(home("home/alice/big.bin")))).toBe(bigInImage);

    agent.kill("SIGTERM");
    const undo = runAgent(["apply", "--undo", applied!.id, "--config", office.config]);
    expect(undo.status, undo.stderr).toBe(0);
    const afterUndo = treeSnapshot(office.mnt);
    // Folders' own times change with what is put in and taken out of them; all else is as it was.
    expectSameTree(afterUndo, beforeApply);

    // The server heard of the undo: the session page says so, with when and what was put back,
    // and sends the same changes again (the password asked again) as a new request.
    const putBack = /Put back (\d+) path/.exec(undo.stdout)?.[1];
    expect(putBack, undo.stdout).toBeDefined();
    await page.reload();
    const undone = page.locator('[data-testid="apply-request"][data-state="undone"]');
    await undone.waitFor();
    expect(await undone.textContent()).toMatch(new RegExp(`^Undone at the computer \\d.*${putBack} paths? put back as they were`));
    await page.screenshot({ path: path.join(SCREENSHOTS, "apply-back-undone.png"), fullPage: true });
    await undone.getByRole("button", { name: "Send again…" }).click();
    await undone.getByLabel("Your password").fill(owner.password);
    await undone.getByRole("button", { name: "Send again", exact: true }).click();
    await expect.poll(() => page.getByTestId("apply-request").first().getAttribute("data-state"), { timeout: 10_000 }).toBe("pending");
    expect(await page.getByTestId("apply-request").count()).toBe(2);
    const sentAgain = await db().select().from(applyRequests).where(and(eq(applyRequests.sessionId, sessionId), eq(applyRequests.machineId, office.machine.id), eq(applyRequests.state, "pending")));
    expect(sentAgain).toMatchObject([{ excludedChangeIds: applied!.excludedChangeIds, automatic: false }]);
    await page.screenshot({ path: path.join(SCREENSHOTS, "apply-back-sent-again.png"), fullPage: true });

    office.unmount();
    e2fsckClean(office.disk);
  }, 900_000);

  it("sends to another computer by hand with a file left out; a killed agent resumes with nothing half-written", async () => {
    const spare = await physicalComputer(owner.id, "Spare PC");
    const beforeApply = treeSnapshot(spare.mnt);
    await page.goto(`/sessions/${sessionId}`);
    await page.getByRole("checkbox", { name: "Send /home/alice/Documents/plan.txt home" }).uncheck();
    await page.getByLabel("Apply to").selectOption({ label: "Spare PC" });
    await page.getByRole("button", { name: "Send to Spare PC…" }).click();
    await page.getByLabel("Your password").fill(owner.password);
    await page.getByRole("button", { name: "Send 3 changes" }).click();
    await page.locator('[data-testid="apply-request"]', { hasText: "Spare PC" }).waitFor();
    const [request] = await db().select().from(applyRequests).where(and(eq(applyRequests.sessionId, sessionId), eq(applyRequests.machineId, spare.machine.id)));

    // The machine asks first (prompt): without a terminal the agent shows the list and asks for --yes.
    const asked = runAgent(["apply", "--config", spare.config, "--root", spare.mnt]);
    expect(asked.status).toBe(2);
    expect(asked.stdout).toContain("+ /home/alice/big.bin (25165824 bytes)");
    expect(asked.stdout).not.toContain("plan.txt");
    expect(asked.stderr).toContain("run again with --yes to apply, or --decline to refuse");

    // Killed as soon as its journal records what it is about to replace.
    const journal = path.join(spare.stateDir, "apply", request!.id, "journal-0", "journal.jsonl");
    const killed = startAgent(["apply", "--yes", "--config", spare.config, "--root", spare.mnt]);
    let killedOutput = "";
    killed.stderr.on("data", (chunk: Buffer) => (killedOutput += chunk.toString()));
    await vi.waitFor(() => expect(existsSync(journal) && statSync(journal).size > 0, killedOutput).toBe(true), { timeout: 300_000, interval: 2 });
    killed.kill("SIGKILL");
    await new Promise((resolve) => killed.once("exit", resolve));
    expect(killed.signalCode).toBe("SIGKILL");
    // Every path is as before or as after, never in between.
    const [big, budget] = [path.join(spare.mnt, "home/alice/big.bin"), path.join(spare.mnt, DOCS, "budget.csv")];
    const rows = await db().select().from(fileChanges).where(eq(fileChanges.sessionId, sessionId));
    const bigAfter = rows.find((r) => r.path === "/home/alice/big.bin")!.after!.sha256;
    expect(existsSync(big) ? sha256(readFileSync(big)) : "absent").toMatch(new RegExp(`^(absent|${bigAfter})$`));
    expect([(beforeApply[`${DOCS}/budget.csv`] as { sha256: string }).sha256, rows.find((r) => r.path.endsWith("budget.csv"))!.after!.sha256]).toContain(sha256(readFileSync(budget)));

    const resumed = runAgent(["apply", request!.id, "--yes", "--config", spare.config, "--root", spare.mnt]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain("Done: 3 applied, 0 already so, 0 conflicts, 0 skipped.");
    expect(sha256(readFileSync(big))).toBe(bigAfter);
    expect(existsSync(path.join(spare.mnt, DOCS, "plan.txt"))).toBe(false); // left out
    expect(Object.keys(treeSnapshot(spare.mnt)).filter((p) => p.includes(".twinboot-"))).toEqual([]);
    await expect.poll(() => page.locator('[data-testid="apply-request"]', { hasText: "Spare PC" }).getAttribute("data-state"), { timeout: 10_000 }).toBe("applied");

    const undo = runAgent(["apply", "--undo", request!.id, "--config", spare.config]);
    expect(undo.status, undo.stderr).toBe(0);
    expectSameTree(treeSnapshot(spare.mnt), beforeApply);
  }, 600_000);

  it("refuses a change set that leads outside the root, writing nothing", async () => {
    const spare = await physicalComputer(owner.id, "Third PC");
    // A folder at home that is a symlink to somewhere outside the computer's root.
    const outside = path.join(spare.dir, "outside");
    mkdirSync(outside);
    symlinkSync(outside, path.join(spare.mnt, "home/alice/escape"));
    const before = treeSnapshot(spare.mnt);
    const after = { type: "file" as const, mode: 0o644, uid: 0, gid: 0, size: 4, mtime: new Date().toISOString(), sha256: sha256("evil"), target: null };
    const rows = await db()
      .insert(fileChanges)
      .values(["/home/alice/escape/evil", "/home/../../evil", "relative/evil"].map((p) => ({ sessionId, filesystem: "/dev/sda1", path: p, change: "added" as const, aspects: [], after })))
      .returning({ id: fileChanges.id });
    const all = await db().select({ id: fileChanges.id }).from(fileChanges).where(eq(fileChanges.sessionId, sessionId));
    const ours = new Set(rows.map((r) => r.id));
    for (const id of ours) {
      const { requestId } = await requestApplyBack(
        owner.id,
        { sessionId, machineId: spare.machine.id, excludedChangeIds: all.map((r) => r.id).filter((other) => other !== id), proof: { password: owner.password } },
        { ip: null, userAgent: null },
      );
      const refused = runAgent(["apply", requestId, "--yes", "--config", spare.config, "--root", spare.mnt]);
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toMatch(/refused/);
      const [state] = await db().select().from(applyRequests).where(eq(applyRequests.id, requestId));
      expect(state).toMatchObject({ state: "failed", problem: expect.stringMatching(/refused/) });
    }
    await db().delete(fileChanges).where(inArray(fileChanges.id, [...ours]));
    expect(readdirSync(outside)).toEqual([]);
    expectSameTree(treeSnapshot(spare.mnt), before);
  }, 300_000);

  it("restores a saved image to a blank disk image, identical, and refuses a disk in use", async () => {
    const [saved] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
    const [image] = await db().select().from(images).where(eq(images.id, saved!.savedImageId!));
    const blank = path.join(office.dir, "replacement.raw");
    const restored = runAgent(["restore", "--image", image!.id, "--device", blank, "--config", office.config]);
    expect(restored.status, restored.stderr).toBe(0);
    expect(restored.stdout).toMatch(/written to .*every extent checked/);
    const compare = spawnSync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", storePath(image!.file), blank], { encoding: "utf8" });
    expect(compare.status, compare.stdout + compare.stderr).toBe(0);
    expect(compare.stdout).toContain("Images are identical.");

    // A disk image attached to a loop device (here: mounted) is refused, and left as it was.
    const inUse = await physicalComputer(owner.id, "Busy PC");
    const before = statSync(inUse.disk).mtimeMs;
    const refused = runAgent(["restore", "--image", image!.id, "--device", inUse.disk, "--yes", "--config", office.config]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/attached to a loop device/);
    expect(statSync(inUse.disk).mtimeMs).toBe(before);
    await context.close();
  }, 300_000);
});
