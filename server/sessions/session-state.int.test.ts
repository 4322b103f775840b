// Session state changes on the real database: each is one conditional update, racing requests
// cannot both win, and a user can only move their own sessions.
import { describe, expect, it } from "vitest";
import { db } from "@/db/client";
import { images, sessions } from "@/db/schema";
import type { SessionState } from "@/wire/enums";
import { ConflictError, NotFoundError } from "@/server/errors";
import { createMachine } from "@/server/machines/machines";
import { createTestUser } from "@/server/testing/accounts";
import { finalSessionStates } from "@/wire/enums";
import { NEXT_STATES, moveSession } from "./session-state";

async function newSession() {
  const user = await createTestUser();
  const { machine } = await createMachine({ ownerId: user.id, name: "Desk" }, undefined, false);
  const [image] = await db()
    .insert(images)
    .values({ machineId: machine.id, kind: "base", origin: "agent", file: `${machine.id}/x.qcow2`, virtualSize: 1 << 30, bytesStored: 0, takenAt: new Date(), inspectionState: "done" })
    .returning();
  const [session] = await db().insert(sessions).values({ userId: user.id, machineId: machine.id, imageId: image!.id, vmType: "compatible" }).returning();
  return { user, session: session! };
}

describe("session states", () => {
  it("reach every state from requested, and end only in saved or discarded", () => {
    const reached = new Set<SessionState>(["requested"]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const state of [...reached]) {
        for (const next of NEXT_STATES[state]) {
          if (reached.has(next)) continue;
          reached.add(next);
          grew = true;
        }
      }
    }
    expect([...reached].sort()).toEqual(Object.keys(NEXT_STATES).sort());
    for (const [state, next] of Object.entries(NEXT_STATES)) expect(next.length === 0, state).toBe((finalSessionStates as readonly SessionState[]).includes(state as SessionState));
  });

  it("moves through a whole life, recording what each step sets", async () => {
    const { user, session } = await newSession();
    await moveSession(session.id, "provisioning", { cpus: 1, memoryBytes: 1 << 30 });
    const running = await moveSession(session.id, "running", { runningAt: new Date() }, { ownerId: user.id });
    expect(running).toMatchObject({ state: "running", cpus: 1 });
    await moveSession(session.id, "stopping", { finishMode: "incremental" });
    await moveSession(session.id, "saving");
    const saved = await moveSession(session.id, "saved", { endedAt: new Date() });
    expect(saved.state).toBe("saved");
    expect(saved.updatedAt.getTime()).toBeGreaterThanOrEqual(session.updatedAt.getTime());
  });

  it("lets only one of two racing finishes win; the other says where the session is", async () => {
    const { session } = await newSession();
    await moveSession(session.id, "provisioning");
    await moveSession(session.id, "running");
    const results = await Promise.allSettled([
      moveSession(session.id, "stopping", { finishMode: "incremental" }),
      moveSession(session.id, "stopping", { finishMode: "discard" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const loser = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(loser.reason).toBeInstanceOf(ConflictError);
    expect(loser.reason.message).toBe("This session is shutting down, so it cannot be finished now.");
  });

  it("refuses a move the state does not allow, and another user's session", async () => {
    const { session } = await newSession();
    await expect(moveSession(session.id, "saved")).rejects.toThrow("This session is being requested, so it cannot become saved now.");
    const stranger = await createTestUser();
    await expect(moveSession(session.id, "provisioning", {}, { ownerId: stranger.id })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("keeps a session whose host was lost open to saving or discarding", async () => {
    const { session } = await newSession();
    await moveSession(session.id, "provisioning");
    await moveSession(session.id, "running");
    await moveSession(session.id, "host_lost", { problem: "Host hv1 stopped answering." });
    expect((await moveSession(session.id, "saving")).state).toBe("saving");
  });
});
