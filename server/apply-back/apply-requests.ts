// Apply-back requests as the user makes and follows them: sending a saved session's changes to one
// of their machines (a sensitive action), or automatically when the session's machine applies
// automatically, or again after it failed, was declined or undone. Every query is scoped to the
// owner in the query itself.
import { and, desc, eq, inArray, sql } from "drizzle-orm";
import { db, type Transaction } from "@/db/client";
import { openApplyRequestStates, resendableApplyRequestStates } from "@/wire/enums";
import { applyRequests, changeSets, fileChanges, machines } from "@/db/schema";
import { recordAudit } from "@/server/audit/record-audit";
import { confirmIdentity } from "@/server/auth/confirm-identity";
import { ConflictError, InvalidInputError, NotFoundError } from "@/server/errors";
import type { RequestMeta } from "@/server/request-meta";
import type { z } from "zod";
import type { ZRequestApplyBackSchema, ZSendApplyRequestAgainSchema } from "@/wire/apply-back";
import { isNoise } from "@/wire/changes";
import { notifyMachine } from "./notifications";

export async function requestApplyBack(ownerId: string, input: z.output<typeof ZRequestApplyBackSchema>, meta: RequestMeta) {
  await confirmIdentity(ownerId, input.proof, meta);
  return db().transaction((tx) => recordApplyRequest(tx, ownerId, { sessionId: input.sessionId, machineId: input.machineId, excludedChangeIds: input.excludedChangeIds }, meta));
}

/**
 * Sends a request's changes again after it failed, was declined or undone at the computer: a new
 * request for the same change set and machine, with the same changes left out.
 */
export async function sendApplyRequestAgain(ownerId: string, input: z.output<typeof ZSendApplyRequestAgainSchema>, meta: RequestMeta) {
  await confirmIdentity(ownerId, input.proof, meta);
  return db().transaction(async (tx) => {
    const [earlier] = await tx
      .select({ sessionId: applyRequests.sessionId, machineId: applyRequests.machineId, excludedChangeIds: applyRequests.excludedChangeIds, state: applyRequests.state })
      .from(applyRequests)
      .where(and(eq(applyRequests.id, input.requestId), eq(applyRequests.userId, ownerId)));
    if (!earlier) throw new NotFoundError("There is no such request of yours.");
    if (!(resendableApplyRequestStates as readonly string[]).includes(earlier.state)) {
      throw new ConflictError(`This request is ${earlier.state.replaceAll("_", " ")}: only a failed, declined or undone one is sent again.`);
    }
    return recordApplyRequest(tx, ownerId, { sessionId: earlier.sessionId, machineId: earlier.machineId, excludedChangeIds: earlier.excludedChangeIds, againOf: input.requestId }, meta);
  });
}

/** Records a request of the user's, after the checks every request passes, and tells the machine's agent. */
async function recordApplyRequest(
  tx: Transaction,
  ownerId: string,
  input: { sessionId: string; machineId: string; excludedChangeIds: string[]; againOf?: string },
  meta: RequestMeta,
): Promise<{ requestId: string }> {
  const [set] = await tx
    .select({ state: changeSets.state })
    .from(changeSets)
    .where(and(eq(changeSets.sessionId, input.sessionId), eq(changeSets.userId, ownerId)));
  if (!set) throw new NotFoundError("That session was not saved, or is not yours.");
  if (set.state !== "done") throw new ConflictError("The session's changes are not listed yet; send them once the list is ready.");
  const [machine] = await tx
    .select({ id: machines.id, name: machines.name, enrolledAt: machines.enrolledAt })
    .from(machines)
    .where(and(eq(machines.id, input.machineId), eq(machines.ownerId, ownerId)));
  if (!machine) throw new NotFoundError("That machine does not exist, or is not yours.");
  if (!machine.enrolledAt) throw new ConflictError(`“${machine.name}” has no agent yet: enroll its agent first.`);

  const changes = await tx.select({ id: fileChanges.id }).from(fileChanges).where(eq(fileChanges.sessionId, input.sessionId));
  const known = new Set(changes.map((c) => c.id));
  const excluded = [...new Set(input.excludedChangeIds)];
  if (excluded.some((id) => !known.has(id))) throw new InvalidInputError("Some of the files left out are not among this session's changes; reload the page.");
  if (excluded.length >= changes.length) throw new InvalidInputError("Nothing to send: every change is left out. Tick at least one.");

  const [open] = await tx
    .select({ state: applyRequests.state })
    .from(applyRequests)
    .where(
      and(
        eq(applyRequests.sessionId, input.sessionId),
        eq(applyRequests.machineId, machine.id),
        eq(applyRequests.userId, ownerId),
        inArray(applyRequests.state, [...openApplyRequestStates]),
      ),
    );
  const alreadySent = () => new ConflictError(`These changes are already on their way to “${machine.name}”; wait until its agent has finished.`);
  if (open) throw alreadySent();

  const [request] = await tx
    .insert(applyRequests)
    .values({ userId: ownerId, sessionId: input.sessionId, machineId: machine.id, excludedChangeIds: excluded })
    .onConflictDoNothing() // the same request sent twice at once: the partial unique index keeps one
    .returning({ id: applyRequests.id });
  if (!request) throw alreadySent();
  await recordAudit(tx, {
    userId: ownerId,
    action: "apply_back_requested",
    meta,
    detail: { requestId: request.id, sessionId: input.sessionId, machineId: machine.id, files: changes.length - excluded.length, ...(input.againOf ? { againOf: input.againOf } : {}) },
  });
  await notifyMachine(tx, machine.id);
  return { requestId: request.id };
}

/**
 * Called in the transaction that records a session's changes: when the session's machine applies
 * automatically (turned on with the password), its changes are sent home at once, system noise
 * left out.
 */
export async function queueAutomaticApplyBack(tx: Transaction, sessionId: string): Promise<void> {
  const [set] = await tx
    .select({ userId: changeSets.userId, machineId: changeSets.machineId, mode: machines.applyBackMode, enrolledAt: machines.enrolledAt })
    .from(changeSets)
    .innerJoin(machines, and(eq(machines.id, changeSets.machineId), eq(machines.ownerId, changeSets.userId)))
    .where(eq(changeSets.sessionId, sessionId));
  if (!set || set.mode !== "auto" || !set.enrolledAt) return;
  const changes = await tx.select({ id: fileChanges.id, path: fileChanges.path }).from(fileChanges).where(eq(fileChanges.sessionId, sessionId));
  const noise = changes.filter((c) => isNoise(c.path)).map((c) => c.id);
  if (noise.length === changes.length) return; // nothing but noise: nothing to bring home
  await tx.insert(applyRequests).values({ userId: set.userId, sessionId, machineId: set.machineId, excludedChangeIds: noise, automatic: true }).onConflictDoNothing();
  await notifyMachine(tx, set.machineId);
}

/** The requests made for one of the user's sessions, newest first, with the agent's reports. */
export async function listApplyRequests(ownerId: string, sessionId: string) {
  return db()
    .select({
      id: applyRequests.id,
      machineId: applyRequests.machineId,
      machineName: machines.name,
      state: applyRequests.state,
      automatic: applyRequests.automatic,
      excludedCount: sql<number>`cardinality(${applyRequests.excludedChangeIds})`.mapWith(Number),
      report: applyRequests.report,
      problem: applyRequests.problem,
      createdAt: applyRequests.createdAt,
      notifiedAt: applyRequests.notifiedAt,
      startedAt: applyRequests.startedAt,
      finishedAt: applyRequests.finishedAt,
      undoneAt: applyRequests.undoneAt,
      undoCounts: applyRequests.undoCounts,
    })
    .from(applyRequests)
    .innerJoin(machines, eq(machines.id, applyRequests.machineId))
    .where(and(eq(applyRequests.sessionId, sessionId), eq(applyRequests.userId, ownerId)))
    .orderBy(desc(applyRequests.createdAt));
}
