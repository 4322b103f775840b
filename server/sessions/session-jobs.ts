// The two jobs of a session's life: starting its VM and finishing it. Both run on any server
// (they need the pool's SSH connections, not libguestfs), and both carry on from wherever an
// earlier attempt stopped — a server killed mid-way, a host that dropped the connection.
import { eq } from "drizzle-orm";
import { z } from "zod";
import { sessions, type Session } from "@/db/schema";
import { db } from "@/db/client";
import { defineJob } from "@/server/jobs/define-job";
import { settleJob } from "@/server/jobs/runner";
import type { FinishMode, VmFirmware } from "@/wire/enums";
import type { VmType } from "./domain-xml";
import { carryOnFinish, recordFinishRequest } from "./finish-session";
import { moveSession } from "./session-state";
import { provisionSession, recordSessionRequest } from "./start-session";

export const provisionSessionJob = defineJob({
  name: "provision-session",
  schema: z.object({ sessionId: z.uuid() }),
  key: ({ sessionId }) => sessionId,
  deadlineMs: 5 * 60_000,
  attempts: 2,
  concurrency: 4,
  handle: ({ sessionId }, job) => provisionSession(sessionId, job.transaction),
  async onFailure({ sessionId }, { attempts, tx }) {
    // Only a session still on its way up: one that got to running meanwhile is left alone.
    const [session] = await tx.select({ state: sessions.state }).from(sessions).where(eq(sessions.id, sessionId)).for("update");
    if (session?.state !== "requested" && session?.state !== "provisioning") return;
    await moveSession(sessionId, "failed", {
      problem: `The VM could not be started (${attempts === 1 ? "one attempt" : `${attempts} attempts`}). Its disk is kept: discard it and start again; if it keeps failing, an administrator finds the reason in the server log.`,
      endedAt: new Date(),
    }, { executor: tx });
  },
});

export const finishSessionJob = defineJob({
  name: "finish-session",
  schema: z.object({ sessionId: z.uuid(), shutdownTimeoutMs: z.number().int().min(0) }),
  key: ({ sessionId }) => sessionId,
  // The guest's power-off, then at worst a flatten of the whole chain into a new image.
  deadlineMs: ({ shutdownTimeoutMs }) => shutdownTimeoutMs + 60 * 60_000,
  attempts: 3,
  concurrency: 4,
  handle: ({ sessionId, shutdownTimeoutMs }, job) => carryOnFinish(sessionId, shutdownTimeoutMs, job.transaction),
  async onFailure({ sessionId }, { attempts, tx }) {
    const [session] = await tx.select({ state: sessions.state }).from(sessions).where(eq(sessions.id, sessionId)).for("update");
    if (session?.state !== "stopping" && session?.state !== "saving") return;
    await moveSession(sessionId, "failed", {
      problem: `Finishing failed (${attempts === 1 ? "one attempt" : `${attempts} attempts`}). What the VM wrote is kept: save or discard it again; if it keeps failing, an administrator finds the reason in the server log.`,
    }, { executor: tx });
  },
});

async function sessionRow(sessionId: string): Promise<Session> {
  const [session] = await db().select().from(sessions).where(eq(sessions.id, sessionId));
  return session!;
}

/**
 * Starts a session from one of the user's images. Resolves once the session and its job are
 * recorded; `done()` waits until provisioning has ended (running or failed), running the job
 * here if no other process has, for callers that wait.
 */
export async function startSession(input: { userId: string; imageId: string; vmType: VmType; firmware?: VmFirmware }): Promise<{ session: Session; done: () => Promise<Session> }> {
  const { session, jobId } = await recordSessionRequest(input, (sessionId, tx) => provisionSessionJob.enqueue({ sessionId }, { executor: tx }));
  return { session, done: async () => (await settleJob(provisionSessionJob, jobId), sessionRow(session.id)) };
}

/**
 * Finishes one of the user's sessions with `mode`. Resolves once the session is `stopping` (or
 * `saving`) and its job recorded; `done()` waits until it is saved or discarded (or failed).
 */
export async function finishSession(input: {
  userId: string;
  sessionId: string;
  mode: FinishMode;
  shutdownTimeoutMs: number;
}): Promise<{ session: Session; done: () => Promise<Session> }> {
  const { session, jobId } = await recordFinishRequest(input, (sessionId, tx) =>
    finishSessionJob.enqueue({ sessionId, shutdownTimeoutMs: input.shutdownTimeoutMs }, { executor: tx }),
  );
  return { session, done: async () => (await settleJob(finishSessionJob, jobId), sessionRow(session.id)) };
}
