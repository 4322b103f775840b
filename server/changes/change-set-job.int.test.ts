// The change-set job on real images and a real database: a saved session's change set, queued as
// finish-session queues it, is taken by a job runner, diffed, and recorded whole; the owner reads
// it, nobody else does; a claim left by a crashed process is taken over; a change set whose
// image is unreadable fails after its attempts with the reason of each, and can be retried.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { changeSets, images, jobs, sessions, users } from "@/db/schema";
import { imageFileName, storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { Guestfish } from "@/server/tools/guestfish";
import { NotFoundError } from "@/server/errors";
import { settleJob } from "@/server/jobs/runner";
import { listChanges } from "./change-queries";
import { readChangedFile } from "./changed-file";
import { listChangesJob, retryChangeListing } from "./change-set-job";

let owner: Awaited<ReturnType<typeof createTestUser>>;
let stranger: Awaited<ReturnType<typeof createTestUser>>;
let machineId: string;
let baseId: string;

/** A saved session: a qcow2 on the base, changed by `commands` (guestfish), recorded as its image. */
async function savedSession(commands: string[]): Promise<{ sessionId: string; jobId: string }> {
  const sessionId = randomUUID();
  const file = imageFileName(machineId, sessionId);
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", storePath(imageFileName(machineId, baseId)), storePath(file)]);
  const fish = await Guestfish.open([{ file: storePath(file), format: "qcow2" }], { writable: true });
  try {
    await fish.call("mount", "/dev/sda1", "/");
    await fish.script(commands);
  } finally {
    await fish.close();
  }
  const [base] = await db().select().from(images).where(eq(images.id, baseId));
  await db().insert(images).values({ ...base!, id: sessionId, parentId: baseId, kind: "incremental", origin: "session", file, createdAt: new Date() });
  await db().insert(sessions).values({ id: sessionId, userId: owner.id, machineId, imageId: baseId, vmType: "compatible", state: "saved", savedImageId: sessionId });
  await db().insert(changeSets).values({ sessionId, userId: owner.id, machineId, baseImageId: baseId, imageId: sessionId });
  return { sessionId, jobId: await listChangesJob.enqueue({ sessionId }) };
}

beforeAll(async () => {
  owner = await createTestUser();
  stranger = await createTestUser();
  machineId = (await createMachine({ ownerId: owner.id, name: "office-pc" }, undefined, false)).machine.id;
  baseId = await addFixtureImage(machineId);
}, 120_000);

afterAll(async () => {
  await db().delete(users).where(eq(users.id, owner.id));
  await db().delete(users).where(eq(users.id, stranger.id));
});

describe("the change-set job", () => {
  it("lists a saved session's changes for its owner only, and takes a crashed worker's claim again", async () => {
    const { sessionId, jobId } = await savedSession([`write /root/notes.txt "from the VM\\n"`, `rm /etc/fstab`]);
    // As if a process had taken it an hour ago and died.
    await db().update(changeSets).set({ state: "running", claimedAt: new Date(Date.now() - 3_600_000) }).where(eq(changeSets.sessionId, sessionId));
    await db().update(jobs).set({ state: "running", attempts: 1, claimToken: randomUUID(), claimedBy: "a dead process", heartbeatAt: new Date(Date.now() - 3_600_000) }).where(eq(jobs.id, jobId));
    expect((await listChanges(owner.id, sessionId))?.state).toBe("running");

    const job = await settleJob(listChangesJob, jobId);
    expect(job).toMatchObject({ state: "done", attempts: 2 });
    expect(job.failures).toEqual([expect.objectContaining({ attempt: 1, reason: expect.stringContaining("a dead process") })]);
    const listed = await listChanges(owner.id, sessionId);
    expect(listed).toMatchObject({ state: "done", problem: null, filesystems: [{ device: "/dev/sda1", type: "ext4", compared: true }] });
    expect(listed!.changes.map((c) => `${c.change} ${c.path}`)).toEqual(["deleted /etc/fstab", "added /root/notes.txt"]);
    expect(await listChanges(stranger.id, sessionId)).toBeNull();

    // A changed file, read out of the saved image for its owner; nobody else may.
    const notes = listed!.changes.find((c) => c.path === "/root/notes.txt")!;
    await expect(readChangedFile(stranger.id, notes.id, "after")).rejects.toThrow(NotFoundError);
    await expect(readChangedFile(owner.id, notes.id, "before")).rejects.toThrow(/No such changed file before the session/);
    const file = await readChangedFile(owner.id, notes.id, "after");
    expect(file).toMatchObject({ size: 12, fileName: "notes.txt" });
    expect((await buffer(file.stream)).toString()).toBe("from the VM\n");
  }, 400_000);

  it("fails a change set whose image cannot be read, with the reason, and goes on", async () => {
    const { sessionId, jobId } = await savedSession([]);
    const [image] = await db().select().from(images).where(eq(images.id, sessionId));
    execFileSync("truncate", ["-s", "0", storePath(image!.file)]);
    const job = await settleJob(listChangesJob, jobId);
    expect(job).toMatchObject({ state: "failed", attempts: 3 });
    expect(job.failures.map((f) => f.attempt)).toEqual([1, 2, 3]);
    for (const failure of job.failures) expect(failure.reason).toMatch(/guestfish|qemu/);
    const listed = await listChanges(owner.id, sessionId);
    expect(listed?.state).toBe("failed");
    expect(listed?.problem).toMatch(/^Listing the changes failed: .*Retry from this page/);

    // Retried from the session page (its owner only): a fresh job, and the change set pending again.
    await expect(retryChangeListing(stranger.id, sessionId)).rejects.toThrow(NotFoundError);
    await retryChangeListing(owner.id, sessionId);
    expect((await listChanges(owner.id, sessionId))?.state).toBe("pending");
    const [again] = await db().select().from(jobs).where(and(eq(jobs.kind, listChangesJob.name), eq(jobs.key, sessionId), eq(jobs.state, "queued")));
    expect(again).toMatchObject({ attempts: 0 });
    await db().delete(jobs).where(eq(jobs.id, again!.id));
  }, 300_000);
});
