// Apply-back requests as a machine's agent sees and carries them out. Every query names the
// machine the credential belongs to, so an agent reaches only its own machine's requests.
import { and, asc, eq, inArray, sql, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { db } from "@/db/client";
import { openApplyRequestStates, undoableApplyRequestStates, type ApplyRequestState } from "@/wire/enums";
import { applyRequests, changeSets, fileChanges, images, machines } from "@/db/schema";
import type { AgentMachine } from "@/wire/identity";
import { ConflictError, NotFoundError } from "@/server/errors";
import type { TAgentApplyRequest, TApplyManifestEntry, TApplyProgress } from "@/wire/apply-back";
import { changeSetFilesystems } from "@/server/changes/change-set-filesystems";

const sourceMachine = alias(machines, "source_machine");
const baseImage = alias(images, "base_image");

async function requestsOf(machine: AgentMachine, where: SQL | undefined): Promise<TAgentApplyRequest[]> {
  const rows = await db()
    .select({
      id: applyRequests.id,
      sessionId: applyRequests.sessionId,
      state: applyRequests.state,
      createdAt: applyRequests.createdAt,
      mode: machines.applyBackMode,
      sourceMachineName: sourceMachine.name,
      files: sql<number>`(select count(*) from ${fileChanges} where ${fileChanges.sessionId} = ${applyRequests.sessionId} and not (${fileChanges.id} = any(${applyRequests.excludedChangeIds})))`.mapWith(Number),
      bytes: sql<number>`(select coalesce(sum((${fileChanges.after}->>'size')::bigint), 0) from ${fileChanges} where ${fileChanges.sessionId} = ${applyRequests.sessionId} and ${fileChanges.after}->>'type' = 'file' and not (${fileChanges.id} = any(${applyRequests.excludedChangeIds})))`.mapWith(Number),
    })
    .from(applyRequests)
    .innerJoin(machines, eq(machines.id, applyRequests.machineId))
    .innerJoin(changeSets, eq(changeSets.sessionId, applyRequests.sessionId))
    .innerJoin(sourceMachine, eq(sourceMachine.id, changeSets.machineId))
    .where(and(eq(applyRequests.machineId, machine.id), where))
    .orderBy(asc(applyRequests.createdAt));
  return rows.map((r) => ({ ...r, tag: r.sessionId.slice(0, 8) }));
}

/**
 * The requests the agent still has work on, oldest first. Pending ones become notified: the
 * agent has now heard of them.
 */
export async function openRequestsFor(machine: AgentMachine): Promise<TAgentApplyRequest[]> {
  await db()
    .update(applyRequests)
    .set({ state: "notified", notifiedAt: new Date() })
    .where(and(eq(applyRequests.machineId, machine.id), eq(applyRequests.state, "pending")));
  return requestsOf(machine, inArray(applyRequests.state, [...openApplyRequestStates]));
}

async function requestOrThrow(machine: AgentMachine, requestId: string): Promise<TAgentApplyRequest> {
  const [request] = await requestsOf(machine, eq(applyRequests.id, requestId));
  if (!request) throw new NotFoundError("There is no such apply-back request for this machine.");
  return request;
}

/**
 * What the request brings: every change of the session but those the user left out, and every
 * filesystem of the change set (a request may hold the changes of only some of them).
 */
export async function manifestFor(machine: AgentMachine, requestId: string) {
  const request = await requestOrThrow(machine, requestId);
  const entries: TApplyManifestEntry[] = await db()
    .select({
      changeId: fileChanges.id,
      filesystem: fileChanges.filesystem,
      path: fileChanges.path,
      change: fileChanges.change,
      before: fileChanges.before,
      after: fileChanges.after,
    })
    .from(fileChanges)
    .innerJoin(applyRequests, eq(applyRequests.sessionId, fileChanges.sessionId))
    .where(and(eq(applyRequests.id, requestId), eq(applyRequests.machineId, machine.id), sql`not (${fileChanges.id} = any(${applyRequests.excludedChangeIds}))`))
    .orderBy(asc(fileChanges.filesystem), asc(fileChanges.path));
  const [set] = await db()
    .select({ filesystems: changeSets.filesystems, baseInspection: baseImage.inspection, savedInspection: images.inspection })
    .from(changeSets)
    .innerJoin(applyRequests, eq(applyRequests.sessionId, changeSets.sessionId))
    .leftJoin(baseImage, eq(baseImage.id, changeSets.baseImageId))
    .leftJoin(images, eq(images.id, changeSets.imageId))
    .where(and(eq(applyRequests.id, requestId), eq(applyRequests.machineId, machine.id)));
  const changedDevices =
    set?.filesystems
      ? entries.map((e) => e.filesystem)
      : (await db().selectDistinct({ filesystem: fileChanges.filesystem }).from(fileChanges).where(eq(fileChanges.sessionId, request.sessionId))).map((r) => r.filesystem);
  const filesystems = changeSetFilesystems(set?.filesystems ?? null, [...new Set(changedDevices)].sort(), {
    base: set?.baseInspection,
    saved: set?.savedInspection,
  });
  return { request, filesystems, entries };
}

/** The saved image the request's new files are read from, and the files to read (regular files only). */
export async function contentSourceFor(machine: AgentMachine, requestId: string, changeIds: string[] | null) {
  const { request, entries } = await manifestFor(machine, requestId);
  const wanted = changeIds ? new Set(changeIds) : null;
  const files = entries.filter((e) => e.after?.type === "file" && (!wanted || wanted.has(e.changeId)));
  const [image] = await db()
    .select({ file: images.file })
    .from(changeSets)
    .innerJoin(images, eq(images.id, changeSets.imageId))
    .where(eq(changeSets.sessionId, request.sessionId));
  if (!image) throw new NotFoundError("The session's saved image was deleted; these changes can no longer be applied.");
  return { imageFile: image.file, files };
}

const NEXT_STATES: Record<TApplyProgress["state"], ApplyRequestState[]> = {
  // applying again is a resumed apply (the agent was stopped or crashed part way).
  applying: [...openApplyRequestStates],
  declined: ["pending", "notified"],
  failed: [...openApplyRequestStates],
  applied: ["applying"],
  applied_with_conflicts: ["applying"],
  undone: [...undoableApplyRequestStates],
};

/**
 * Moves a request on as the agent reports; a move the request's state does not allow is refused.
 * An undo reported again (the agent repeats it until it hears back) changes nothing.
 */
export async function recordProgress(machine: AgentMachine, requestId: string, progress: TApplyProgress): Promise<void> {
  const now = new Date();
  const changes =
    progress.state === "applying"
      ? { state: progress.state, startedAt: sql`coalesce(${applyRequests.startedAt}, now())` }
      : progress.state === "declined"
        ? { state: progress.state, problem: progress.reason ?? null, finishedAt: now }
        : progress.state === "failed"
          ? { state: progress.state, problem: progress.problem, report: progress.report ?? null, finishedAt: now }
          : progress.state === "undone"
            ? { state: progress.state, undoneAt: now, undoCounts: progress.undo }
            : { state: progress.state, report: progress.report, finishedAt: now };
  const updated = await db()
    .update(applyRequests)
    .set(changes)
    .where(and(eq(applyRequests.id, requestId), eq(applyRequests.machineId, machine.id), inArray(applyRequests.state, NEXT_STATES[progress.state])))
    .returning({ id: applyRequests.id });
  if (updated.length > 0) return;
  const request = await requestOrThrow(machine, requestId);
  if (progress.state === "undone" && request.state === "undone") return;
  throw new ConflictError(`This request is ${request.state.replaceAll("_", " ")}; it cannot become ${progress.state.replaceAll("_", " ")}.`);
}
