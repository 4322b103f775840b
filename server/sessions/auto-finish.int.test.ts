// Sessions finished for the user: the idle timeout and signing out of the last device, each with
// the user's default save mode. The sessions here have a real overlay in the store but no VM
// (no host): finishing goes straight to saving, which is what this is about; the VM side of
// finishing is tested on the real pool (server/pool/pool.int.test.ts).
import { existsSync } from "node:fs";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, sessions, users } from "@/db/schema";
import type { FinishMode } from "@/wire/enums";
import { createAuthSession, revokeAuthSession } from "@/server/auth/auth-session";
import { createQcow2Overlay } from "@/server/images/qcow2";
import { imageFileName, storePath } from "@/server/images/store";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { addFixtureImage } from "@/server/testing/fixture-image";
import { startJobRunner, type JobRunner } from "@/server/jobs/runner";
import { finishIdleSessions, finishSessionsAfterSignOut } from "./auto-finish";
import { finishSessionJob } from "./session-jobs";
import { overlayFileName } from "./start-session";

const MINUTE = 60_000;
const shutdown = { shutdownTimeoutMs: 1000 };
const meta = { ip: "192.0.2.1", userAgent: "test" };

/** Users made here, deleted at the end: their saved images would wait for inspection by the end-to-end tests' server. */
const madeUsers: string[] = [];
afterAll(() => db().delete(users).where(inArray(users.id, madeUsers)));

// The finishes are jobs; a runner takes them, as each server's does.
let runner: JobRunner;
beforeAll(() => void (runner = startJobRunner([finishSessionJob])));
afterAll(() => runner.stop());

async function userWith(preferences: { idleTimeoutMinutes: number | null; defaultFinishMode: FinishMode }) {
  const user = await createTestUser();
  madeUsers.push(user.id);
  await db().update(users).set(preferences).where(eq(users.id, user.id));
  const { machine } = await createMachine({ ownerId: user.id, name: "Office PC" }, undefined, false);
  return { user, machineId: machine.id, imageId: await addFixtureImage(machine.id) };
}

/** A running session with a real overlay on the image, last touched `idleMinutes` ago. */
async function runningSession(owner: { user: { id: string }; machineId: string; imageId: string }, idleMinutes: number) {
  const [session] = await db()
    .insert(sessions)
    .values({ userId: owner.user.id, machineId: owner.machineId, imageId: owner.imageId, vmType: "compatible", state: "running", cpus: 1, memoryBytes: 1024 ** 3 })
    .returning();
  const overlayFile = overlayFileName(owner.machineId, session!.id);
  await createQcow2Overlay({ file: storePath(overlayFile), backingFile: storePath(imageFileName(owner.machineId, owner.imageId)) });
  const lastInputAt = new Date(Date.now() - idleMinutes * MINUTE);
  await db().update(sessions).set({ overlayFile, runningAt: new Date(Date.now() - 2 * idleMinutes * MINUTE), lastInputAt }).where(eq(sessions.id, session!.id));
  return session!.id;
}

async function settled(sessionId: string) {
  for (;;) {
    const [session] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
    if (!["stopping", "saving"].includes(session!.state)) return session!;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("the idle timeout", () => {
  it("finishes VMs idle for longer than their owner's timeout, with the owner's default mode", async () => {
    const strict = await userWith({ idleTimeoutMinutes: 15, defaultFinishMode: "incremental" });
    const never = await userWith({ idleTimeoutMinutes: null, defaultFinishMode: "incremental" });
    const idle = await runningSession(strict, 20);
    const busy = await runningSession(strict, 5);
    const untimed = await runningSession(never, 600);

    const finished = await finishIdleSessions(shutdown);
    expect(finished).toContain(idle);
    expect(finished).not.toContain(busy);
    expect(finished).not.toContain(untimed);
    const saved = await settled(idle);
    expect(saved).toMatchObject({ state: "saved", finishMode: "incremental", savedImageId: idle });
    const [image] = await db().select().from(images).where(eq(images.id, idle));
    expect(image).toMatchObject({ parentId: strict.imageId, origin: "session" });
    for (const id of [busy, untimed]) expect((await settled(id)).state).toBe("running");

    // Later on, the busy one's time is up too.
    expect(await finishIdleSessions({ ...shutdown, now: new Date(Date.now() + 11 * MINUTE) })).toContain(busy);
    expect((await settled(busy)).state).toBe("saved");
  }, 60_000);
});

describe("signing out", () => {
  it("finishes the user's VMs only when their last device signs out, with their default mode", async () => {
    const owner = await userWith({ idleTimeoutMinutes: 60, defaultFinishMode: "discard" });
    const sessionId = await runningSession(owner, 0);
    const overlay = storePath(overlayFileName(owner.machineId, sessionId));
    const phone = await createAuthSession(owner.user.id, meta);
    const laptop = await createAuthSession(owner.user.id, meta);

    await revokeAuthSession(owner.user.id, phone.id, meta);
    expect(await finishSessionsAfterSignOut(owner.user.id, shutdown)).toEqual([]);
    expect((await settled(sessionId)).state).toBe("running");

    await revokeAuthSession(owner.user.id, laptop.id, meta);
    expect(await finishSessionsAfterSignOut(owner.user.id, shutdown)).toEqual([sessionId]);
    expect(await settled(sessionId)).toMatchObject({ state: "discarded", finishMode: "discard" });
    expect(existsSync(overlay)).toBe(false);
  }, 60_000);
});
