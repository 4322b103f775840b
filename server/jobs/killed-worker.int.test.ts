// A worker killed with SIGKILL in the middle of an inspection and a change listing: its
// appliances outlive it (nothing can run in a killed process), and the next Twinboot process to
// start on the machine stops them and removes its temporary folder before it runs anything; the
// two jobs are then taken over (their heartbeats stopped) and complete. Real `twinboot worker`
// processes, real appliances. JOB_STALE_SECONDS is scaled down so the takeover comes in seconds.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { changeSets, images, jobs, sessions, users } from "@/db/schema";
import { listChangesJob } from "@/server/changes/change-set-job";
import { inspectImageJob } from "@/server/images/inspection-job";
import { imageFileName, storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { Guestfish } from "@/server/tools/guestfish";

const workers: ChildProcess[] = [];
let ownerId: string;
let imageId: string;
let sessionId: string;

function startWorker(): { child: ChildProcess; output: () => string } {
  const child = spawn("node", ["bin/twinboot.mjs", "worker", "--only", `${inspectImageJob.name},${listChangesJob.name}`], {
    env: { ...process.env, JOB_STALE_SECONDS: "6" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  workers.push(child);
  return { child, output: () => output };
}

/** The processes whose TWINBOOT_OWNER is this owner tag, with their command names. */
function ownedBy(owner: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").some((v) => v === `TWINBOOT_OWNER=${owner}`)) {
        found.push(readFileSync(`/proc/${entry}/comm`, "utf8").trim());
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const jobOf = async (kind: string, key: string) =>
  (await db().select().from(jobs).where(and(eq(jobs.kind, kind), eq(jobs.key, key))).orderBy(jobs.createdAt))[0];

beforeAll(async () => {
  const owner = await createTestUser();
  ownerId = owner.id;
  const { machine } = await createMachine({ ownerId, name: "office-pc" }, undefined, false);
  imageId = await addFixtureImage(machine.id);
  // A saved session with one change, as finish-session records it.
  sessionId = randomUUID();
  const file = imageFileName(machine.id, sessionId);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", storePath(imageFileName(machine.id, imageId)), storePath(file)]);
  const fish = await Guestfish.open([{ file: storePath(file), format: "qcow2" }], { writable: true });
  await fish.call("mount", "/dev/sda1", "/");
  await fish.call("write", "/root/from-the-vm.txt", "hello\n");
  await fish.close();
  const [base] = await db().select().from(images).where(eq(images.id, imageId));
  await db().insert(images).values({ ...base!, id: sessionId, parentId: imageId, kind: "incremental", origin: "session", file, createdAt: new Date() });
  await db().insert(sessions).values({ id: sessionId, userId: ownerId, machineId: machine.id, imageId, vmType: "compatible", state: "saved", savedImageId: sessionId });
  await db().insert(changeSets).values({ sessionId, userId: ownerId, machineId: machine.id, baseImageId: imageId, imageId: sessionId });
  await db().update(images).set({ inspectionState: "pending", inspection: null }).where(eq(images.id, imageId));
  await inspectImageJob.enqueue({ imageId });
  await listChangesJob.enqueue({ sessionId });
}, 180_000);

afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
  await db().delete(users).where(eq(users.id, ownerId));
});

describe("a worker killed mid-job", () => {
  it("leaves nothing running once the next process starts, and both jobs complete", async () => {
    const first = startWorker();
    await expect.poll(() => /claims jobs as (\S+)\)/.exec(first.output())?.[1], { timeout: 60_000 }).toBeTruthy();
    const claimant = /claims jobs as (\S+)\)/.exec(first.output())![1]!;
    const owner = claimant.split(":").at(-1)!;
    // Both appliances up, both jobs held by this worker.
    await expect
      .poll(() => ownedBy(owner).filter((name) => name.startsWith("qemu-system")).length, { timeout: 120_000, interval: 250 })
      .toBe(2);
    expect((await jobOf(inspectImageJob.name, imageId))?.claimedBy).toBe(claimant);
    expect((await jobOf(listChangesJob.name, sessionId))?.claimedBy).toBe(claimant);
    first.child.kill("SIGKILL");
    await new Promise((resolve) => first.child.once("exit", resolve));
    const leftovers = ownedBy(owner);
    expect(leftovers.length, "a killed worker's appliances run on until swept").toBeGreaterThan(0);
    expect(existsSync(path.join(tmpdir(), "twinboot-work", owner))).toBe(true);

    const second = startWorker();
    // It sweeps before it runs anything (so would any other live Twinboot process, within a minute).
    await expect.poll(() => second.output(), { timeout: 60_000 }).toContain("Twinboot worker running");
    expect(ownedBy(owner)).toEqual([]);
    expect(existsSync(path.join(tmpdir(), "twinboot-work", owner))).toBe(false);

    await expect.poll(async () => (await jobOf(inspectImageJob.name, imageId))?.state, { timeout: 300_000, interval: 1000 }).toBe("done");
    await expect.poll(async () => (await jobOf(listChangesJob.name, sessionId))?.state, { timeout: 300_000, interval: 1000 }).toBe("done");
    const inspection = await jobOf(inspectImageJob.name, imageId);
    expect(inspection!.failures).toEqual([expect.objectContaining({ attempt: 1, reason: `the process running it (${claimant}) stopped answering` })]);
    const [image] = await db().select().from(images).where(eq(images.id, imageId));
    expect(image?.inspectionState).toBe("done");
    const [changeSet] = await db().select().from(changeSets).where(eq(changeSets.sessionId, sessionId));
    expect(changeSet?.state).toBe("done");

    second.child.kill("SIGTERM");
    expect(await new Promise((resolve) => second.child.once("exit", resolve))).toBe(0);
    const secondOwner = /claims jobs as (\S+)\)/.exec(second.output())![1]!.split(":").at(-1)!;
    expect(ownedBy(secondOwner)).toEqual([]);
  }, 600_000);
});
