// Apply-back requests on a real database: sending needs the password and a listed change set,
// refuses what is not the user's and what would send nothing; the machine's agent hears of it at
// once (LISTEN/NOTIFY), sees it as notified, and moves it only along the states it allows; a
// machine in automatic mode gets a saved session's changes, noise left out, unasked. The manifest
// names every filesystem of the change set with the image's mount points; an applied request can
// be undone (once, by its own machine's agent) and then sent again.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { applyRequests, changeSets, fileChanges, images, machines, sessions, users } from "@/db/schema";
import type { AgentMachine } from "@/wire/identity";
import { ConflictError, IdentityNotConfirmedError, InvalidInputError, NotFoundError } from "@/server/errors";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { ZRequestApplyBackSchema, type TApplyReport } from "@/wire/apply-back";
import { serveApplyProgress } from "@/server/agent-api/serve-apply-requests";
import { enrollAgent } from "@/server/agent-api/enroll-agent";
import { manifestFor, openRequestsFor, recordProgress } from "./agent-requests";
import { listApplyRequests, queueAutomaticApplyBack, requestApplyBack, sendApplyRequestAgain } from "./apply-requests";
import { onApplyRequest } from "./notifications";

const meta = { ip: null, userAgent: null };
let owner: Awaited<ReturnType<typeof createTestUser>>;
let stranger: Awaited<ReturnType<typeof createTestUser>>;

async function enrolledMachine(ownerId: string, name: string): Promise<AgentMachine> {
  const { machine } = await createMachine({ ownerId, name }, undefined, false);
  await db().update(machines).set({ enrolledAt: new Date() }).where(eq(machines.id, machine.id));
  return { id: machine.id, name, ownerId, lastAgentImageId: null };
}

/** A machine enrolled the way its agent does it, with the credential the agent would hold. */
async function enrolledWithCredential(ownerId: string, name: string): Promise<AgentMachine & { credential: string }> {
  const { enrollmentToken } = await createMachine({ ownerId, name }, undefined, false);
  const { machineId, credential } = await enrollAgent(enrollmentToken, meta);
  return { id: machineId, name, ownerId, lastAgentImageId: null, credential };
}

/**
 * A saved session of `machine` with a listed change set of these paths (each "/dev/sdaN:/path",
 * or a path on /dev/sda1); its id and the changes' ids by path. `setup` gives the change set's
 * filesystems and the image's inspection.
 */
async function listedSession(ownerId: string, machine: AgentMachine, paths: string[], setup: { filesystems?: { device: string; type: string; compared: boolean }[]; inspection?: Record<string, unknown> } = {}) {
  const [image] = await db()
    .insert(images)
    .values({ machineId: machine.id, kind: "base", origin: "agent", file: `${machine.id}/${randomUUID()}.qcow2`, virtualSize: 1 << 30, bytesStored: 0, takenAt: new Date(), inspectionState: "done", inspection: setup.inspection })
    .returning();
  const [session] = await db()
    .insert(sessions)
    .values({ userId: ownerId, machineId: machine.id, imageId: image!.id, vmType: "compatible", state: "saved", savedImageId: image!.id })
    .returning();
  await db()
    .insert(changeSets)
    .values({ sessionId: session!.id, userId: ownerId, machineId: machine.id, baseImageId: image!.id, imageId: image!.id, state: "done", filesystems: setup.filesystems });
  const after = { type: "file" as const, mode: 0o644, uid: 0, gid: 0, size: 3, mtime: new Date().toISOString(), sha256: "a".repeat(64), target: null };
  const rows = await db()
    .insert(fileChanges)
    .values(
      paths.map((entry) => {
        const [filesystem, path] = entry.includes(":") ? entry.split(":") : ["/dev/sda1", entry];
        return { sessionId: session!.id, filesystem: filesystem!, path: path!, change: "added" as const, aspects: [], after };
      }),
    )
    .returning({ id: fileChanges.id, path: fileChanges.path });
  return { sessionId: session!.id, ids: Object.fromEntries(rows.map((r) => [r.path, r.id])) };
}

const report: TApplyReport = { roots: { "/dev/sda1": "/" }, conflictPolicy: "both", counts: { applied: 1, alreadyApplied: 0, conflicts: 0, skipped: 0 }, exceptions: [] };

beforeAll(async () => {
  owner = await createTestUser();
  stranger = await createTestUser();
});

afterAll(async () => {
  await db().delete(users).where(eq(users.id, owner.id));
  await db().delete(users).where(eq(users.id, stranger.id));
});

describe("apply-back requests", () => {
  it("are sent with the password, heard by the agent at once, and move only as allowed", async () => {
    const home = await enrolledMachine(owner.id, "Office PC");
    const spare = await enrolledMachine(owner.id, "Spare PC");
    const theirs = await enrolledMachine(stranger.id, "Not yours");
    const { sessionId, ids } = await listedSession(owner.id, home, ["/home/a.txt", "/home/b.txt", "/var/log/syslog"]);
    const input = (machineId: string, extra: Partial<{ excludedChangeIds: string[]; password: string }> = {}) =>
      ZRequestApplyBackSchema.parse({ sessionId, machineId, excludedChangeIds: extra.excludedChangeIds ?? [], proof: { password: extra.password ?? owner.password } });

    await expect(requestApplyBack(owner.id, input(spare.id, { password: "not my password" }), meta)).rejects.toThrow(IdentityNotConfirmedError);
    await expect(requestApplyBack(owner.id, input(theirs.id), meta)).rejects.toThrow(NotFoundError);
    await expect(requestApplyBack(stranger.id, { ...input(theirs.id), proof: { password: stranger.password } }, meta)).rejects.toThrow(NotFoundError);
    await expect(requestApplyBack(owner.id, input(spare.id, { excludedChangeIds: Object.values(ids) }), meta)).rejects.toThrow(InvalidInputError);
    await expect(requestApplyBack(owner.id, input(spare.id, { excludedChangeIds: [randomUUID()] }), meta)).rejects.toThrow(/not among this session's changes/);

    // The agent of the spare machine is listening: the request reaches it as soon as it is committed.
    const heard = new Promise<void>((resolve) => void onApplyRequest(spare.id, resolve).then((stop) => heard.then(stop)));
    const { requestId } = await requestApplyBack(owner.id, input(spare.id, { excludedChangeIds: [ids["/var/log/syslog"]!] }), meta);
    await heard;
    await expect(requestApplyBack(owner.id, input(spare.id), meta)).rejects.toThrow(ConflictError);

    // Only the spare machine's agent sees it, as notified now, with what the user left out left out.
    expect(await openRequestsFor(home)).toEqual([]);
    const [seen] = await openRequestsFor(spare);
    expect(seen).toMatchObject({ id: requestId, sessionId, state: "notified", mode: "prompt", sourceMachineName: "Office PC", files: 2, bytes: 6, tag: sessionId.slice(0, 8) });
    await expect(manifestFor(home, requestId)).rejects.toThrow(NotFoundError);
    expect((await manifestFor(spare, requestId)).entries.map((e) => e.path)).toEqual(["/home/a.txt", "/home/b.txt"]);

    await expect(recordProgress(home, requestId, { state: "applying" })).rejects.toThrow(NotFoundError);
    await expect(recordProgress(spare, requestId, { state: "applied", report })).rejects.toThrow(/is notified; it cannot become applied/);
    await recordProgress(spare, requestId, { state: "applying" });
    await recordProgress(spare, requestId, { state: "applying" }); // resumed after a crash
    await expect(recordProgress(spare, requestId, { state: "declined" })).rejects.toThrow(/is applying; it cannot become declined/);
    await recordProgress(spare, requestId, { state: "applied", report });
    expect(await openRequestsFor(spare)).toEqual([]);

    const listed = await listApplyRequests(owner.id, sessionId);
    expect(listed).toMatchObject([{ id: requestId, machineName: "Spare PC", state: "applied", automatic: false, excludedCount: 1, report }]);
    expect(await listApplyRequests(stranger.id, sessionId)).toEqual([]);
    // Finished: the same changes may be sent again.
    await requestApplyBack(owner.id, input(spare.id), meta);
  });

  it("go home unasked from a machine in automatic mode, system noise left out", async () => {
    const home = await enrolledMachine(owner.id, "Auto PC");
    const { sessionId, ids } = await listedSession(owner.id, home, ["/home/a.txt", "/var/log/syslog"]);
    await db().transaction((tx) => queueAutomaticApplyBack(tx, sessionId));
    expect(await db().select().from(applyRequests).where(eq(applyRequests.sessionId, sessionId))).toEqual([]); // prompt mode: nothing

    await db().update(machines).set({ applyBackMode: "auto" }).where(eq(machines.id, home.id));
    await db().transaction((tx) => queueAutomaticApplyBack(tx, sessionId));
    const [request] = await db().select().from(applyRequests).where(eq(applyRequests.sessionId, sessionId));
    expect(request).toMatchObject({ machineId: home.id, automatic: true, excludedChangeIds: [ids["/var/log/syslog"]], state: "pending" });
    expect((await openRequestsFor(home))[0]).toMatchObject({ mode: "auto", files: 1 });
  });
});

describe("what the agent is told of the change set's filesystems", () => {
  it("names every filesystem of the change set, compared or not, with the image's mount points, though the request holds one", async () => {
    const home = await enrolledMachine(owner.id, "Two-disk PC");
    const { sessionId, ids } = await listedSession(owner.id, home, ["/etc/hostname", "/dev/sda2:/alice/notes.txt"], {
      filesystems: [
        { device: "/dev/sda1", type: "ext4", compared: true },
        { device: "/dev/sda2", type: "ext4", compared: true },
        { device: "/dev/sda3", type: "swap", compared: false },
      ],
      inspection: {
        os: null,
        filesystems: [
          { device: "/dev/sda1", type: "ext4", sizeBytes: 1, usedBytes: 1, mountPoint: "/" },
          { device: "/dev/sda2", type: "ext4", sizeBytes: 1, usedBytes: 1, mountPoint: "/home" },
          { device: "/dev/sda3", type: "swap", sizeBytes: null, usedBytes: null, mountPoint: null },
        ],
      },
    });
    // Only /home's file is sent: the agent still hears of / as well.
    const { requestId } = await requestApplyBack(owner.id, ZRequestApplyBackSchema.parse({ sessionId, machineId: home.id, excludedChangeIds: [ids["/etc/hostname"]], proof: { password: owner.password } }), meta);
    const manifest = await manifestFor(home, requestId);
    expect(manifest.entries.map((e) => e.filesystem)).toEqual(["/dev/sda2"]);
    expect(manifest.filesystems).toEqual([
      { device: "/dev/sda1", type: "ext4", mountPoint: "/" },
      { device: "/dev/sda2", type: "ext4", mountPoint: "/home" },
      { device: "/dev/sda3", type: "swap", mountPoint: null },
    ]);
  });

  it("reads older inspections and change sets defensively: no mount points, the changes' filesystems", async () => {
    const home = await enrolledMachine(owner.id, "Old PC");
    const { sessionId } = await listedSession(owner.id, home, ["/etc/hostname", "/dev/sda2:/alice/notes.txt"], {
      inspection: { os: null, filesystems: [{ device: "/dev/sda1", type: "ext4", sizeBytes: 1, usedBytes: 1 }] },
    });
    const { requestId } = await requestApplyBack(owner.id, ZRequestApplyBackSchema.parse({ sessionId, machineId: home.id, proof: { password: owner.password } }), meta);
    expect((await manifestFor(home, requestId)).filesystems).toEqual([
      { device: "/dev/sda1", type: "", mountPoint: null },
      { device: "/dev/sda2", type: "", mountPoint: null },
    ]);
  });
});

describe("an undone request", () => {
  it("is reported by its own machine's agent, once, only after it was applied, and can be sent again", async () => {
    const home = await enrolledWithCredential(owner.id, "Undo PC");
    const other = await enrolledWithCredential(owner.id, "Other PC");
    const strangers = await enrolledWithCredential(stranger.id, "Stranger's PC");
    const { sessionId, ids } = await listedSession(owner.id, home, ["/home/a.txt", "/home/b.txt"]);
    const { requestId } = await requestApplyBack(owner.id, ZRequestApplyBackSchema.parse({ sessionId, machineId: home.id, excludedChangeIds: [ids["/home/b.txt"]], proof: { password: owner.password } }), meta);
    const row = async (id = requestId) => (await db().select().from(applyRequests).where(eq(applyRequests.id, id)))[0]!;
    const undo = { state: "undone" as const, undo: { restored: 1, keptAside: 0 } };

    // Not before it was applied, and not by the agent of another machine, even the owner's.
    await openRequestsFor(home);
    await expect(recordProgress(home, requestId, undo)).rejects.toThrow(/is notified; it cannot become undone/);
    await recordProgress(home, requestId, { state: "applying" });
    await recordProgress(home, requestId, { state: "applied", report });
    await expect(recordProgress(other, requestId, undo)).rejects.toThrow(NotFoundError);
    await expect(recordProgress(strangers, requestId, undo)).rejects.toThrow(NotFoundError);
    // Over HTTP: another machine's credential, with its own machine in the path or this one.
    const post = (agent: { id: string; credential: string }, machineId: string) =>
      serveApplyProgress(new Request(`http://x/api/agent/v1/machines/${machineId}/apply-requests/${requestId}`, { method: "POST", headers: { authorization: `Bearer ${agent.credential}`, "content-type": "application/json" }, body: JSON.stringify(undo) }), { machineId, requestId });
    expect((await post(strangers, home.id)).status).toBe(403);
    expect((await post(strangers, strangers.id)).status).toBe(404);
    expect((await post(other, other.id)).status).toBe(404);
    expect(await row()).toMatchObject({ state: "applied", undoneAt: null, undoCounts: null });

    expect((await post(home, home.id)).status).toBe(200);
    const undone = await row();
    expect(undone).toMatchObject({ state: "undone", undoCounts: { restored: 1, keptAside: 0 }, report });
    expect(undone.undoneAt).toBeInstanceOf(Date);
    // Reported again (the agent did not hear the answer): nothing changes.
    await recordProgress(home, requestId, { state: "undone", undo: { restored: 5, keptAside: 5 } });
    expect(await row()).toEqual(undone);
    await expect(recordProgress(home, requestId, { state: "applying" })).rejects.toThrow(/is undone; it cannot become applying/);
    expect((await listApplyRequests(owner.id, sessionId))[0]).toMatchObject({ id: requestId, state: "undone", undoneAt: undone.undoneAt, undoCounts: { restored: 1, keptAside: 0 } });

    // Sent again: the same changes, the same left out, as a new request; one open at a time.
    const again = (requestIdToSend: string, who = owner) => sendApplyRequestAgain(who.id, { requestId: requestIdToSend, proof: { password: who.password } }, meta);
    await expect(again(requestId, stranger)).rejects.toThrow(NotFoundError);
    await expect(sendApplyRequestAgain(owner.id, { requestId, proof: { password: "not my password" } }, meta)).rejects.toThrow(IdentityNotConfirmedError);
    const { requestId: second } = await again(requestId);
    expect(await row(second)).toMatchObject({ sessionId, machineId: home.id, excludedChangeIds: [ids["/home/b.txt"]], state: "pending", automatic: false });
    await expect(again(requestId)).rejects.toThrow(/already on their way/);
    await expect(again(second)).rejects.toThrow(/is pending: only a failed, declined or undone one is sent again/);
    await openRequestsFor(home);
    await recordProgress(home, second, { state: "declined" });
    const { requestId: third } = await again(second);
    expect(await db().select({ id: applyRequests.id }).from(applyRequests).where(and(eq(applyRequests.sessionId, sessionId), eq(applyRequests.machineId, home.id)))).toHaveLength(3);
    expect((await row(third)).state).toBe("pending");
  });
});
