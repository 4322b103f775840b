// Proves, for every procedure of the tRPC router, that one signed-in user can neither read nor
// change another user's records. The router is walked, so a new procedure without a probe here
// fails the test.
import { TRPCError } from "@trpc/server";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { applyRequests, auditEvents, changeSets, consoleTickets, fileChanges, images, jobs, machines, recoveryCodes, sessions, users } from "@/db/schema";
import { beginTotpSetup, confirmTotpSetup } from "@/server/account/second-factor-settings";
import { touchAuthSession } from "@/server/auth/auth-session";
import { signInWithPassword } from "@/server/auth/sign-in";
import { totpCode } from "@/server/auth/totp";
import { createTestUser, signedInCaller } from "@/server/testing/accounts";
import { appRouter } from "./root";

async function makeActor({ withTotp = false } = {}) {
  const account = await createTestUser();
  const { caller, sessionUser } = await signedInCaller(account);
  const { machine } = await caller.machines.create({ name: `Desk of ${account.email}` });
  if (withTotp) {
    const meta = { ip: null, userAgent: null };
    const { secret } = await beginTotpSetup(account, { password: account.password }, meta);
    await confirmTotpSetup(account.id, totpCode(secret), meta);
  }
  // A timeline entry to protect (the file itself is not needed to read the record).
  const [image] = await db()
    .insert(images)
    .values({
      machineId: machine.id,
      kind: "base",
      origin: "agent",
      file: `${machine.id}/x.qcow2`,
      virtualSize: 1 << 30,
      bytesStored: 1 << 20,
      takenAt: new Date(),
      // No file behind it: keep the inspection worker away.
      inspectionState: "done",
      inspection: { os: null, filesystems: [] },
    })
    .returning();
  // A session that never started (no host): something to find, list and finish.
  const [session] = await db()
    .insert(sessions)
    .values({ userId: account.id, machineId: machine.id, imageId: image!.id, vmType: "compatible", state: "failed", problem: "test" })
    .returning();
  return { ...account, caller, sessionId: sessionUser.sessionId, machine, image: image!, session: session! };
}
type Actor = Awaited<ReturnType<typeof makeActor>>;

async function expectCode(call: Promise<unknown>, code: TRPCError["code"]) {
  await expect(call).rejects.toSatisfy((e) => e instanceof TRPCError && e.code === code);
}

/** Runs a call on the attacker's own account, whose outcome depends on that account's state. */
async function onOwnAccount(call: Promise<unknown>) {
  await call.catch((e: unknown) => {
    if (!(e instanceof TRPCError && e.code === "CONFLICT")) throw e;
  });
}

async function machineRow(machineId: string) {
  const [row] = await db().select().from(machines).where(eq(machines.id, machineId));
  return row;
}

async function userRow(userId: string) {
  const [row] = await db().select().from(users).where(eq(users.id, userId));
  return row!;
}

async function expectStillSignedIn(victim: Actor) {
  expect(await touchAuthSession(victim.sessionId)).not.toBeNull();
}

/** Gives the actor's session a listed change set with one change; its session id. */
async function listedChanges(actor: Actor): Promise<string> {
  await db()
    .insert(changeSets)
    .values({ sessionId: actor.session.id, userId: actor.id, machineId: actor.machine.id, baseImageId: actor.image.id, imageId: actor.image.id, state: "done" })
    .onConflictDoNothing();
  await db().insert(fileChanges).values({ sessionId: actor.session.id, filesystem: "/dev/sda1", path: "/secret", change: "added", aspects: [] });
  return actor.session.id;
}

/** What `attacker` tries against `victim` with each procedure, and what must then hold. */
const probes: Record<string, (attacker: Actor, victim: Actor) => Promise<void>> = {
  "account.me": async (a, v) => {
    const me = await a.caller.account.me();
    expect(me.id).toBe(a.id);
    expect(JSON.stringify(me)).not.toContain(v.email);
  },
  "account.sessions": async (a, v) => {
    const sessions = await a.caller.account.sessions();
    expect(sessions.map((s) => s.id)).toContain(a.sessionId);
    expect(sessions.map((s) => s.id)).not.toContain(v.sessionId);
  },
  "account.activity": async (a, v) => {
    const theirs = await db().select({ id: auditEvents.id }).from(auditEvents).where(eq(auditEvents.userId, v.id));
    const mine = await a.caller.account.activity();
    expect(theirs.length).toBeGreaterThan(0);
    expect(mine.map((e) => e.id)).not.toEqual(expect.arrayContaining([theirs[0]!.id]));
  },
  "account.signOut": async (a, v) => {
    await a.caller.account.signOut();
    expect(await touchAuthSession(a.sessionId)).toBeNull();
    await expectStillSignedIn(v);
  },
  "account.revokeSession": async (a, v) => {
    await expectCode(a.caller.account.revokeSession({ sessionId: v.sessionId }), "NOT_FOUND");
    await expectStillSignedIn(v);
  },
  "account.signOutEverywhere": async (a, v) => {
    // Signing out of every device finishes the user's own VMs, never anyone else's.
    await db().update(sessions).set({ state: "running" }).where(eq(sessions.id, v.session.id));
    await a.caller.account.signOutEverywhere();
    await expectStillSignedIn(v);
    expect((await db().select().from(sessions).where(eq(sessions.id, v.session.id)))[0]!.state).toBe("running");
    await db().update(sessions).set({ state: "failed" }).where(eq(sessions.id, v.session.id));
  },
  "account.changePassword": async (a, v) => {
    await a.caller.account.changePassword({ currentPassword: a.password, newPassword: "amber orchard seventeen" });
    // The victim's password still works (their second factor is then asked for).
    const again = await signInWithPassword({ email: v.email, password: v.password }, { ip: null, userAgent: null });
    expect(again.ok || again.failure.kind === "second_factor_required").toBe(true);
    await expectStillSignedIn(v);
  },
  "account.beginTotpSetup": async (a, v) => {
    const before = await userRow(v.id);
    await onOwnAccount(a.caller.account.beginTotpSetup({ proof: { password: a.password } }));
    const after = await userRow(v.id);
    expect(after.totpPendingSecret).toBe(before.totpPendingSecret);
    expect(after.totpSecret).toBe(before.totpSecret);
  },
  "account.confirmTotpSetup": async (a, v) => {
    const before = await userRow(v.id);
    await expectCode(a.caller.account.confirmTotpSetup({ code: "123456" }), "CONFLICT");
    expect(await userRow(v.id)).toEqual(before);
  },
  "account.disableTotp": async (a, v) => {
    await onOwnAccount(a.caller.account.disableTotp({ proof: { password: a.password } }));
    expect((await userRow(v.id)).totpSecret).not.toBeNull();
  },
  "account.regenerateRecoveryCodes": async (a, v) => {
    const before = await db().select().from(recoveryCodes).where(eq(recoveryCodes.userId, v.id));
    await onOwnAccount(a.caller.account.regenerateRecoveryCodes({ proof: { password: a.password } }));
    expect(await db().select().from(recoveryCodes).where(eq(recoveryCodes.userId, v.id))).toEqual(before);
  },
  "machines.list": async (a, v) => {
    const ids = (await a.caller.machines.list()).map((m) => m.id);
    expect(ids).toEqual([a.machine.id]);
    expect(ids).not.toContain(v.machine.id);
  },
  "machines.get": async (a, v) => {
    await expectCode(a.caller.machines.get({ machineId: v.machine.id }), "NOT_FOUND");
  },
  "machines.create": async (a, v) => {
    await a.caller.machines.create({ name: "Another" });
    expect((await v.caller.machines.list()).map((m) => m.id)).toEqual([v.machine.id]);
  },
  "machines.rename": async (a, v) => {
    await expectCode(a.caller.machines.rename({ machineId: v.machine.id, name: "Mine now" }), "NOT_FOUND");
    expect((await machineRow(v.machine.id))?.name).toBe(v.machine.name);
  },
  "machines.setApplyBackMode": async (a, v) => {
    await expectCode(a.caller.machines.setApplyBackMode({ machineId: v.machine.id, mode: "auto", proof: { password: a.password } }), "NOT_FOUND");
    await expectCode(a.caller.machines.setApplyBackMode({ machineId: v.machine.id, mode: "manual" }), "NOT_FOUND");
    expect((await machineRow(v.machine.id))?.applyBackMode).toBe("prompt");
  },
  "machines.issueEnrollmentToken": async (a, v) => {
    const before = await machineRow(v.machine.id);
    await expectCode(a.caller.machines.issueEnrollmentToken({ machineId: v.machine.id }), "NOT_FOUND");
    expect((await machineRow(v.machine.id))?.enrollmentTokenHash).toBe(before?.enrollmentTokenHash);
  },
  "machines.delete": async (a, v) => {
    await expectCode(a.caller.machines.delete({ machineId: v.machine.id, proof: { password: a.password } }), "NOT_FOUND");
    expect(await machineRow(v.machine.id)).toBeDefined();
  },
  "images.list": async (a, v) => {
    expect((await a.caller.images.list({ machineId: a.machine.id })).map((i) => i.id)).toEqual([a.image.id]);
    expect(await a.caller.images.list({ machineId: v.machine.id })).toEqual([]);
  },
  "images.get": async (a, v) => {
    expect((await a.caller.images.get({ imageId: a.image.id })).id).toBe(a.image.id);
    await expectCode(a.caller.images.get({ imageId: v.image.id }), "NOT_FOUND");
  },
  "images.retryInspection": async (a, v) => {
    await db().update(images).set({ inspectionState: "failed" }).where(eq(images.id, v.image.id));
    await expectCode(a.caller.images.retryInspection({ imageId: v.image.id }), "NOT_FOUND");
    expect((await db().select().from(images).where(eq(images.id, v.image.id)))[0]!.inspectionState).toBe("failed");
    expect(await db().select().from(jobs).where(eq(jobs.key, v.image.id))).toEqual([]);
  },
  "sessions.start": async (a, v) => {
    await expectCode(a.caller.sessions.start({ imageId: v.image.id, vmType: "compatible" }), "NOT_FOUND");
    expect(await db().select().from(sessions).where(and(eq(sessions.imageId, v.image.id), eq(sessions.userId, a.id)))).toEqual([]);
  },
  "sessions.get": async (a, v) => {
    await expectCode(a.caller.sessions.get({ sessionId: v.session.id }), "NOT_FOUND");
    expect((await a.caller.sessions.get({ sessionId: a.session.id })).id).toBe(a.session.id);
  },
  "sessions.list": async (a, v) => {
    const listed = (await a.caller.sessions.list()).map((s) => s.id);
    expect(listed).toContain(a.session.id);
    expect(listed).not.toContain(v.session.id);
  },
  "sessions.usage": async (a, v) => {
    await db().update(sessions).set({ runningAt: new Date(Date.now() - 3_600_000), endedAt: new Date(), cpus: 2, memoryBytes: 2 * 1024 ** 3 }).where(eq(sessions.id, v.session.id));
    const usage = await a.caller.sessions.usage();
    expect(usage.map((u) => u.machineId)).not.toContain(v.machine.id);
  },
  "sessions.finish": async (a, v) => {
    await expectCode(a.caller.sessions.finish({ sessionId: v.session.id, mode: "discard" }), "NOT_FOUND");
    expect((await db().select().from(sessions).where(eq(sessions.id, v.session.id)))[0]!.state).toBe("failed");
  },
  "sessions.consoleTicket": async (a, v) => {
    await db().update(sessions).set({ state: "running" }).where(eq(sessions.id, v.session.id));
    await expectCode(a.caller.sessions.consoleTicket({ sessionId: v.session.id }), "NOT_FOUND");
    await db().update(sessions).set({ state: "failed" }).where(eq(sessions.id, v.session.id));
    await expectCode(a.caller.sessions.consoleTicket({ sessionId: a.session.id }), "CONFLICT");
    expect(await db().select().from(consoleTickets).where(eq(consoleTickets.userId, a.id))).toEqual([]);
  },
  "changes.list": async (a, v) => {
    // The victim's session has listed changes: the attacker sees no change set, not even that it exists.
    await db()
      .insert(changeSets)
      .values({ sessionId: v.session.id, userId: v.id, machineId: v.machine.id, baseImageId: v.image.id, imageId: v.image.id, state: "done" });
    await db().insert(fileChanges).values({ sessionId: v.session.id, filesystem: "/dev/sda1", path: "/secret", change: "added", aspects: [] });
    expect(await a.caller.changes.list({ sessionId: v.session.id })).toBeNull();
    expect((await v.caller.changes.list({ sessionId: v.session.id }))?.changes.map((c) => c.path)).toEqual(["/secret"]);
  },
  "changes.retry": async (a, v) => {
    await db()
      .insert(changeSets)
      .values({ sessionId: v.session.id, userId: v.id, machineId: v.machine.id, baseImageId: v.image.id, imageId: v.image.id, state: "failed" })
      .onConflictDoUpdate({ target: changeSets.sessionId, set: { state: "failed" } });
    await expectCode(a.caller.changes.retry({ sessionId: v.session.id }), "NOT_FOUND");
    expect((await db().select().from(changeSets).where(eq(changeSets.sessionId, v.session.id)))[0]!.state).toBe("failed");
    expect(await db().select().from(jobs).where(eq(jobs.key, v.session.id))).toEqual([]);
  },
  "applyBack.request": async (a, v) => {
    // Neither the victim's changes to the attacker's machine, nor the attacker's to the victim's.
    const theirs = await listedChanges(v);
    const mine = await listedChanges(a);
    await db().update(machines).set({ enrolledAt: new Date() }).where(eq(machines.id, v.machine.id));
    await expectCode(a.caller.applyBack.request({ sessionId: v.session.id, machineId: a.machine.id, proof: { password: a.password } }), "NOT_FOUND");
    await expectCode(a.caller.applyBack.request({ sessionId: mine, machineId: v.machine.id, proof: { password: a.password } }), "NOT_FOUND");
    expect(await db().select().from(applyRequests).where(eq(applyRequests.sessionId, theirs))).toEqual([]);
    expect(await db().select().from(applyRequests).where(eq(applyRequests.machineId, v.machine.id))).toEqual([]);
  },
  "applyBack.list": async (a, v) => {
    const theirs = await listedChanges(v);
    await db().update(machines).set({ enrolledAt: new Date() }).where(eq(machines.id, v.machine.id));
    await v.caller.applyBack.request({ sessionId: theirs, machineId: v.machine.id, proof: { password: v.password } });
    expect(await a.caller.applyBack.list({ sessionId: theirs })).toEqual([]);
    expect(await v.caller.applyBack.list({ sessionId: theirs })).toHaveLength(1);
  },
  "applyBack.sendAgain": async (a, v) => {
    // The victim's undone request cannot be sent again by the attacker, to any machine.
    const theirs = await listedChanges(v);
    await db().update(machines).set({ enrolledAt: new Date() }).where(eq(machines.id, v.machine.id));
    const { requestId } = await v.caller.applyBack.request({ sessionId: theirs, machineId: v.machine.id, proof: { password: v.password } });
    await db().update(applyRequests).set({ state: "undone", undoneAt: new Date() }).where(eq(applyRequests.id, requestId));
    await expectCode(a.caller.applyBack.sendAgain({ requestId, proof: { password: a.password } }), "NOT_FOUND");
    expect(await db().select({ id: applyRequests.id }).from(applyRequests).where(eq(applyRequests.sessionId, theirs))).toEqual([{ id: requestId }]);
    // The victim can.
    await v.caller.applyBack.sendAgain({ requestId, proof: { password: v.password } });
    expect(await db().select({ id: applyRequests.id }).from(applyRequests).where(eq(applyRequests.sessionId, theirs))).toHaveLength(2);
  },
  "sessions.preferences": async (a, v) => {
    await db().update(users).set({ idleTimeoutMinutes: 15 }).where(eq(users.id, v.id));
    expect((await a.caller.sessions.preferences()).idleTimeoutMinutes).toBe(60);
  },
  "sessions.setPreferences": async (a, v) => {
    await a.caller.sessions.setPreferences({ idleTimeoutMinutes: null, defaultFinishMode: "discard" });
    const [mine] = await db().select().from(users).where(eq(users.id, a.id));
    const [theirs] = await db().select().from(users).where(eq(users.id, v.id));
    expect(mine).toMatchObject({ idleTimeoutMinutes: null, defaultFinishMode: "discard" });
    expect(theirs!.defaultFinishMode).toBe("incremental");
    await expectCode(a.caller.sessions.setPreferences({ idleTimeoutMinutes: 7 as 15, defaultFinishMode: "discard" }), "BAD_REQUEST");
  },
  "admin.users": async (a) => {
    await expectCode(a.caller.admin.users(), "FORBIDDEN");
  },
  // The pool is the administrators' alone: a user can neither see nor change it.
  "admin.hosts": async (a) => {
    await expectCode(a.caller.admin.hosts(), "FORBIDDEN");
  },
  "admin.addHost": async (a) => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n";
    await expectCode(a.caller.admin.addHost({ name: "intruder", ssh: "root@127.0.0.1", privateKey: key }), "FORBIDDEN");
  },
  "admin.setHostMode": async (a) => {
    await expectCode(a.caller.admin.setHostMode({ name: "any-host", mode: "draining" }), "FORBIDDEN");
  },
  "admin.removeHost": async (a) => {
    await expectCode(a.caller.admin.removeHost({ name: "any-host" }), "FORBIDDEN");
  },
  "admin.vmNetwork": async (a) => {
    await expectCode(a.caller.admin.vmNetwork(), "FORBIDDEN");
  },
  "admin.setVmNetwork": async (a) => {
    await expectCode(a.caller.admin.setVmNetwork({ vmNetwork: "nat" }), "FORBIDDEN");
    expect(await db().select().from(auditEvents).where(and(eq(auditEvents.userId, a.id), eq(auditEvents.action, "vm_network_changed")))).toEqual([]);
  },
};

describe("authorization: every procedure is scoped to the signed-in user", () => {
  it("has a cross-user probe for every procedure of the router", () => {
    expect(Object.keys(appRouter._def.procedures).sort()).toEqual(Object.keys(probes).sort());
  });

  for (const [path, probe] of Object.entries(probes)) {
    it(`${path}: neither user reaches the other's records`, async () => {
      // Fresh pairs per probe, as some probes sign out or change passwords. Victims have TOTP on,
      // so that the second-factor procedures have something to protect; attackers with and without.
      for (const attackerHasTotp of [false, true]) {
        const attacker = await makeActor({ withTotp: attackerHasTotp });
        const victim = await makeActor({ withTotp: true });
        await probe(attacker, victim);
      }
    });
  }

  it("refuses every procedure without a signed-in user", async () => {
    const { createCaller } = await import("./root");
    const { createTRPCContext } = await import("./init");
    const anonymous = createCaller(createTRPCContext({ headers: new Headers({ origin: process.env.APP_URL! }), user: null }));
    await expectCode(anonymous.account.me(), "UNAUTHORIZED");
    await expectCode(anonymous.machines.list(), "UNAUTHORIZED");
    await expectCode(anonymous.machines.create({ name: "x" }), "UNAUTHORIZED");
    await expectCode(anonymous.admin.users(), "UNAUTHORIZED");
    await expectCode(anonymous.admin.hosts(), "UNAUTHORIZED");
  });
});
